"""Bit-exact integer reference of the LIF network the hardware computes.

Per layer and time step t, integers only (docs/artifact.md states the contract in full):

    I(t) = W·c(t) + bias                       c(t): event count per input (0..input_max_count)
    r(t) = V(t-1) > θ                          V(0) = 0
    subtract reset: V(t) = L(V(t-1)) + I(t) - r(t)·θ
    zero reset:     V(t) = L((1 - r(t))·V(t-1)) + I(t)
    L(V) = (b·V) >> F                          β = b / 2^F, arithmetic shift (floors)
    s(t) = V(t) > θ                            the next layer's input in the same step

The class is the output neuron with the most spikes over all steps (ties: the lowest index).
Every membrane stays inside the artifact's proven bound [v_min, v_max]; `BoundError` if not.

`run` is vectorised over a batch and over neurons; `trace` walks one sample step by step and layer
by layer, in the order the hardware works, so a mismatch is easy to locate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .artifact import Artifact, Layer, leak


class BoundError(AssertionError):
    """A membrane left its proven bound: the artifact's widths would overflow in hardware."""


@dataclass
class Result:
    spikes: list[np.ndarray]  # per layer, uint8 [T, B, n_out]
    membranes: list[np.ndarray] | None  # per layer, int64 [T, B, n_out] (when asked)

    @property
    def counts(self) -> np.ndarray:
        """Output spike counts over all steps, int64 [B, n_classes]."""
        return self.spikes[-1].sum(axis=0, dtype=np.int64)

    @property
    def classes(self) -> np.ndarray:
        """Predicted class per sample; argmax returns the lowest index on ties."""
        return self.counts.argmax(axis=1)


@dataclass
class StepTrace:
    t: int
    layer: int
    events: np.ndarray  # input addresses of this step, ascending, repeated per count
    current: np.ndarray  # int64 [n_out]
    v: np.ndarray  # int64 [n_out], membrane after the step
    spikes: np.ndarray  # uint8 [n_out]


def events_of(counts: np.ndarray) -> np.ndarray:
    """AER addresses of one step: address j repeated counts[j] times, ascending."""
    counts = np.asarray(counts)
    return np.repeat(np.arange(counts.shape[-1]), counts)


class _Neurons:
    """Membrane state of one layer for a batch, with the step update of the contract."""

    def __init__(self, layer: Layer, batch_shape: tuple[int, ...], where: str):
        self.layer = layer
        self.where = where
        self.v = np.zeros(batch_shape + (layer.n_out,), np.int64)
        # r(1) = [V(0) > θ] with V(0) = 0: a neuron with a negative threshold starts as fired.
        self.fired = np.broadcast_to(0 > layer.theta, self.v.shape).copy()
        # Float64 matmul is exact here: |current| < 2^53 follows from the proven bound.
        self.w = layer.dense().T.astype(np.float64)

    def current(self, x: np.ndarray) -> np.ndarray:
        return np.rint(x.astype(np.float64) @ self.w).astype(np.int64) + self.layer.bias

    def step(self, current: np.ndarray, t: int) -> np.ndarray:
        l = self.layer
        r = self.fired
        if l.reset == "subtract":
            v = leak(self.v, l.leak_b, l.leak_f) + current - r * l.theta
        else:
            v = leak(np.where(r, 0, self.v), l.leak_b, l.leak_f) + current
        if v.size and (v.min() < l.v_min or v.max() > l.v_max):
            raise BoundError(f"{self.where}: membrane [{v.min()}, {v.max()}] left the proven bound "
                             f"[{l.v_min}, {l.v_max}] at step {t}")
        self.v = v
        self.fired = v > l.theta
        return self.fired.astype(np.uint8)


def check_input(art: Artifact, counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts)
    if counts.ndim not in (2, 3) or counts.shape[-1] != art.n_in:
        raise ValueError(f"input: expected counts of shape [T, B, {art.n_in}] or [T, {art.n_in}], got {counts.shape}")
    if counts.dtype.kind not in "iub":
        raise ValueError(f"input: expected integer event counts, got dtype {counts.dtype}")
    if counts.size and (counts.min() < 0 or counts.max() > art.input_max_count):
        raise ValueError(f"input: event counts must lie in [0, {art.input_max_count}] (the artifact's "
                         f"input_max_count), got [{counts.min()}, {counts.max()}]")
    short = [f"l{k}" for k, s in enumerate(art.bound_steps) if s is not None and s < counts.shape[0]]
    if short:
        raise ValueError(f"input: {counts.shape[0]} steps, but the membrane bound of {', '.join(short)} holds for "
                         f"at most {art.steps} steps (its interval had not converged by then); rebuild the "
                         f"artifact with steps >= {counts.shape[0]}")
    return counts


def run(art: Artifact, counts: np.ndarray, membranes: bool = False) -> Result:
    """Simulate `counts` (int [T, B, n_in] or [T, n_in]) through every layer."""
    counts = check_input(art, counts)
    steps, batch = counts.shape[0], counts.shape[1:-1]
    layers = [_Neurons(l, batch, f"l{k}") for k, l in enumerate(art.layers)]
    spikes = [np.zeros((steps,) + batch + (l.n_out,), np.uint8) for l in art.layers]
    mems = [np.zeros((steps,) + batch + (l.n_out,), np.int64) for l in art.layers] if membranes else None
    for t in range(steps):
        x = counts[t]
        for k, n in enumerate(layers):
            x = spikes[k][t] = n.step(n.current(x), t)
            if mems is not None:
                mems[k][t] = n.v
    return Result(spikes, mems)


def trace(art: Artifact, counts: np.ndarray) -> Iterator[StepTrace]:
    """Per step and layer, in hardware order, for one sample (counts int [T, n_in])."""
    counts = check_input(art, counts)
    if counts.ndim != 2:
        raise ValueError(f"input: trace takes one sample [T, {art.n_in}], got {counts.shape}")
    layers = [_Neurons(l, (), f"l{k}") for k, l in enumerate(art.layers)]
    for t, x in enumerate(counts):
        for k, n in enumerate(layers):
            current = n.current(x)
            s = n.step(current, t)
            yield StepTrace(t, k, events_of(x), current, n.v.copy(), s)
            x = s
