"""NIR graphs in: a chain Input -> [Flatten] -> (Affine | Linear -> LIF | CubaLIF | IF)+ -> Output becomes
the `nn.Sequential` of Linear + Leaky that the rest of `compress/` works on.

NIR neurons are continuous-time; like snnTorch's `import_from_nir`, time is discretised with forward
Euler at step `dt` (snnTorch's exporter writes tau = dt / (1 - beta) with dt = 1e-4):

    LIF      beta = 1 - dt / tau, input scaled by r·dt/tau (folded into the weights), v_leak = 0
    CubaLIF  the same, provided tau_syn = dt (alpha = 0: no synaptic current, it reduces to LIF);
             the input is also scaled by w_in·dt/tau_syn
    IF       beta = 1, input scaled by r·dt
    reset    NIR neurons reset to v_reset (must be 0): reset "zero". snnTorch imports them with
             reset_delay=False, which gives the same spikes as the core's delayed zero reset.

Anything else is refused naming the node and what is supported.
"""
from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import snntorch as snn
import torch
from torch import nn

from .snntorch_import import UnsupportedModel

DT = 1e-4  # snnTorch's export_to_nir / import_from_nir step
SUPPORTED = "Input, Flatten (first), Affine or Linear each followed by LIF, IF or CubaLIF with tau_syn = dt, Output"
NEURONS = (nir.LIF, nir.CubaLIF, nir.IF)


def read_nir(path) -> nir.NIRGraph:
    """A NIR file as a graph; a file that is not one is a ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NIR file")
    try:
        return nir.read(path)
    except Exception as e:  # h5py and nir raise many types (OSError, KeyError, ValueError, ...)
        raise ValueError(f"{path}: not a readable NIR file ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") \
            from None


def _chain(graph: nir.NIRGraph) -> list[tuple[str, nir.NIRNode]]:
    """The nodes from the Input to the Output, refusing anything but one straight path."""
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise UnsupportedModel(f"nir: expected one Input node, found {len(inputs)}")
    succ: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
    chain, key, seen = [], inputs[0], set()
    while True:
        node = graph.nodes.get(key)
        if node is None:
            raise UnsupportedModel(f"nir: edge to {key!r}, which is not a node")
        if key in seen:
            raise UnsupportedModel(f"nir node {key!r}: recurrent connections are not supported ({SUPPORTED})")
        seen.add(key)
        chain.append((key, node))
        nxt = succ.get(key, [])
        if isinstance(node, nir.Output):
            break
        if len(nxt) != 1:
            raise UnsupportedModel(f"nir node {key!r}: {len(nxt)} outgoing edges; only a chain is supported ({SUPPORTED})")
        key = nxt[0]
    if len(seen) != len(graph.nodes):
        extra = sorted(set(graph.nodes) - seen)[0]
        raise UnsupportedModel(f"nir node {extra!r}: not on the Input -> Output chain ({SUPPORTED})")
    return chain


def _per_neuron(node, field: str, key: str, n: int) -> np.ndarray:
    a = np.asarray(getattr(node, field), np.float64).reshape(-1)
    if a.size not in (1, n):
        raise UnsupportedModel(f"nir node {key!r}: {field} has {a.size} values for {n} neurons")
    if not np.all(np.isfinite(a)):
        raise UnsupportedModel(f"nir node {key!r}: {field} is not finite")
    return np.broadcast_to(a, (n,)).astype(np.float64)


def _neuron(node, key: str, n: int, dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(beta, threshold, input gain) of a LIF / CubaLIF / IF node with n neurons."""
    if node.v_reset is not None and not np.allclose(_per_neuron(node, "v_reset", key, n), 0):
        raise UnsupportedModel(f"nir node {key!r}: v_reset must be 0 (the core resets to zero)")
    threshold = _per_neuron(node, "v_threshold", key, n)
    if isinstance(node, nir.IF):
        return np.ones(n), threshold, _per_neuron(node, "r", key, n) * dt
    if isinstance(node, nir.CubaLIF):
        tau_syn = _per_neuron(node, "tau_syn", key, n)
        if not np.allclose(tau_syn, dt, rtol=1e-5, atol=0):
            raise UnsupportedModel(f"nir node {key!r}: CubaLIF with a synaptic current (tau_syn != dt = {dt:g}) "
                                   f"is not supported; only tau_syn = dt, where it reduces to LIF")
        tau, gain = _per_neuron(node, "tau_mem", key, n), _per_neuron(node, "w_in", key, n) * dt / tau_syn
    else:
        tau, gain = _per_neuron(node, "tau", key, n), np.ones(n)
    if np.any(tau < dt):
        raise UnsupportedModel(f"nir node {key!r}: tau must be >= dt = {dt:g} (0 <= beta), got min {tau.min():g}")
    if not np.allclose(_per_neuron(node, "v_leak", key, n), 0):
        raise UnsupportedModel(f"nir node {key!r}: v_leak must be 0")
    return 1 - dt / tau, threshold, gain * _per_neuron(node, "r", key, n) * dt / tau


