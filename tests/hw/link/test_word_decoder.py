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
