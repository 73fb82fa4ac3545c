"""Simulate the generated core on Verilator or Icarus and compare it with sim.reference.

`simulate` elaborates the core for an artifact, runs hw/rtlsim/bench.py under cocotb and returns the
spikes of every layer and the cycles of every step; `first_mismatch` names the first disagreement.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim import reference
from sim.artifact import Artifact

from hw.gateware.core import Core
from hw.gateware.plan import spram_image

from . import runner

TOPLEVEL = "snn_core"


@dataclass
class HwRun:
    spikes: list[np.ndarray]  # per layer, uint8 [T, B, n_out], like sim.reference.Result.spikes
    cycles: np.ndarray  # int64 [T, B]: the core's `cycles` output after each step


def simulate(art: Artifact, counts: np.ndarray, simulator: str = "verilator", *, stall: float = 0.0,
             gap: float = 0.0, shuffle: bool = False, junk: float = 0.0, abort: float = 0.0,
             seed: int = 0, storage: str = "auto", spram=(), lanes: int = 1) -> HwRun:
    """Run event counts int [T, B, n_in] (or [T, n_in]) through the RTL of `art`.

    Options of the bench (hw/rtlsim/bench.py): `stall`/`gap` probabilities of output back-pressure and
    input idling per cycle, `shuffle` the events of a step, `junk` add out-of-range addresses,
    `abort` precede samples by a step that CLEAR drops. `spram`: memories the core keeps in SPRAM
    (hw.gateware.core.Core); the bench loads their image before the first event. `lanes`: the
    core's synapses per clock (hw.gateware.core.Core).
    """
    counts = np.asarray(counts)
    if counts.ndim == 2:
        counts = counts[:, None]
    if counts.ndim != 3 or counts.shape[-1] != art.n_in:
        raise ValueError(f"input: expected counts [T, B, {art.n_in}], got shape {counts.shape}")
    reference.check_input(art, counts)  # counts and steps the membrane bound (and so the RTL) covers
    core = Core(art, storage, spram, lanes=lanes)
    build_dir = runner.build(runner.verilog_of(core, TOPLEVEL), TOPLEVEL, simulator)
    runs = runner.build_root() / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{simulator}-", dir=runs))
    np.savez(work / "job.npz", counts=counts.transpose(1, 0, 2).astype(np.int64), in_width=core.in_width,
             out_widths=np.array([p.out_width for p in core.plans]), n_outs=np.array([p.n_out for p in core.plans]),
             gap=gap, stall=stall, shuffle=shuffle, junk=junk, abort=abort, image=spram_image(core.plans),
             seed=seed)
    runner.run(build_dir, TOPLEVEL, simulator, "hw.rtlsim.bench", runner.REPO,
                   env={"HW_JOB": str(work / "job.npz"), "HW_RESULT": str(work / "result.npz")}, test_dir=work)
    with np.load(work / "result.npz") as r:
        run = HwRun([_artifact_order(r[f"l{k}"].transpose(1, 0, 2), p) for k, p in enumerate(core.plans)],
                    r["cycles"].T)
    shutil.rmtree(work)  # kept only when the simulation failed, for its log
    return run


def _artifact_order(spikes: np.ndarray, p) -> np.ndarray:
    """A layer's spikes [..., n_out] by address back in the artifact's neuron order (a hidden
    layer with lanes holds its neurons in its own order: LayerPlan.order)."""
    if p.order is None:
        return spikes
    ordered = np.empty_like(spikes)
    ordered[..., p.order] = spikes
    return ordered


def first_mismatch(reference_spikes: list[np.ndarray], hw: HwRun) -> str | None:
    """None when every spike of every layer agrees, else where the first disagreement is."""
    for k, (ref, got) in enumerate(zip(reference_spikes, hw.spikes)):
        diff = np.argwhere(ref != got)
        if diff.size:
            t, b, i = (int(x) for x in diff[np.lexsort((diff[:, 0], diff[:, 1]))[0]])
            return (f"sample {b}, step {t}, layer {k}, neuron {i}: hardware spike {got[t, b, i]}, "
                    f"reference {ref[t, b, i]} ({len(diff)} mismatches in layer {k})")
    return None
