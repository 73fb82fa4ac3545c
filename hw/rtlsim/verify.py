"""Check the generated RTL of an artifact against sim/ on real test samples.

    python -m hw.verify [ARTIFACT] --simulator verilator|icarus --dataset digits|mnist --samples N
    python -m hw.verify net.npz --data my_data.npz --samples N

Simulates the core in chunks of samples (one simulator launch each), compares every spike of every
layer at every step with sim.reference, and prints the agreement, the class accuracy of hardware and
reference, and the core's cycles per step. Exit status 1 when any spike differs, 2 on bad input.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from console.html import table as html_table
from console.progress import add_quiet_option, progress
from sim import reference
from sim.artifact import ArtifactError, load
from data import DATASETS, spikes_for

from hw.gateware import perf
from hw.gateware.lanes import LANES
from hw.gateware.plan import STORAGES, GeneratorError

from . import cosim
from . import runner


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m hw.verify", description=__doc__.splitlines()[0])
    p.add_argument("artifact", nargs="?", help="artifact .npz (default: the bundled digits model)")
    p.add_argument("--simulator", choices=runner.SIMULATORS, default="verilator")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", choices=DATASETS, help="test set (default: the one named in the artifact)")
    src.add_argument("--data", type=Path, help="your own .npz of spike counts or events and labels (data/user.py)")
    p.add_argument("--samples", type=int, default=10, help="test samples to simulate (default 10)")
    p.add_argument("--steps", type=int, help="time steps per sample (default: the artifact's)")
    p.add_argument("--seed", type=int, help="spike-encoding seed (default: the artifact's)")
    p.add_argument("--chunk", type=int, default=10, help="samples per simulator launch (default 10)")
    p.add_argument("--stall", type=float, default=0.0, help="probability the output is not ready in a cycle")
    p.add_argument("--storage", choices=STORAGES, default="auto", help="weight storage per layer (default auto)")
    p.add_argument("--lanes", type=int, choices=LANES, default=1, help="synapses accumulated per clock (default 1)")
    add_quiet_option(p)
    args = p.parse_args(argv)
    if args.samples < 1:
        p.error(f"--samples: must be >= 1, got {args.samples}")
    if args.chunk < 1:
        p.error(f"--chunk: must be >= 1, got {args.chunk}")
    if not 0 <= args.stall < 1:
        p.error(f"--stall: must lie in [0, 1), got {args.stall}")
    return args


def verify(art, counts, simulator, chunk=10, stall=0.0, storage="auto", lanes=1):
    """(hardware spikes per layer [T, B, n], cycles [T, B]) over all samples, with a progress bar."""
    runs = []
    for start in progress(range(0, counts.shape[1], chunk), unit="chunk",
                          desc=f"{simulator} RTL, {counts.shape[1]} samples in chunks of {chunk}"):
        runs.append(cosim.simulate(art, counts[:, start:start + chunk], simulator, stall=stall, seed=start,
                                    storage=storage, lanes=lanes))
    spikes = [np.concatenate([r.spikes[k] for r in runs], axis=1) for k in range(len(art.layers))]
    return cosim.HwRun(spikes, np.concatenate([r.cycles for r in runs], axis=1))


@dataclass
class VerifyReport:
    """The RTL against sim.reference on labelled samples; `repr` is hw.verify's printout, Jupyter shows a table."""
    simulator: str
    samples: int
    steps: int
    spikes: int  # spikes compared (every layer, step and neuron)
    spikes_equal: int
    samples_identical: int
    hw_accuracy: float
    reference_accuracy: float
    cycles: np.ndarray  # int64 [T, B]: the core's cycles per step
    model_bounds: tuple[np.ndarray, np.ndarray] | None  # hw.gateware.perf's (lower, upper) [T, B]; None with stall
    mismatch: str | None  # where the first differing spike is; None when all agree

    @property
    def identical(self) -> bool:
        return self.mismatch is None

    def lines(self) -> list[str]:
        c = self.cycles
        out = [f"simulator {self.simulator}, {self.samples} samples x {self.steps} steps",
               f"spike agreement: {self.spikes_equal}/{self.spikes} ({self.spikes_equal / self.spikes:.4%}), "
               f"samples identical {self.samples_identical}/{self.samples}",
               f"class accuracy: hardware {self.hw_accuracy:.2%}, reference {self.reference_accuracy:.2%}",
               f"cycles per step: min {c.min()}, median {np.median(c):.0f}, max {c.max()} "
               f"(mean {c.mean():.0f}; {c.sum(axis=0).mean():.0f} per sample)"]
        if self.model_bounds is not None:
            lower, upper = self.model_bounds
            inside = int(np.sum((lower <= c) & (c <= upper)))
            out.append(f"cycle model (hw.gateware.perf): lower bound median {np.median(lower):.0f}, "
                       f"upper {np.median(upper):.0f}; {inside}/{c.size} steps inside the bounds")
        if self.mismatch:
            out.append(f"MISMATCH at {self.mismatch}")
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        c = self.cycles
        rows = [["spikes equal to the reference", f"{self.spikes_equal}/{self.spikes}"],
                ["samples identical", f"{self.samples_identical}/{self.samples}"],
                ["class accuracy, hardware", f"{self.hw_accuracy:.2%}"],
                ["class accuracy, reference", f"{self.reference_accuracy:.2%}"],
                ["cycles per step (min / median / max)", f"{c.min()} / {np.median(c):.0f} / {c.max()}"]]
        if self.mismatch:
            rows.append(["first mismatch", self.mismatch])
        return html_table(["", "value"], rows, f"{self.simulator}: {self.samples} samples x {self.steps} steps")


def check(art, counts, labels, simulator="verilator", chunk=10, stall=0.0, storage="auto",
          lanes=1) -> VerifyReport:
    """Simulate the RTL of `art` on counts int [T, B, n_in] and compare it with sim.reference."""
    if counts.shape[-1] != art.n_in:
        raise ValueError(f"dataset: {counts.shape[-1]} input features, but the artifact expects {art.n_in}")
    ref = reference.run(art, counts)
    runner.check_simulator(simulator)
    hw = verify(art, counts, simulator, chunk, stall, storage, lanes)
    wrong = sum(int((r != h).sum()) for r, h in zip(ref.spikes, hw.spikes))
    total = sum(r.size for r in ref.spikes)
    samples_ok = np.all([np.all(r == h, axis=(0, 2)) for r, h in zip(ref.spikes, hw.spikes)], axis=0).sum()
    hw_classes = hw.spikes[-1].sum(axis=0, dtype=np.int64).argmax(axis=1)
    return VerifyReport(simulator=simulator, samples=counts.shape[1], steps=counts.shape[0], spikes=total,
                        spikes_equal=total - wrong, samples_identical=int(samples_ok),
                        hw_accuracy=float(np.mean(hw_classes == labels)),
                        reference_accuracy=float(np.mean(ref.classes == labels)), cycles=hw.cycles,
                        model_bounds=perf.step_cycles(art, counts, storage, lanes=lanes) if stall == 0 else None,
                        mismatch=cosim.first_mismatch(ref.spikes, hw))


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        art = load(args.artifact)
        counts, labels = spikes_for(art, args.dataset, "test", steps=args.steps, seed=args.seed, limit=args.samples,
                                    data=args.data)
        result = check(art, counts, labels, args.simulator, args.chunk, args.stall, args.storage, args.lanes)
    except (ArtifactError, GeneratorError, ValueError, OSError, RuntimeError, reference.BoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(art.summary())
    print(result)
    return 0 if result.identical else 1


if __name__ == "__main__":
    sys.exit(main())
