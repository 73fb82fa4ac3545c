"""The gateware word decoder (hw.gateware.uart.WordDecoder) in Amaranth's simulator against the host
encoder (hw.link.protocol.step_chunks): address lists and bitmaps decode to the same events."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.gateware.uart import WordDecoder
from hw.link import protocol as P

BYTE_CYCLES = 40  # one byte at the fastest UART the receiver allows: 10 bits of 4 clocks


def decode(n_in: int, data: bytes) -> tuple[list[tuple[int, int]], dict]:
    """Feed `data` a byte every BYTE_CYCLES clocks; return the (event, value) words and the flags seen."""
    dut = WordDecoder(n_in)
    words, flags = [], {"framing": 0, "overrun": 0, "range": 0}
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        ctx.set(dut.words.ready, 1)
        for byte in data:
            for cycle in range(BYTE_CYCLES):
                ctx.set(dut.bytes.valid, cycle == 0)
                ctx.set(dut.bytes.payload, byte)
                await ctx.tick()
                if ctx.get(dut.words.valid):  # ready is always high: each word is valid one cycle
                    words.append((ctx.get(dut.words.payload.event), ctx.get(dut.words.payload.value)))
                for name in flags:
                    flags[name] += ctx.get(getattr(dut, name))

    sim.add_testbench(bench)
    sim.run()
    return words, flags


@pytest.mark.parametrize("n_in, density, max_count, fifo_depth", [
    (64, 0.9, 1, 256), (100, 0.5, 2, 8), (100, 0.03, 3, 8), (1000, 0.6, 1, 64)])
def test_decoder_expands_what_the_host_encodes(n_in, density, max_count, fifo_depth):
    rng = np.random.default_rng(n_in)
    counts = rng.integers(1, max_count + 1, n_in) * (rng.random(n_in) < density)
    chunks = P.step_chunks(counts, n_in, fifo_depth)
    assert any(P.BITMAP in c.data for c in chunks) == (density > 0.1)  # both encodings are exercised
    words, flags = decode(n_in, b"".join(c.data for c in chunks))
    assert flags == {"framing": 0, "overrun": 0, "range": 0}
    assert [v for e, v in words if not e] == [c.command & 0x3F for c in chunks]
    np.testing.assert_array_equal(np.bincount([v for e, v in words if e], minlength=n_in), counts)


def test_decoder_flags_a_cut_bitmap_and_inputs_past_n_in():
    n_in = 1000  # two bytes of first block
    bitmap = P.encode_bitmap([0, 999], n_in)
    words, flags = decode(n_in, bitmap[:2] + bytes([P.SYNC]))  # the first block cut short
    assert words == [(0, P.SYNC & 0x3F)] and flags["framing"] == 1
    # block 142 covers inputs 994..1000: bit 6 is input 1000, one past the last
    words, flags = decode(n_in, P.encode_bitmap([994], n_in)[:-1] + bytes([0b100_0001, P.SYNC]))
    assert words == [(1, 994), (0, P.SYNC & 0x3F)] and flags == {"framing": 0, "overrun": 0, "range": 1}


def feed_at_full_speed(n_in: int, data: bytes) -> tuple[list[tuple[int, int]], dict, int]:
    """Feed `data` as the benchmark's feed does, without waiting for the flash or the FIFO: a clock to
    take each two-byte word, then each byte once the decoder is `free` for it. Return the words, the
    flags, and the clock of the last byte + 1."""
    dut = WordDecoder(n_in, P.BENCH_COMMANDS)
    words, flags, last = [], {"framing": 0, "overrun": 0, "range": 0}, [0]
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def bench(ctx):
        clock = 0

        async def tick(valid):
            nonlocal clock
            ctx.set(dut.bytes.valid, valid)
            ctx.set(dut.words.ready, 1)
            taken = ctx.get(dut.words.valid)
            word = (ctx.get(dut.words.payload.event), ctx.get(dut.words.payload.value))
            await ctx.tick()
            clock += 1
            if taken:
                words.append(word)
            for name in flags:
                flags[name] += ctx.get(getattr(dut, name))

        for i, byte in enumerate(data):
            if i % 2 == 0:  # the word's take clock
                await tick(0)
            ctx.set(dut.bytes.payload, byte)
            while not ctx.get(dut.free):
                await tick(0)
            await tick(1)
        last[0] = clock
        for _ in range(4 * P.BLOCK_BITS):
            await tick(0)

    sim.add_testbench(bench)
    sim.run()
    return words, flags, last[0]


@pytest.mark.parametrize("n_in, density, max_count", [(100, 0.5, 2), (1000, 0.6, 1), (1000, 0.02, 2)])
def test_decoder_loses_nothing_at_the_benchmarks_pace_which_its_model_predicts(n_in, density, max_count):
    """The benchmark's feed offers bytes as soon as `free` allows (a block byte right after the last
    block byte's highest bit, a command right after an event): every event arrives, and the clocks
    are exactly uart.bench_feed_cycles'."""
    from hw.gateware.uart import bench_feed_cycles

    rng = np.random.default_rng(n_in + max_count)
    counts = rng.integers(1, max_count + 1, n_in) * (rng.random(n_in) < density)
    data = b"".join(c.data for c in P.step_chunks(counts, n_in, 64))
    data += bytes([P.SYNC]) * (len(data) % 2)
    words, flags, clocks = feed_at_full_speed(n_in, data)
    assert flags == {"framing": 0, "overrun": 0, "range": 0}
    np.testing.assert_array_equal(np.bincount([v for e, v in words if e], minlength=n_in), counts)
    assert clocks == bench_feed_cycles(data, n_in)
    assert clocks < len(data) // 2 * (2 * (P.BLOCK_BITS + 1) + 1)  # faster than a fixed 17 clocks per word
