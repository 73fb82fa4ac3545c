"""Cycle model of the core (docs/hw-core.md, "Performance"), checked against RTL runs in tests.

Layer 0 walks max(1, row length) cycles per input event (one stored word per clock; an empty
row still costs the cycle that fetches it; a dense row has n_out words, a delta row its escapes too), then its neuron pass
takes n_out cycles, plus 9 cycles of pipeline latency, less up to 3 (the fetch and walk latency)
that events with empty rows at the end of the step hide in the drain of the last synapse, less all
3 in a step that walks no synapse. Each later
layer accumulates the spikes of the layer before while that layer's pass runs, so its walk costs
between nothing (hidden behind the pass) and all its cycles plus 4 of latency; its own pass and
hand-over add n_out + 5.

With L lanes (hw/gateware/lanes.py) a row's words hold L synapses each (its length is in words, as
above), and a pass takes one clock per group of L neurons, plus one per spike after the first of a
group (the output carries one spike per clock): `pass_cycles`. With L = 1 that is n_out.
"""
from __future__ import annotations

import numpy as np

from sim import reference
from sim.artifact import Artifact

from .plan import LayerPlan, plan

LAYER_OVERHEAD = 9  # layer 0: event fetch, walk and RMW drain, pass pipeline, END hand-over
EMPTY_STEP_SAVING = 3  # layer 0 without synapses to walk skips the fetch and walk latency
HIDDEN_OVERHEAD = 5  # a later layer after the END of the layer before: drain, pass pipeline, END
HIDDEN_WALK_LATENCY = 4


def row_lengths(layer, p: LayerPlan) -> np.ndarray:
    """Stored words per row (sim/storage.py): delta escape words are walked like synapses."""
    return np.full(layer.n_in, p.bank_depth) if p.rows is None else np.asarray(p.rows, np.int64) >> p.off_width


def walk_cycles(layer, p: LayerPlan, events: np.ndarray) -> np.ndarray:
    """Walker cycles for event counts [..., n_in]: Σ_j c_j · max(1, row length_j)."""
    return np.asarray(events, np.int64) @ np.maximum(row_lengths(layer, p), 1)


def drain_saving(layer, p: LayerPlan, events: np.ndarray) -> np.ndarray:
    """Cycles of the fixed latency a step does not spend, for event counts [..., n_in]: the empty
    rows fetched after the last synapse of the step overlap its drain (at most EMPTY_STEP_SAVING
    of them), and a step that walks no synapse skips the whole fetch and walk latency."""
    events = np.asarray(events, np.int64)
    walked = (events > 0) & (row_lengths(layer, p) > 0)
    any_walked = walked.any(-1)
    last = layer.n_in - 1 - np.argmax(walked[..., ::-1], axis=-1)  # last input with a synapse walked
    after = np.cumsum(events[..., ::-1], axis=-1)[..., ::-1]  # after[j] = events at inputs >= j
    after = np.concatenate([after, np.zeros(after.shape[:-1] + (1,), np.int64)], axis=-1)
    trailing = np.take_along_axis(after, (last + 1)[..., None], axis=-1)[..., 0]
    return np.where(any_walked, np.minimum(trailing, EMPTY_STEP_SAVING), EMPTY_STEP_SAVING)


def pass_cycles(p: LayerPlan, spikes: np.ndarray) -> np.ndarray:
    """Pass cycles for a layer's spikes [..., n_out]: Σ over groups of L neurons of max(1, spikes)."""
    spikes = np.asarray(spikes, np.int64)
    groups = np.zeros(spikes.shape[:-1] + (p.bank_depth * p.lanes,), np.int64)
    groups[..., :p.n_out] = spikes
    return np.maximum(groups.reshape(spikes.shape[:-1] + (p.bank_depth, p.lanes)).sum(-1), 1).sum(-1)


def step_cycles(art: Artifact, counts: np.ndarray, storage: str = "auto", spram=(),
                lanes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) bound of the `cycles` output per step, int64 [T, B], with input back to back;
    `spram` and `lanes` as in `plan`: a layer with memories in SPRAM has its own layout, and so its
    own row lengths."""
    counts = np.asarray(counts, np.int64)
    plans = plan(art, storage, spram, lanes)
    # Spikes by address: a hidden layer with lanes holds its neurons in its own order (plan.order).
    spikes = [s if p.order is None else s[..., p.order] for s, p in zip(reference.run(art, counts).spikes, plans)]
    inputs = [counts] + [s.astype(np.int64) for s in spikes[:-1]]
    walks = [walk_cycles(layer, p, x) for layer, p, x in zip(art.layers, plans, inputs)]
    fixed = (sum(pass_cycles(p, s) for p, s in zip(plans, spikes)) + LAYER_OVERHEAD
             + HIDDEN_OVERHEAD * (len(art.layers) - 1))
    lower = walks[0] + fixed - drain_saving(art.layers[0], plans[0], counts)
    hidden = sum(((w + HIDDEN_WALK_LATENCY) * (x.sum(-1) > 0) for w, x in zip(walks[1:], inputs[1:])),
                 np.zeros_like(lower))
    return lower, lower + hidden
