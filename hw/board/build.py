"""Build a bitstream for a board: `python -m hw.build --board icebreaker [--artifact net.npz] [--out build/]`.

The artifact's core (hw/gateware/core.py) goes behind the UART bridge (hw/gateware/uart.py), the board clock goes
through the PLL to the target clock, and yosys/nextpnr/pack run with a fixed seed, so one artifact
gives one bitstream. The model is checked against the board before synthesis (hw/board/fit.py); every
utilisation and timing figure of the report comes from the tools' own reports (hw/board/report.py).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from amaranth import ClockDomain, Elaboratable, Module
from amaranth.lib import io

import boards
from boards.clocks import CoreClock, plan as plan_clock
from sim.artifact import ArtifactError, load

from . import fit, report
from hw.gateware.plan import GeneratorError
from .toolchain import ToolError, progress_bar, run_steps, steps_for
from hw.gateware.uart import UARTBridge, uart_divisor

NAME = "snn_top"
DEFAULT_SEED = 1


class BoardTop(Elaboratable):
    """PLL clock + UART bridge on the board's serial pins."""

    def __init__(self, board, pll, bridge: UARTBridge):
        self.board, self.pll, self.bridge = board, pll, bridge

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain()
        m.submodules.clock = clock = CoreClock(self.board, self.pll)
        m.submodules.bridge = self.bridge
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [sync.clk.eq(clock.clk), sync.rst.eq(clock.rst),
                     self.bridge.rx.eq(rx.i), tx.o.eq(self.bridge.tx)]
        return m


def workload_of(art, limit: int = 200):
    """Input for the throughput prediction: test samples of the artifact's dataset, or every input
    at its maximum count in every step when the artifact names no dataset (the worst case)."""
    from data import spikes_for

    if art.encoding is None:
        return "worst case: every input at max count", np.full((art.steps, 1, art.n_in), art.input_max_count, np.int64)
    return f"{art.encoding.dataset} test[:{limit}]", spikes_for(art, split="test", limit=limit)[0]


def build(art, board, out: Path, *, artifact_path: str, clock_hz: float | None = None, baud: int = 115200,
          seed: int = DEFAULT_SEED, progress: bool = True) -> dict:
    """Fit check, elaborate, synthesise, place, route, pack; write and return the report."""
    started = time.monotonic()
    estimate = fit.check(art, board)  # raises fit.FitError before any tool runs
    if estimate.ebr[1] > board.budget["ebr"]:
        print(f"warning: block RAM estimate {estimate.ebr[0]}..{estimate.ebr[1]} of {board.budget['ebr']}: "
              "it may not fit; place & route decides", file=sys.stderr)
    pll = plan_clock(board, clock_hz or board.target_hz)
    core_hz = pll.out_hz if pll else board.clock_hz
    uart_divisor(core_hz, baud)  # a clear error before anything is elaborated
    bridge = UARTBridge(art, clk_hz=core_hz, baud=baud)
    out.mkdir(parents=True, exist_ok=True)
    steps = steps_for(board.family.name, NAME, list(board.pnr_args), seed)
    with progress_bar(1 + len(steps), progress) as bar:
        bar.set_description("elaboration")
        # No source locations in the netlist: the bitstream must not depend on where the repo lives.
        plan = board.platform().prepare(BoardTop(board, pll, bridge), name=NAME, emit_src=False,
                                        script_after_synth=f"tee -q -o {NAME}.stat.json stat -json")
        plan.extract(out)
        bar.update()
        ran = run_steps(steps, out, bar)

    bitstream = out / f"{NAME}{board.family.bitstream}"
    workload, counts = workload_of(art)
    result = report.assemble(
        art, board, estimate,
        pnr=json.loads((out / f"{NAME}.report.json").read_text()),
        stat=json.loads((out / f"{NAME}.stat.json").read_text()),
        synth_log=(out / f"{NAME}.rpt").read_text(errors="replace"),
        netlist=json.loads((out / f"{NAME}.json").read_text()),
        target_hz=core_hz, baud=baud, counts=counts, workload=workload)
    result.update({
        "artifact": artifact_path, "model_digest": f"{bridge.info.model:08x}", "seed": seed,
        "bitstream": {"path": str(bitstream), "bytes": bitstream.stat().st_size,
                      "sha256": hashlib.sha256(bitstream.read_bytes()).hexdigest()},
        "build_seconds": {**{k: round(v, 1) for k, v in ran.seconds.items()},
                          "total": round(time.monotonic() - started, 1)},
        "tools": ran.tools,
    })
    (out / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "report.txt").write_text(report.table(result) + "\n")
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.build", description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="icebreaker", help=f"one of: {', '.join(boards.BOARDS)}")
    ap.add_argument("--artifact", help="model artifact (.npz); default: the bundled digits model")
    ap.add_argument("--out", type=Path, default=Path("build"), help="output folder (a subfolder per board)")
    ap.add_argument("--clock-mhz", type=float, help="core clock made by the PLL (default: the board's target)")
    ap.add_argument("--baud", type=int, default=115200, help="UART baud rate (default 115200)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="nextpnr placement seed")
    ap.add_argument("--allow-timing-fail", action="store_true", help="exit 0 even when fmax < clock")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.clock_mhz is not None and not 0 < args.clock_mhz < math.inf:
        ap.error(f"--clock-mhz: must be a finite number > 0, got {args.clock_mhz}")
    if args.baud < 1:
        ap.error(f"--baud: must be >= 1, got {args.baud}")
    try:
        board = boards.get(args.board)
        art = load(args.artifact)
        result = build(art, board, args.out / board.name, artifact_path=str(args.artifact or "bundled"),
                       clock_hz=args.clock_mhz * 1e6 if args.clock_mhz else None, baud=args.baud,
                       seed=args.seed, progress=not args.no_progress)
    except (ValueError, OSError, ArtifactError, GeneratorError, fit.FitError, ToolError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.table(result))
    print(f"\nwrote {result['bitstream']['path']} and {args.out / board.name / 'report.json'}")
    if not result["timing"]["met"] and not args.allow_timing_fail:
        print(f"error: timing not met: fmax {result['timing']['fmax_mhz']:.2f} MHz < "
              f"{result['timing']['target_mhz']:.2f} MHz; lower --clock-mhz", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
