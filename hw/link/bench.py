"""The host side of the on-board benchmark: the sample block for the flash, and the board's results
checked against `sim/` (`python -m hw.run --bench N`, docs/build.md).

The board runs every sample of its sample block (hw/link/samples.py) back to back and replies per
sample with the output spike counts, the core's cycles and its own cycle counter (protocol.BENCH).
Every count must equal sim.reference's, every cycle count must lie inside the cycle model's bounds
(hw.gateware.perf; a step cut into several chunks may count less: the walk the core finishes while
the next chunk arrives is not counted, so only the upper bound holds for those samples), and the
rate comes from the board's counter: samples / (cycles from BENCH to the end / core clock).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import protocol as P
from . import samples
from .image import LoadStatus


def sample_block(art, n: int, fifo_depth: int, dataset: str | None = None,
                 option: str = "--bench-samples") -> tuple[bytes, np.ndarray, np.ndarray]:
    """(block, counts [T, n, n_in], labels) of the first `n` test samples of `dataset` (default: the
    artifact's) for the on-board benchmark (hw/link/samples.py); `option` names `n` in errors."""
    from data import spikes_for

    if n < 1:
        raise ValueError(f"{option}: must be >= 1, got {n}")
    if dataset is None and art.encoding is None:
        raise ValueError(f"{option}: the artifact names no dataset to take test samples from")
    counts, labels = spikes_for(art, dataset, "test", limit=n)
    if counts.shape[1] < n:
        raise ValueError(f"{option}: the test split has only {counts.shape[1]} samples")
    try:
        return samples.pack(counts, P.model_digest(art), fifo_depth), counts, labels
    except ValueError as e:
        raise ValueError(f"{option}: {e}") from None


@dataclass(frozen=True)
class BenchReport:
    samples: int
    correct: int  # classes (argmax of the spike counts, first on ties) equal to the labels
    counts_equal: int  # samples whose every output spike count equals sim.reference's
    cycles_in_bounds: int  # samples whose core cycles lie within the cycle model's bounds
    core_cycles: np.ndarray  # per sample, summed over its steps
    board_cycles: int  # from BENCH to the end, on the board's clock
    clock_hz: int

    @property
    def ok(self) -> bool:
        return self.counts_equal == self.cycles_in_bounds == self.samples

    @property
    def samples_per_s(self) -> float:
        return self.samples * self.clock_hz / self.board_cycles

    def summary(self) -> str:
        n = self.samples
        return (f"{n} samples on the board: accuracy {self.correct / n:.1%}, spike counts equal to sim.reference "
                f"in {self.counts_equal}/{n}, core cycles within the cycle model in {self.cycles_in_bounds}/{n}\n"
                f"{self.samples_per_s:,.1f} samples/s = {1e6 / self.samples_per_s:,.1f} us/sample on the board's "
                f"clock ({self.board_cycles} cycles at {self.clock_hz / 1e6:g} MHz, flash reads included); "
                f"the core alone {self.core_cycles.mean() / self.clock_hz * 1e6:,.1f} us/sample")


def check_end(end: P.BenchEnd, block: bytes, results: int, expected: int, programming: str) -> None:
    """Refuse a run of another block than `block` (of `expected` samples) or of a block the board
    found bad; `programming` says how to put `block` on the flash."""
    if end.status != LoadStatus.OK:
        raise P.ProtocolError(f"the board's sample block did not read: {end.status.name}; {programming}")
    if end.trailer != samples.trailer(block):
        raise P.ProtocolError(f"the board's flash holds another sample block (CRC {end.trailer:08x}, expected "
                              f"{samples.trailer(block):08x}): {programming}")
    if results != expected:
        raise P.ProtocolError(f"BENCH: {results} sample results for a block of {expected} samples (lost replies?)")


def compare(art, counts: np.ndarray, labels: np.ndarray, results: list[P.SampleResult], end: P.BenchEnd,
            clock_hz: int, fifo_depth: int, spram=(), lanes: int = 1) -> BenchReport:
    """The board's results for samples `counts` [T, B, n_in] against sim.reference and the cycle model
    (`spram`: the memories the build put in SPRAM, whose layers it lays out for SPRAM; `lanes`: the
    build's synapses per clock)."""
    from hw.gateware.perf import step_cycles
    from sim.reference import run

    expected = run(art, counts).spikes[-1].sum(axis=0)  # [B, n_out]
    got = np.stack([r.counts for r in results])
    cycles = np.array([r.cycles for r in results], np.int64)
    lower, upper = (bound.sum(axis=0) for bound in step_cycles(art, counts, spram=spram, lanes=lanes))
    whole = P.one_chunk(counts, P.bench_credit(fifo_depth)).all(axis=0)  # [B]: every step of the sample
    within = (cycles <= upper) & ((cycles >= lower) | ~whole)
    return BenchReport(samples=len(results), correct=int((got.argmax(axis=1) == labels).sum()),
                       counts_equal=int((got == expected).all(axis=1).sum()), cycles_in_bounds=int(within.sum()),
                       core_cycles=cycles, board_cycles=end.stamp, clock_hz=clock_hz)
