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
from console.progress import add_quiet_option
from boards.clocks import CoreClock, plan as plan_clock
from sim.artifact import ArtifactError, load

from . import fit, report
from .summary import BuildReport
from hw.gateware.plan import GeneratorError
from .toolchain import ToolError, progress_bar, run_steps, steps_for
from hw.gateware.core import Core
from hw.gateware.flash import boot_cycles
from hw.gateware.lanes import LANES
from hw.gateware.system import System
from hw.link import protocol as P
from hw.link import samples
from hw.link.bench import sample_block
from hw.link.image import FLASH_OFFSET, flash_command
from hw.gateware.uart import UARTBridge

NAME = "snn_top"
IMAGE_NAME = "model.img"
SAMPLES_NAME = "samples.img"
DEFAULT_SEED = 1


class BoardTop(Elaboratable):
    """PLL clock + UART bridge on the board's serial pins; when the core keeps weights in SPRAM or
    the build has the on-board benchmark, the `System` (hw/gateware/system.py) in the bridge's
    place, its flash readers on the configuration flash's SPI pins."""

    def __init__(self, board, pll, top: UARTBridge | System):
        self.board, self.pll, self.top = board, pll, top

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain()
        m.submodules.clock = clock = CoreClock(self.board, self.pll)
        booted = isinstance(self.top, System)
        # A bare bridge keeps the name it always had: the same netlist, the same bitstream.
        m.submodules["system" if booted else "bridge"] = top = self.top
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        if booted:
            self._flash_pins(m, platform)
        m.d.comb += [sync.clk.eq(clock.clk), sync.rst.eq(clock.rst), top.rx.eq(rx.i), tx.o.eq(top.tx)]
        return m

    def _flash_pins(self, m, platform) -> None:
        # The board's widest flash resource: IO2/IO3 (WP#/HOLD#) are driven high even by narrower reads.
        flash = platform.request(f"spi_flash_{self.board.flash_width}x", 0, dir="-")
        spi = self.top.flash
        m.submodules.flash_cs = cs = io.Buffer("o", flash.cs)
        m.submodules.flash_clk = clk = io.Buffer("o", flash.clk)
        m.d.comb += [cs.o.eq(spi.cs), clk.o.eq(spi.sck)]
        for n in range(self.board.flash_width):  # a tristate buffer per line: the reader turns them one by one
            m.submodules[f"flash_io{n}"] = line = io.Buffer("io", flash.dq[n])
            m.d.comb += [line.o.eq(spi.o[n]), line.oe.eq(spi.oe[n]), spi.i[n].eq(line.i)]


def workload_of(art, limit: int = 200):
    """Input for the throughput prediction: test samples of the artifact's dataset, or every input
    at its maximum count in every step when the artifact names no dataset (the worst case)."""
    from data import spikes_for

    if art.encoding is None:
        return "worst case: every input at max count", np.full((art.steps, 1, art.n_in), art.input_max_count, np.int64)
    return f"{art.encoding.dataset} test[:{limit}]", spikes_for(art, split="test", limit=limit)[0]


def core_clock_hz(board, clock_hz: float | None = None) -> float:
    """The core clock a build for `board` runs at: its PLL's nearest to `clock_hz` (default the
    board's target), or the board's oscillator where no PLL is planned."""
    pll = plan_clock(board, clock_hz or board.target_hz)
    return pll.out_hz if pll else board.clock_hz


