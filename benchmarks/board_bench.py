"""The on-board benchmark on the simulated board: its rate for an artifact, and what bounds it.

    python -m benchmarks.board_bench --artifact net.npz [--samples 20] [--simulator verilator] [--fmax-mhz 24.66]

Builds what `python -m hw.build --board B --bench-samples N` builds (the memories the fit check puts
in SPRAM go there, booted from the weight image), writes the weight image and the sample block into
the flash model, and runs `hw.link.host.Link.bench` in the whole-board simulation
(hw.rtlsim.board): every sample's spike counts and cycles are checked against sim/ as `python -m
hw.run --bench` checks a real board. Cycle counts from the RTL are exact and do not depend on the
clock (but for tRES1, 3 us at each benchmark start), so the rate at a clock f is N f / board cycles.

Per sample it prints the board's cycles (BENCH to result: flash reads included) beside what could
bound them: the core's cycles (the STEP replies' count) split into layer 0's accumulate phase
(its synapse walk, hw.gateware.perf) and the rest (neuron passes, later layers, latency), the
flash: the sample block's bytes at the read width's clocks per byte (hw/gateware/flash.py:
`--flash-width`, by default the widest the board's flash pins allow, 4 on the iCEBreaker), and the
clocks the bridge takes to feed the block's bytes into its decoder when nothing else makes it wait
(uart.bench_feed_cycles: a block byte waits for the last one's expansion, other bytes do not).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def measure(art, board_name: str, n: int, simulator: str, lanes: int | str = 1, *,
            flash_width: int | None = None) -> dict:
    import boards
    from hw.board import fit
    from hw.board.build import core_clock_hz
    from hw.gateware.perf import walk_cycles
    from hw.gateware.uart import FIFO_DEPTH, bench_feed_cycles
    from hw.link import bench, image, samples
    from hw.link import protocol as P
    from hw.rtlsim import board

    flash_width = flash_width or boards.get(board_name).flash_width

    estimate = fit.check(art, boards.get(board_name), lanes)
    spram, lanes = estimate.spram_names, estimate.lanes
    top = board.system(art, spram, bench=True, lanes=lanes, flash_width=flash_width)
    block, counts, labels = bench.sample_block(art, n, FIFO_DEPTH, option="--samples")
    flash = {samples.OFFSET: block, **({image.FLASH_OFFSET: top.image} if top.image else {})}
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        (got,) = board.simulate(board.rtl(top), [flash], counts[:, :0], Path(tmp), simulator,
                                timeout_ns=50_000_000, booted=top.loader is not None, bench=True)
    if "error" in got["bench"]:
        raise RuntimeError(got["bench"]["error"])
    if P.caps_lanes(got["caps"]) != lanes:  # what hw.run checks the cycles at
        raise RuntimeError(f"the board's INFO says {P.caps_lanes(got['caps'])} lanes, the build has {lanes}")
    results, end = got["bench"]["results"], got["bench"]["end"]
    bench.check_end(end, block, len(results), n, "(simulation)")
    # Cycle counts do not depend on the clock: the report as the board at its build's clock would print it.
    clock_hz = round(core_clock_hz(boards.get(board_name)))
    report = bench.compare(art, counts, labels, results, end, clock_hz, FIFO_DEPTH, spram, lanes)
    walk0 = walk_cycles(art.layers[0], top.bridge.core.plans[0], counts).sum(axis=0)  # [B]
    return {"report": report, "spram": spram, "lanes": lanes, "block_bytes": len(block), "flash_width": flash_width,
            "walk0": walk0, "feed": bench_feed_cycles(samples.unpack(block), art.n_in),
            "seconds": time.monotonic() - started}


def main(argv=None) -> int:
    from hw.gateware.flash import WIDTHS, clocks_per_byte
    from sim.artifact import ArtifactError, load

    ap = argparse.ArgumentParser(prog="python -m benchmarks.board_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", help="model artifact (.npz); default: the bundled digits model")
    ap.add_argument("--board", default="icebreaker", help="whose fit check places the memories (SPRAM)")
    ap.add_argument("--samples", type=int, default=20, help="test samples in the sample block")
    ap.add_argument("--lanes", default="1", choices=["1", "2", "4", "auto"], help="the build's --lanes")
    ap.add_argument("--flash-width", type=int, choices=WIDTHS,
                    help="bits per SCK of the flash reads (default: the widest the board's pins allow)")
    ap.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"))
    ap.add_argument("--fmax-mhz", type=float, action="append", default=[],
                    help="more clocks than the build's to convert the rate to (repeatable)")
    args = ap.parse_args(argv)
    try:
        art = load(args.artifact)
        m = measure(art, args.board, args.samples, args.simulator,
                    args.lanes if args.lanes == "auto" else int(args.lanes),
                    flash_width=args.flash_width)
    except (ValueError, ArtifactError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    r, n = m["report"], m["report"].samples
    board_cycles = r.board_cycles / n
    core = r.core_cycles.mean()
    per_byte = clocks_per_byte(m["flash_width"])
    flash = per_byte * m["block_bytes"] / n
    feed = m["feed"] / n
    shape = "-".join(str(x) for x in [art.n_in] + [layer.n_out for layer in art.layers])
    print(f"{shape} on the simulated board ({args.simulator}; SPRAM: {', '.join(m['spram']) or 'none'}; "
          f"lanes {m['lanes']}), "
          f"{n} test samples, {m['seconds']:.0f} s")
    print(r.summary())
    print(f"per sample: board {board_cycles:,.0f} cycles | core {core:,.0f} (layer-0 accumulate "
          f"{m['walk0'].mean():,.0f}, passes and the rest {core - m['walk0'].mean():,.0f}) | "
          f"flash {flash:,.0f} ({m['block_bytes'] / n:,.0f} B at {per_byte} clocks/B, "
          f"{m['flash_width']} bit/SCK) | decoder feed {feed:,.0f}")
    bounds = {"the core": core, "the flash reads": flash, "the decoder feed": feed}
    bound = max(bounds, key=bounds.get)
    print(f"bound by {bound}: board cycles are {board_cycles / bounds[bound]:.2f}x the largest of core, flash and feed")
    for mhz in args.fmax_mhz:
        sps = mhz * 1e6 / board_cycles
        print(f"at {mhz:g} MHz: {sps:,.1f} samples/s, {1e6 / sps:,.1f} us/sample")
    return 0 if r.ok else 1


if __name__ == "__main__":
    sys.exit(main())