def from_nir(graph, dt: float = DT, reset: str = "zero") -> nn.Sequential:
    """An `nn.Sequential` of Linear + Leaky from a NIR graph or file. NIR neurons reset to zero;
    `reset="subtract"` says the network was trained with snnTorch's subtractive reset, which NIR
    cannot carry."""
    if not isinstance(graph, nir.NIRGraph):
        graph = read_nir(graph)
    if not dt > 0:
        raise ValueError(f"dt: must be > 0, got {dt}")
    if reset not in ("zero", "subtract"):
        raise ValueError(f"reset: must be zero or subtract, got {reset!r}")
    mods: list[nn.Module] = []
    pending: tuple[str, nn.Linear] | None = None
    for key, node in _chain(graph)[1:-1]:
        if isinstance(node, nir.Flatten) and not mods and pending is None:
            mods.append(nn.Flatten())
        elif isinstance(node, (nir.Affine, nir.Linear)) and pending is None:
            w = np.asarray(node.weight, np.float64)
            if w.ndim != 2:
                raise UnsupportedModel(f"nir node {key!r}: weight must be 2-D, got shape {w.shape}")
            lin = nn.Linear(w.shape[1], w.shape[0], bias=isinstance(node, nir.Affine))
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w))
                if isinstance(node, nir.Affine):
                    lin.bias.copy_(torch.from_numpy(np.broadcast_to(np.asarray(node.bias, np.float64), (w.shape[0],)).copy()))
            pending = (key, lin)
        elif isinstance(node, NEURONS) and pending is not None:
            lin = pending[1]
            beta, threshold, gain = _neuron(node, key, lin.out_features, dt)
            with torch.no_grad():  # the input gain of every neuron goes into its weights and bias
                lin.weight.mul_(torch.from_numpy(gain)[:, None].float())
                if lin.bias is not None:
                    lin.bias.mul_(torch.from_numpy(gain).float())
            mods += [lin, snn.Leaky(beta=torch.from_numpy(beta).float(), threshold=torch.from_numpy(threshold).float(),
                                    reset_mechanism=reset, init_hidden=True)]
            pending = None
        else:
            raise UnsupportedModel(f"nir node {key!r}: {type(node).__name__} is not supported here "
                                   f"(supported: {SUPPORTED})")
    if pending is not None:
        raise UnsupportedModel(f"nir node {pending[0]!r}: {type(graph.nodes[pending[0]]).__name__} must be followed "
                               "by a LIF, IF or CubaLIF")
    if not any(isinstance(m, snn.Leaky) for m in mods):
        raise UnsupportedModel(f"nir: no Affine/Linear + LIF layer found ({SUPPORTED})")
    return nn.Sequential(*mods)