def build(art, board, out: Path, *, artifact_path: str, clock_hz: float | None = None, baud: int = P.DEFAULT_BAUD,
          seed: int = DEFAULT_SEED, progress: bool = True, image_offset: int = FLASH_OFFSET,
          bench_samples: int | None = None, lanes: int | str = 1) -> BuildReport:
    """Fit check, elaborate, synthesise, place, route, pack; write and return the report (and the
    flash image `model.img`, for `image_offset` on the board's flash, when weights go to SPRAM).
    `bench_samples`: add the on-board benchmark and write the sample block `samples.img` of that many
    test samples, for samples.OFFSET on the flash. `lanes`: synapses per clock (1, 2, 4, or "auto":
    the most that fit, hw.board.fit.choose_lanes)."""
    started = time.monotonic()
    estimate = fit.check(art, board, lanes)  # raises fit.FitError before any tool runs
    if estimate.ebr[1] > board.budget["ebr"]:
        print(f"warning: block RAM estimate {estimate.ebr[0]}..{estimate.ebr[1]} of {board.budget['ebr']}: "
              "it may not fit; place & route decides", file=sys.stderr)
    core_hz = core_clock_hz(board, clock_hz)
    P.uart_divisor(core_hz, baud)  # a clear error before anything is elaborated
    # Weights that block RAM cannot hold go to SPRAM, loaded at boot (fit.place).
    bench = bench_samples is not None
    bridge = UARTBridge(art, clk_hz=core_hz, baud=baud, core=Core(art, spram=estimate.spram_names, lanes=estimate.lanes),
                         bench=bench)
    if (bridge.image_words or bench) and not board.flash_width:
        raise ValueError(f"--board: {board.name} has no SPI flash pins for the weight image or the sample block")
    system = System(bridge, offset=image_offset, flash_width=board.flash_width) if bridge.image_words or bench else None
    block = sample_block(art, bench_samples, bridge.info.fifo_depth)[0] if bench else None  # before any tool runs
    if system and system.image and block and image_offset + len(system.image) > samples.OFFSET:
        raise ValueError(f"--image-offset: the weight image at {image_offset:#x} runs into the sample block "
                         f"at {samples.OFFSET:#x}")
    out.mkdir(parents=True, exist_ok=True)
    if system and system.image:
        (out / IMAGE_NAME).write_bytes(system.image)
    if block:
        (out / SAMPLES_NAME).write_bytes(block)
    steps = steps_for(board.family.name, NAME, list(board.pnr_args), seed)
    with progress_bar(1 + len(steps), progress) as bar:
        bar.set_description("elaboration")
        # No source locations in the netlist: the bitstream must not depend on where the repo lives.
        plan = board.platform().prepare(BoardTop(board, pll, system or bridge), name=NAME, emit_src=False,
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
    if block:
        result["bench"] = {"path": str(out / SAMPLES_NAME), "bytes": len(block), "samples": bench_samples,
                           "offset": samples.OFFSET, "sha256": hashlib.sha256(block).hexdigest()}
    if system and system.image:
        if image_offset < bitstream.stat().st_size:
            raise ValueError(f"--image-offset: {image_offset:#x} is inside the {bitstream.stat().st_size}-byte bitstream")
        words = system.loader.n_words
        result["image"] = {"path": str(out / IMAGE_NAME), "bytes": len(system.image), "words": words,
                           "offset": image_offset, "sha256": hashlib.sha256(system.image).hexdigest(),
                           "boot_cycles": boot_cycles(words, core_hz, system.flash_width),
                           "boot_ms": round(boot_cycles(words, core_hz, system.flash_width) / core_hz * 1e3, 2)}
    (out / "report.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "report.txt").write_text(report.table(result) + "\n")
    return BuildReport(result)


def program_commands(result: dict) -> str:
    """How to put the bitstream, the weight image and the benchmark's sample block on the board's
    flash (iceprog, as for the iCEBreaker)."""
    lines, what = [], ["the bitstream"]
    if "image" in result:
        image = result["image"]
        lines.append(f"wrote {image['path']} ({image['bytes']} bytes, {image['words']} SPRAM words; boot from "
                     f"flash {image['boot_ms']:g} ms)")
        what.append("the weight image")
    if "bench" in result:
        bench = result["bench"]
        lines.append(f"wrote {bench['path']} ({bench['bytes']} bytes, {bench['samples']} test samples for "
                     f"python -m hw.run --bench {bench['samples']})")
        what.append("the sample block")
    lines += [f"program {', then '.join(what)}:", f"  iceprog {result['bitstream']['path']}"]
    lines += [f"  {flash_command(result[k]['path'], result[k]['offset'])}" for k in ("image", "bench") if k in result]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.build", description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="icebreaker", help=f"one of: {', '.join(boards.BOARDS)}")
    ap.add_argument("--artifact", help="model artifact (.npz); default: the bundled digits model")
    ap.add_argument("--out", type=Path, default=Path("build"), help="output folder (a subfolder per board)")
    ap.add_argument("--clock-mhz", type=float, help="core clock made by the PLL (default: the board's target)")
    ap.add_argument("--baud", type=int, default=P.DEFAULT_BAUD, help=f"UART baud rate (default {P.DEFAULT_BAUD})")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help="nextpnr placement seed")
    ap.add_argument("--image-offset", type=lambda text: int(text, 0), default=FLASH_OFFSET,
                    help=f"byte offset of the weight image on the flash (default {FLASH_OFFSET:#x} = 1 MiB)")
    ap.add_argument("--bench-samples", type=int, metavar="N",
                    help="add the on-board benchmark (python -m hw.run --bench N) and write its block of N test samples")
    ap.add_argument("--lanes", default="1", choices=[*map(str, LANES), "auto"],
                    help="synapses accumulated per clock (default 1; auto: the most that fit the board)")
    ap.add_argument("--allow-timing-fail", action="store_true", help="exit 0 even when fmax < clock")
    add_quiet_option(ap, "--no-progress")
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
                       seed=args.seed, progress=not args.quiet, image_offset=args.image_offset,
                       bench_samples=args.bench_samples,
                       lanes=args.lanes if args.lanes == "auto" else int(args.lanes))
    except (ValueError, OSError, ArtifactError, GeneratorError, fit.FitError, ToolError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.table(result))
    print(f"\nwrote {result['bitstream']['path']} and {args.out / board.name / 'report.json'}")
    if "image" in result or "bench" in result:
        print(program_commands(result))
    if not result["timing"]["met"] and not args.allow_timing_fail:
        print(f"error: timing not met: fmax {result['timing']['fmax_mhz']:.2f} MHz < "
              f"{result['timing']['target_mhz']:.2f} MHz; lower --clock-mhz", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
