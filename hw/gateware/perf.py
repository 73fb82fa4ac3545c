"""Cycle model of the core (docs/hw-core.md, "Performance"), checked against RTL runs in tests.

Layer 0 walks max(1, row length) cycles per input event (one synaptic event per clock; an empty
row still costs the cycle that fetches it; a dense row has n_out entries), then its neuron pass
takes n_out cycles, plus 9 cycles of pipeline latency (6 in a step without events). Each later
layer accumulates the spikes of the layer before while that layer's pass runs, so its walk costs
between nothing (hidden behind the pass) and all its cycles plus 4 of latency; its own pass and
hand-over add n_out + 5.
"""
from __future__ import annotations

import numpy as np

from sim import reference
from sim.artifact import Artifact

from .plan import LayerPlan, plan

LAYER_OVERHEAD = 9  # layer 0: event fetch, walk and RMW drain, pass pipeline, END hand-over
EMPTY_STEP_SAVING = 3  # layer 0 without events skips the fetch and walk latency
HIDDEN_OVERHEAD = 5  # a later layer after the END of the layer before: drain, pass pipeline, END
HIDDEN_WALK_LATENCY = 4


def walk_cycles(layer, p: LayerPlan, events: np.ndarray) -> np.ndarray:
    """Walker cycles for event counts [..., n_in]: Σ_j c_j · max(1, row length_j)."""
    row = np.full(layer.n_in, layer.n_out) if p.storage == "dense" else np.maximum(np.diff(layer.ptr), 1)
    return np.asarray(events, np.int64) @ row


def step_cycles(art: Artifact, counts: np.ndarray, storage: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) bound of the `cycles` output per step, int64 [T, B], with input back to back."""
    counts = np.asarray(counts, np.int64)
    spikes = reference.run(art, counts).spikes
    inputs = [counts] + [s.astype(np.int64) for s in spikes[:-1]]
    walks = [walk_cycles(layer, p, x) for layer, p, x in zip(art.layers, plan(art, storage), inputs)]
    fixed = sum(layer.n_out for layer in art.layers) + LAYER_OVERHEAD + HIDDEN_OVERHEAD * (len(art.layers) - 1)
    lower = walks[0] + fixed - EMPTY_STEP_SAVING * (counts.sum(-1) == 0)
    hidden = sum(((w + HIDDEN_WALK_LATENCY) * (x.sum(-1) > 0) for w, x in zip(walks[1:], inputs[1:])),
                 np.zeros_like(lower))
    return lower, lower + hidden
