"""Compressed artifacts out as NIR graphs, for snnTorch (`import_from_nir`) and other simulators.

Each layer becomes an `Affine` (or `Linear` without bias) followed by a `LIF` (an `IF` when every
neuron's beta is 1), with snnTorch's conventions (dt = 1e-4, tau = dt / (1 - beta), r = tau / dt,
so the input gain per step is 1):

    weight = w_int · u,  bias = bias_int · u,  v_threshold = (theta + 1/2) · u

with u = 1 / (theta + 1/2) per neuron (every threshold is then 1; snnTorch's importer needs one
threshold per layer), u = 1 for a negative theta. Membranes are integers in the artifact, so
V > theta and V > theta + 1/2 are the same test, and the half step keeps float rounding from
turning a tie into a spike. What survives the round trip and what does not: docs/own-model.md.
"""
from __future__ import annotations

import nir
import numpy as np

from .artifact import Artifact

DT = 1e-4  # snnTorch's export_to_nir / import_from_nir step


def to_nir(art: Artifact, dt: float = DT) -> tuple[nir.NIRGraph, list[str]]:
    """(graph, notes): the graph of the artifact's integer network, and a line for every part of
    its semantics NIR cannot carry."""
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array([art.n_in]))}
    edges, prev, notes = [], "input", []
    for k, l in enumerate(art.layers):
        theta = l.theta.astype(np.float64)
        unit = np.where(l.theta >= 0, 1 / (theta + 0.5), 1.0)
        weight = l.dense() * unit[:, None]
        bias = l.bias * unit
        threshold = np.where(l.theta >= 0, 1.0, theta + 0.5)  # = (theta + 1/2)·u, exactly 1 where u != 1
        beta = l.leak_b / (1 << l.leak_f)
        zeros = np.zeros(l.n_out)
        info = {"theta": l.theta, "leak_b": l.leak_b, "leak_f": l.leak_f, "reset": l.reset, "unit": unit}
        if np.all(beta == 1):
            neuron = nir.IF(r=np.full(l.n_out, 1 / dt), v_threshold=threshold, v_reset=zeros, metadata=info)
        elif np.any(beta == 1):
            raise ValueError(f"l{k}.leak_b: mixes beta = 1 and beta < 1 neurons, which no one NIR node "
                             "(IF or LIF) can hold")
        else:
            tau = dt / (1 - beta)
            neuron = nir.LIF(tau=tau, r=tau / dt, v_leak=zeros, v_threshold=threshold, v_reset=zeros, metadata=info)
        if l.reset == "subtract":
            notes.append(f"l{k}: subtract reset: NIR neurons reset to v_reset = 0, so the graph resets to zero "
                         "(reset recorded in the node's metadata)")
        if np.any((beta > 0) & (beta < 1)):
            notes.append(f"l{k}: leak beta in (0, 1): the core floors beta·V to an integer, a float simulator "
                         "does not, so spikes can differ slightly")
        nodes[f"l{k}"] = nir.Affine(weight=weight, bias=bias) if np.any(l.bias) else nir.Linear(weight=weight)
        nodes[f"lif{k}"] = neuron
        edges += [(prev, f"l{k}"), (f"l{k}", f"lif{k}")]
        prev = f"lif{k}"
    nodes["output"] = nir.Output(output_type=np.array([art.n_out]))
    edges.append((prev, "output"))
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"source": "osbc-snn artifact",
                                                              "steps": art.steps,
                                                              "input_max_count": art.input_max_count})
    return graph, notes
