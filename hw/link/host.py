"""Host driver: run samples on a board over its serial link.

    python -m hw.run --port /dev/ttyUSB1 [--artifact net.npz] [--samples 20] [--baud 3000000]
    python -m hw.run --port /dev/ttyUSB1 [--artifact net.npz] --bench N

It checks that the board carries the artifact's model and that its clock makes the baud rate (INFO),
sends each test sample step by step (hw.link.protocol.step_chunks), prints the class, the label and
the timing, and compares every output spike with `sim.reference`. With `--bench N` the board runs N
test samples from its flash instead (hw/link/bench.py): it writes their sample block
(`--bench-image`) and the command that programs it, then checks every result against `sim/` (the
cycles against the cycle model at the lanes the board reports in INFO).
`Link` only needs an object with `write(bytes)` and `read(n) -> bytes` (a pyserial port, or the
cocotb UART models in tests/build/), so the protocol code is tested without hardware.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from console.progress import add_quiet_option

from . import protocol as P
from .image import LoadStatus, flash_command, load_hint

RESYNC_BYTES = 1 << 16  # more than a full FIFO's worth of replies: read until the timeout


@dataclass(frozen=True)
class Message:
    data: bytes
    words: int  # FIFO words it occupies on the board
    reply: str  # "ack" or "step"


class Link:
    """The host end of hw/link/protocol.py with credit-based pipelining: messages are sent ahead as long
    as the words not yet acknowledged fit the board's FIFO, so the link stays busy."""

    def __init__(self, port):
        self.port = port
        self.board: P.Info | None = None

    def _read(self, n: int) -> bytes:
        return bytes(self.port.read(n))

    def resync(self) -> None:
        """Start from a known state whatever an earlier session left behind: SYNC ends a half-sent
        word, every reply still queued arrives before its ACK, and the ACK clears the error flags.
        Reads until the port's timeout, so it costs one timeout."""
        self.port.write(bytes([P.SYNC]))
        stale = self._read(RESYNC_BYTES)
        if not stale or stale[-1] & 0xF0 != P.REPLY_ACK:
            raise P.ProtocolError("no ACK to SYNC: is the board configured with this build, and are "
                                  "the port and baud rate right?")

    def info(self) -> P.Info:
        self.port.write(bytes([P.INFO]))
        reply = self._read(P.INFO_REPLY_LEN)
        if reply:
            reply += self._read(P.info_reply_len(reply[0]) - len(reply))
        self.board = P.decode_info(reply)
        return self.board

    def _exchange(self, messages: list[Message]) -> list:
        replies, pending, in_flight = [], deque(), 0

        def receive():
            nonlocal in_flight
            msg = pending.popleft()
            in_flight -= msg.words
            if msg.reply == "step":
                replies.append(P.decode_step(self._read(P.step_reply_len(self.board.n_out)), self.board.n_out))
            else:
                P.decode_ack(self._read(1))

        for msg in messages:
            while pending and in_flight + msg.words > self.board.fifo_depth:
                receive()
            self.port.write(msg.data)
            pending.append(msg)
            in_flight += msg.words
        while pending:
            receive()
        return replies

    def bench(self) -> tuple[list[P.SampleResult], P.BenchEnd]:
        """BENCH: the board runs the sample block in its flash (hw/link/samples.py) at core speed and
        replies per sample; returns every sample's result and the end (the block's status)."""
        if self.board is None:
            self.info()
        if not self.board.caps & P.CAP_BENCH:
            raise P.ProtocolError("the board's bitstream has no on-board benchmark: build it with "
                                  "python -m hw.build --bench-samples N")
        self.port.write(bytes([P.BENCH]))
        results, n_out = [], self.board.n_out
        while True:
            head = self._read(1)
            if not head:
                raise P.ProtocolError(f"BENCH: no reply after {len(results)} samples (timeout?)")
            if P.reply_kind(head[0]) == P.REPLY_BENCH_END:
                return results, P.decode_bench_end(head + self._read(P.BENCH_END_REPLY_LEN - 1))
            results.append(P.decode_sample(head + self._read(P.sample_reply_len(n_out) - 1), n_out))

    def run_sample(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts [T, n_in] -> (output spikes uint8 [T, n_out], core cycles int64 [T])."""
        if self.board is None:
            self.info()
        counts = np.asarray(counts)
        if counts.ndim != 2 or counts.shape[1] != self.board.n_in:
            raise ValueError(f"counts: expected [T, {self.board.n_in}], got {counts.shape}")
        messages = [Message(bytes([P.CLEAR]), 1, "ack")]
        for step in counts:
            messages += [Message(c.data, c.words, "step" if c.command == P.STEP else "ack")
                         for c in P.step_chunks(step, self.board.n_in, self.board.fifo_depth)]
        replies = self._exchange(messages)
        return (np.stack([s for s, _ in replies]).astype(np.uint8), np.array([c for _, c in replies], np.int64))


def check_model(board: P.Info, art) -> None:
    """Refuse to feed a board that runs a different model, or whose weight image did not load."""
    if (board.n_in, board.n_out) != (art.n_in, art.n_out) or board.model != P.model_digest(art):
        raise P.ProtocolError(f"the board runs model {board.model:08x} ({board.n_in} -> {board.n_out}), "
                              f"the artifact is {P.model_digest(art):08x} ({art.n_in} -> {art.n_out}): "
                              "build and flash the artifact first (python -m hw.build)")
    if board.load not in (LoadStatus.NONE, LoadStatus.OK):
        raise P.ProtocolError(f"the board's weight image did not load: {board.load.name} ({load_hint(board.load)})")


def check_baud(board: P.Info, baud: int) -> None:
    """Refuse a baud rate the board's clock (INFO) cannot divide to within the UART's tolerance:
    its replies may have come through, but longer bursts would not."""
    try:
        P.uart_divisor(board.clock_hz, baud)
    except ValueError as e:
        raise P.ProtocolError(f"--baud {baud}: the board's {board.clock_hz / 1e6:g} MHz clock cannot make it "
                              f"({str(e).removeprefix('--baud: ')}); pass the build's --baud") from None


def main(argv=None) -> int:
    import serial

    from sim.artifact import ArtifactError, load
    from data import spikes_for
    from sim.reference import run

    ap = argparse.ArgumentParser(prog="python -m hw.run", description=__doc__.splitlines()[0])
    ap.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB1 (iCEBreaker: the second FTDI port)")
    ap.add_argument("--artifact", help="model artifact (.npz); default: the bundled digits model")
    ap.add_argument("--baud", type=int, default=P.DEFAULT_BAUD, help=f"must match the build's (default {P.DEFAULT_BAUD})")
    ap.add_argument("--dataset", help="digits|mnist (default: the artifact's)")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    ap.add_argument("--bench", type=int, metavar="N", help="run N test samples from the board's flash at core speed "
                    "(a build with python -m hw.build --bench-samples)")
    ap.add_argument("--board", default="icebreaker", help="the build's --board (default icebreaker): --bench "
                    "checks cycles against the layout the build chose for that board's memories")
    ap.add_argument("--bench-image", default="samples.img", help="where --bench writes its sample block (default samples.img)")
    add_quiet_option(ap)  # also drops the line per sample
    args = ap.parse_args(argv)
    try:
        for option, n in (("--samples", args.samples), ("--bench", 1 if args.bench is None else args.bench)):
            if n < 1:
                raise ValueError(f"{option}: must be >= 1, got {n}")
        art = load(args.artifact)
        if args.bench is None:
            counts, labels = spikes_for(art, args.dataset, "test", limit=args.samples)
        with serial.Serial(args.port, args.baud, timeout=args.timeout) as port:
            link = Link(port)
            link.resync()
            board = link.info()
            check_model(board, art)
            check_baud(board, args.baud)
            if args.bench is not None:
                return run_bench(link, art, args)
            ref = run(art, counts).spikes[-1]
            agree = correct = 0
            for i in range(counts.shape[1]):
                start = time.perf_counter()
                spikes, cycles = link.run_sample(counts[:, i])
                wall = time.perf_counter() - start
                cls = int(spikes.sum(axis=0).argmax())
                same = np.array_equal(spikes, ref[:, i])
                agree += same
                correct += cls == labels[i]
                if not args.quiet:
                    print(f"sample {i}: class {cls} (label {labels[i]}), core {cycles.sum()} cycles = "
                          f"{cycles.sum() / board.clock_hz * 1e6:.1f} us, link {wall * 1e3:.1f} ms, "
                          f"spikes {'match' if same else 'DIFFER from'} sim")
    except (ValueError, OSError, ArtifactError, P.ProtocolError, serial.SerialException) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = counts.shape[1]
    print(f"{n} samples: accuracy {correct / n:.1%}, spikes equal to sim.reference in {agree}/{n}")
    return 0 if agree == n else 1


def build_spram(art, board: P.Info, name: str, lanes: int = 1) -> tuple[str, ...]:
    """The memories the build put in SPRAM: a layer there is laid out for SPRAM (other row lengths, so
    other cycle counts), and the board only says whether it loaded an image, so replay the build's
    placement for the board it was built for."""
    if board.load == LoadStatus.NONE:
        return ()
    import boards
    from hw.board import fit

    return fit.check(art, boards.get(name), lanes).spram_names


def run_bench(link: Link, art, args) -> int:
    """`--bench N`: write the sample block, run it on the board, check it against sim/, print the rate."""
    from pathlib import Path

    from . import bench, samples

    block, counts, labels = bench.sample_block(art, args.bench, link.board.fifo_depth, args.dataset, "--bench")
    path = Path(args.bench_image)
    if not path.is_file() or path.read_bytes() != block:
        path.write_bytes(block)
    programming = f"program it with: {flash_command(path, samples.OFFSET)}"
    print(f"sample block: {path} ({len(block)} bytes, {args.bench} samples); {programming}")
    start = time.perf_counter()
    results, end = link.bench()
    wall = time.perf_counter() - start
    bench.check_end(end, block, len(results), args.bench, programming)
    lanes = link.board.lanes  # the build's, from INFO: what its cycles are checked against
    report = bench.compare(art, counts, labels, results, end, link.board.clock_hz, link.board.fifo_depth,
                           spram=build_spram(art, link.board, args.board, lanes), lanes=lanes)
    if not args.quiet:
        for i, r in enumerate(results):
            print(f"sample {i}: class {int(r.counts.argmax())} (label {labels[i]}), core {r.cycles} cycles, "
                  f"board cycle {r.stamp}")
    print(report.summary())
    print(f"wall time on the host {wall:.3f} s (with the UART replies and USB latency)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
