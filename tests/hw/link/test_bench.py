"""The on-board benchmark's host side: reply formats, the sample block, the comparison with sim/, the
CLI's refusals. Replies are written byte by byte from docs/build.md; the board itself runs in
tests/hw/board/test_board_sim.py."""
import numpy as np
import pytest

from hw.link import bench, image, samples
from hw.link import protocol as P
from hw.link.host import Link, main
from hw.link.image import LoadStatus
from sim.reference import run
from sim.testing import random_artifact

INFO_GOLDEN = bytes([0x08, 0x09, 0x0A, 0x00, 0x00, 0x01, 0x00, 0x36, 0x6E, 0x01, 0xEF, 0xBE, 0xAD, 0xDE])


def test_info_with_capabilities_golden_bytes():
    info = P.decode_info(bytes([0xF0]) + INFO_GOLDEN + bytes([0, 1]))  # no weight image, CAP_BENCH
    assert info.load == LoadStatus.NONE and info.caps == P.CAP_BENCH and info.n_in == 2312
    assert P.info_reply_len(0xF0) == 17
    assert P.decode_info(bytes([0xF0]) + INFO_GOLDEN + bytes([2, 1])).load == LoadStatus.OK
    with pytest.raises(P.ProtocolError, match="16 bytes"):
        P.decode_info(bytes([0xF0]) + INFO_GOLDEN + bytes([0]))


def test_sample_and_end_replies_golden_bytes():
    sample = P.decode_sample(bytes([0x80, 3, 0, 7, 0x10, 0x27, 0, 0, 0x40, 0x42, 0x0F, 0]), 3)
    assert sample.counts.tolist() == [3, 0, 7] and sample.cycles == 10_000 and sample.stamp == 1_000_000
    end = P.decode_bench_end(bytes([0x90, 2, 0x78, 0x56, 0x34, 0x12, 1, 0, 0, 0]))
    assert end == P.BenchEnd(LoadStatus.OK, 0x1234_5678, 1)
    with pytest.raises(P.ProtocolError, match="unknown sample block status 1"):  # LOADING is never an end
        P.decode_bench_end(bytes([0x90, 1, 0, 0, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(P.ProtocolError, match="holds its core"):
        P.reply_kind(0x98)  # BENCH on a board whose weight image did not load
    with pytest.raises(P.ProtocolError, match="header 0xa0"):
        P.reply_kind(0xA0)


class BenchPort:
    """A board that answers INFO with `info`, then BENCH with `replies`."""

    def __init__(self, info: bytes, replies: bytes = b""):
        self.out, self.replies = info, replies
        self.written = bytearray()

    def write(self, data: bytes) -> None:
        self.written += data
        if data == bytes([P.BENCH]):
            self.out += self.replies

    def read(self, n: int) -> bytes:
        got, self.out = self.out[:n], self.out[n:]
        return got


def info_reply(caps: int) -> bytes:
    info = P.Info(n_in=4, n_out=2, fifo_depth=256, clock_hz=24_000_000, model=1)
    return bytes([P.REPLY_INFO_CAPS]) + P.info_bytes(info) + bytes([0, caps])


def test_link_refuses_a_bitstream_without_the_benchmark():
    port = BenchPort(bytes([P.REPLY_INFO]) + INFO_GOLDEN)
    with pytest.raises(P.ProtocolError, match="no on-board benchmark: build it with python -m hw.build --bench-samples"):
        Link(port).bench()
    assert P.BENCH not in port.written


def test_link_reads_samples_until_the_end():
    replies = (bytes([0x80, 1, 2]) + (5).to_bytes(4, "little") + (9).to_bytes(4, "little")
               + bytes([0x80, 0, 4]) + (6).to_bytes(4, "little") + (20).to_bytes(4, "little")
               + bytes([0x90, 2]) + (0xABCD).to_bytes(4, "little") + (25).to_bytes(4, "little"))
    results, end = Link(BenchPort(info_reply(P.CAP_BENCH), replies)).bench()
    assert [r.counts.tolist() for r in results] == [[1, 2], [0, 4]] and [r.stamp for r in results] == [9, 20]
    assert end == P.BenchEnd(LoadStatus.OK, 0xABCD, 25)
    with pytest.raises(P.ProtocolError, match="no reply after 1 samples"):
        Link(BenchPort(info_reply(P.CAP_BENCH), replies[:11])).bench()


def net():
    return random_artifact(np.random.default_rng(0), (30, 8, 4), density=0.4, theta=(2, 6), input_max_count=2, steps=5)


def test_sample_block_is_the_uart_stream_with_room_for_the_flash_reader():
    art = net()
    counts = np.random.default_rng(1).integers(0, 3, (art.steps, 3, art.n_in))
    block = samples.pack(counts, P.model_digest(art), 32)
    payload = samples.unpack(block, P.model_digest(art))
    assert payload.count(P.CLEAR) == 3 and payload.count(P.STEP) == 3 * art.steps
    credit = 32 - P.BENCH_MARGIN
    stream = bytes([P.CLEAR])
    for t in range(art.steps):
        stream += b"".join(c.data for c in P.step_chunks(counts[t, 0], art.n_in, credit))
    assert payload.startswith(stream) and len(payload) % 2 == 0
    assert samples.trailer(block) == int.from_bytes(block[-4:], "little")
    with pytest.raises(image.ImageError, match="BAD_DIGEST"):
        samples.unpack(block, P.model_digest(art) ^ 1)
    with pytest.raises(image.ImageError, match="BAD_MAGIC"):  # a weight image is no sample block
        samples.unpack(image.pack(np.arange(4), P.model_digest(art)))


def test_too_many_samples_for_the_flash_are_refused(monkeypatch):
    art = net()
    monkeypatch.setattr(samples, "MAX_WORDS", 20)
    with pytest.raises(ValueError, match="use fewer samples"):
        samples.pack(np.ones((art.steps, 4, art.n_in), np.int64), P.model_digest(art), 32)
    with pytest.raises(ValueError, match="fifo_depth: the on-board benchmark needs >= 18"):
        samples.pack(np.ones((art.steps, 1, art.n_in), np.int64), P.model_digest(art), 17)


def test_compare_counts_every_mismatch_and_check_end_names_the_block():
    art = net()
    counts = np.random.default_rng(2).integers(0, 3, (art.steps, 4, art.n_in))
    expected = run(art, counts).spikes[-1].sum(axis=0)
    from hw.gateware.perf import step_cycles

    lower = step_cycles(art, counts)[0].sum(axis=0)
    results = [P.SampleResult(expected[b].astype(np.uint8), int(lower[b]), 1000 * (b + 1)) for b in range(4)]
    end = P.BenchEnd(LoadStatus.OK, 0, 4800)
    labels = expected.argmax(axis=1)
    good = bench.compare(art, counts, labels, results, end, 24_000_000, 256)
    assert good.ok and good.correct == 4 and good.samples_per_s == pytest.approx(4 * 24e6 / 4800)
    results[1] = P.SampleResult(results[1].counts + 1, results[1].cycles, results[1].stamp)
    results[2] = P.SampleResult(results[2].counts, 0, results[2].stamp)  # below the model's lower bound
    bad = bench.compare(art, counts, labels, results, end, 24_000_000, 256)
    assert (bad.counts_equal, bad.cycles_in_bounds, bad.ok) == (3, 3, False)

    block = samples.pack(counts, P.model_digest(art), 256)
    bench.check_end(P.BenchEnd(LoadStatus.OK, samples.trailer(block), 1), block, 4, 4, "program it")
    with pytest.raises(P.ProtocolError, match="another sample block .*: program it"):
        bench.check_end(P.BenchEnd(LoadStatus.OK, samples.trailer(block) ^ 1, 1), block, 4, 4, "program it")
    with pytest.raises(P.ProtocolError, match="did not read: BAD_MAGIC; program it$"):
        bench.check_end(P.BenchEnd(LoadStatus.BAD_MAGIC, 0, 1), block, 0, 4, "program it")
    with pytest.raises(P.ProtocolError, match="3 sample results for a block of 4"):
        bench.check_end(P.BenchEnd(LoadStatus.OK, samples.trailer(block), 1), block, 3, 4, "program it")


def test_cli_refuses_a_bad_sample_count_before_opening_the_port(capsys):
    assert main(["--port", "/dev/nonexistent", "--bench", "0"]) == 2
    assert capsys.readouterr().err == "error: --bench: must be >= 1, got 0\n"


class SimulatedBoard(BenchPort):
    """A board with the benchmark that runs the bundled model exactly as sim/ does: SYNC -> ACK, INFO,
    and BENCH -> a SAMPLE reply per sample of `block` (counts from sim.reference, cycles the model's
    lower bound at `lanes`, 1000 board cycles each), then END with the block's trailer; its INFO says
    `info_lanes` (default `lanes`)."""

    def __init__(self, art, counts, block: bytes, lanes: int = 1, info_lanes: int | None = None):
        info = P.Info(n_in=art.n_in, n_out=art.n_out, fifo_depth=256, clock_hz=24_000_000, model=P.model_digest(art),
                      caps=P.bench_caps(info_lanes or lanes))
        from hw.gateware.perf import step_cycles

        expected = run(art, counts).spikes[-1].sum(axis=0)
        lower = step_cycles(art, counts, lanes=lanes)[0].sum(axis=0)
        replies = b"".join(bytes([P.REPLY_SAMPLE, *expected[b]]) + int(lower[b]).to_bytes(4, "little")
                           + (1000 * (b + 1)).to_bytes(4, "little") for b in range(counts.shape[1]))
        replies += bytes([P.REPLY_BENCH_END, LoadStatus.OK]) + samples.trailer(block).to_bytes(4, "little")
        replies += (1000 * counts.shape[1]).to_bytes(4, "little")
        super().__init__(b"", replies)
        self.info = bytes([P.REPLY_INFO_CAPS]) + P.info_bytes(info) + bytes([0, info.caps])

    def write(self, data: bytes) -> None:
        super().write(data)
        self.out += {bytes([P.SYNC]): bytes([P.REPLY_ACK]), bytes([P.INFO]): self.info}.get(data, b"")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cli_writes_the_block_runs_it_and_checks_it_against_sim(tmp_path, monkeypatch, capsys):
    import serial

    from data import spikes_for
    from sim.artifact import load

    art = load()
    counts, labels = spikes_for(art, split="test", limit=3)
    block = samples.pack(counts, P.model_digest(art), 256)
    monkeypatch.setattr(serial, "Serial", lambda *a, **k: SimulatedBoard(art, counts, block))
    path = tmp_path / "s.img"
    assert main(["--port", "sim", "--bench", "3", "--bench-image", str(path), "--timeout", "0"]) == 0
    assert path.read_bytes() == block
    out = capsys.readouterr().out
    assert f"program it with: iceprog -o 2M {path}" in out
    correct = (run(art, counts).spikes[-1].sum(axis=0).argmax(axis=1) == labels).sum()
    assert (f"3 samples on the board: accuracy {correct / 3:.1%}, spike counts equal to sim.reference in 3/3, "
            "core cycles within the cycle model in 3/3") in out
    assert "24,000.0 samples/s = 41.7 us/sample on the board's clock (3000 cycles at 24 MHz" in out

    other = samples.pack(counts[:, :2], P.model_digest(art), 256)  # the flash holds another block
    monkeypatch.setattr(serial, "Serial", lambda *a, **k: SimulatedBoard(art, counts[:, :2], other))
    assert main(["--port", "sim", "--bench", "3", "--bench-image", str(path), "--timeout", "0"]) == 2
    assert "error: the board's flash holds another sample block" in capsys.readouterr().err


def test_bench_checks_cycles_against_the_builds_spram_layout():
    from hw.link.host import build_spram
    from tests.hw.board.test_fit import dense_artifact

    art = dense_artifact((256, 256, 10))  # too big for block RAM: the build puts layer 0's weights in SPRAM
    info = P.Info(n_in=256, n_out=10, fifo_depth=256, clock_hz=24_000_000, model=P.model_digest(art))
    assert build_spram(art, info, "icebreaker") == ()  # no weight image loaded: nothing is in SPRAM
    loaded = P.Info(**{**info.__dict__, "load": LoadStatus.OK})
    assert build_spram(art, loaded, "icebreaker") == ("layer0.synapses",)


def test_cli_checks_cycles_at_the_lanes_the_board_reports(tmp_path, monkeypatch, capsys):
    import serial

    from data import spikes_for
    from hw.gateware.perf import step_cycles
    from sim.artifact import load

    art = load()
    counts, _ = spikes_for(art, split="test", limit=3)
    assert (step_cycles(art, counts, lanes=4)[1] < step_cycles(art, counts)[0]).any()  # 4 lanes count fewer
    block = samples.pack(counts, P.model_digest(art), 256)
    argv = ["--port", "sim", "--bench", "3", "--bench-image", str(tmp_path / "s.img"), "--timeout", "0"]
    monkeypatch.setattr(serial, "Serial", lambda *a, **k: SimulatedBoard(art, counts, block, lanes=4))
    assert main(argv) == 0
    assert "core cycles within the cycle model in 3/3" in capsys.readouterr().out
    # a board whose INFO says 1 lane but counts 4 lanes' cycles is caught
    monkeypatch.setattr(serial, "Serial", lambda *a, **k: SimulatedBoard(art, counts, block, lanes=4, info_lanes=1))
    assert main(argv) == 1
    assert "core cycles within the cycle model in 0/3" in capsys.readouterr().out


@pytest.mark.parametrize("lanes", [1, 4])
def test_a_bench_build_says_its_lanes_in_info(lanes):
    from hw.gateware.core import Core
    from hw.gateware.uart import UARTBridge

    art = random_artifact(np.random.default_rng(lanes), (20, 8, 4), density=0.5, steps=2)
    bridge = UARTBridge(art, clk_hz=24e6, core=Core(art, lanes=lanes), bench=True)
    assert bridge.info.caps & P.CAP_BENCH and bridge.info.lanes == lanes
    assert UARTBridge(art, clk_hz=24e6, core=Core(art, lanes=lanes)).info.caps == 0  # no caps byte without the bench
