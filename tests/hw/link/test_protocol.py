"""Host side of the wire format (hw/link/protocol.py) and the board targets' clock plans.
The gateware side is exercised against these functions in test_uart_link.py."""
import dataclasses

import numpy as np
import pytest

import boards
from boards import clocks
from hw.link import protocol as P
from hw.link.image import LoadStatus


def decode_stream(data: bytes, n_in: int) -> tuple[list[int], list[int]]:
    """Reference decoder written from the module docstring, independent of the encoders:
    (event addresses, command bytes) of a host -> board byte stream."""
    events, commands, mode, value, left, base = [], [], None, 0, 0, 0
    for b in data:
        if b >> 6 == 0b11:
            mode = None
            if b == 0xC4:  # bitmap
                mode, value, left = "start", 0, P.start_bytes(n_in)
            else:
                commands.append(b)
        elif b >> 6 == 0b10:
            mode, value, left = "event", b & 0x3F, P.cont_bytes(n_in)
        elif mode in ("event", "start"):
            value, left = (value << 7) | b, left - 1
        elif mode == "blocks":
            events += [base + i for i in range(7) if b >> i & 1]
            base += 7
        else:
            raise AssertionError(f"continuation byte 0x{b:02x} without a head")
        if mode == "event" and left == 0:
            events.append(value)
            mode = None
        elif mode == "start" and left == 0:
            mode, base = "blocks", 7 * value
    return events, commands


@pytest.mark.parametrize("n_in", [1, 64, 65, 100, 2312, 8192, 8193, 1 << 16])
def test_event_words_round_trip(n_in):
    addrs = np.random.default_rng(n_in).integers(0, n_in, 50)
    data = P.encode_events(addrs, n_in)
    assert len(data) == 50 * (1 + P.cont_bytes(n_in))
    assert decode_stream(data, n_in) == (addrs.tolist(), [])
    heads = [b for b in data if b & 0x80]
    assert len(heads) == 50 and all(b >> 6 == 0b10 for b in heads)  # never looks like a command


@pytest.mark.parametrize("n_in, density, max_count, fifo_depth", [
    (1, 1.0, 1, 8), (7, 1.0, 3, 8), (64, 0.3, 1, 256), (64, 1.0, 1, 8), (100, 0.5, 2, 8), (100, 0.02, 3, 8),
    (784, 0.15, 1, 256), (784, 0.9, 2, 256), (2312, 0.4, 1, 256), (8193, 0.5, 1, 4), (1 << 16, 0.01, 2, 256)])
def test_step_chunks_round_trip_within_the_credit(n_in, density, max_count, fifo_depth):
    rng = np.random.default_rng(n_in)
    counts = rng.integers(1, max_count + 1, n_in) * (rng.random(n_in) < density)
    chunks = P.step_chunks(counts, n_in, fifo_depth)
    got = []
    for i, chunk in enumerate(chunks):
        events, commands = decode_stream(chunk.data, n_in)
        assert commands == [P.STEP if i == len(chunks) - 1 else P.SYNC] and chunk.data[-1] == chunk.command
        assert chunk.words == len(events) + 1 <= fifo_depth
        got += events
    np.testing.assert_array_equal(np.bincount(got, minlength=n_in), counts)


@pytest.mark.parametrize("seed", range(6))
def test_one_chunk_says_what_step_chunks_does_without_encoding(seed):
    rng = np.random.default_rng(seed)
    n_in, fifo_depth = int(rng.integers(1, 300)), int(rng.integers(2, 40))
    steps = rng.integers(0, 3, (5, 40, n_in)) * (rng.random((5, 40, n_in)) < rng.random((5, 40, 1)) * 0.3)
    expected = [[len(P.step_chunks(step, n_in, fifo_depth)) == 1 for step in sample] for sample in steps]
    got = P.one_chunk(steps, fifo_depth)
    assert got.tolist() == expected and 0 < got.sum() < got.size  # both answers occur


def test_dense_steps_cost_a_bitmap_and_sparse_ones_an_address_list():
    n_in = 784
    full = P.step_chunks(np.ones(n_in, int), n_in, 256)
    assert len(full) == 4  # 784 events, 255 per chunk
    # 112 blocks of 7 inputs, a head and a one-byte first block per chunk, and its command
    assert sum(len(c.data) for c in full) == 112 + len(full) * (2 + 1)
    counts = np.zeros(n_in, int)
    counts[[3, 500]] = 1
    counts[500] = 2  # a repeat: plane 1 holds input 500 once more
    (sparse,) = P.step_chunks(counts, n_in, 256)
    assert sparse.data == P.encode_events([3, 500, 500], n_in) + bytes([P.STEP])
    # blocks 1..3 (inputs 7..27): 10, 12, 13 = bits 3, 5, 6 of block 1; block 2 empty; 27 = bit 6 of block 3
    assert P.encode_bitmap([10, 12, 13, 27], n_in) == bytes([0xC4, 1, 0b110_1000, 0, 0b100_0000])


def test_step_chunks_refuse_bad_counts():
    with pytest.raises(ValueError, match="counts"):
        P.step_chunks(np.ones(5, int), 6, 8)
    with pytest.raises(ValueError, match="counts"):
        P.step_chunks(-np.ones(6, int), 6, 8)
    with pytest.raises(ValueError, match="bitmap"):
        P.encode_bitmap([1, 1], 6)


def test_default_baud_is_exact_at_the_icebreaker_clock():
    assert P.uart_divisor(24e6, P.DEFAULT_BAUD) == 8 and 24e6 / 8 == P.DEFAULT_BAUD
    with pytest.raises(ValueError, match="--baud: 2500000 is not within 2%"):
        P.uart_divisor(24e6, 2_500_000)  # 24 MHz / 10 = 2.4 Mbaud: 4 % off


def test_host_checks_the_baud_rate_against_the_board_clock():
    from hw.link.host import check_baud

    board = P.Info(n_in=64, n_out=10, fifo_depth=256, clock_hz=24_000_000, model=0)
    check_baud(board, 3_000_000)
    check_baud(board, 115_200)
    with pytest.raises(P.ProtocolError, match="--baud 2500000: the board's 24 MHz clock cannot make it"):
        check_baud(board, 2_500_000)


def test_one_byte_per_event_up_to_64_inputs():
    assert P.cont_bytes(64) == 0 and P.cont_bytes(65) == 1


def test_encode_rejects_bad_addresses():
    with pytest.raises(ValueError, match="events"):
        P.encode_events([0, 64], 64)


def test_step_reply_decoding():
    reply = bytes([P.REPLY_STEP, 0b0000_0101, 0b10, 0x34, 0x12, 0, 0])
    spikes, cycles = P.decode_step(reply, 10)
    assert spikes.tolist() == [1, 0, 1, 0, 0, 0, 0, 0, 0, 1] and cycles == 0x1234


@pytest.mark.parametrize("reply, message", [
    (bytes([P.REPLY_ACK, 0, 0, 0, 0, 0, 0]), "header 0xb0"),
    (bytes([P.REPLY_STEP | P.FLAG_OVERRUN, 0, 0, 0, 0, 0, 0]), "FIFO overrun"),
    (bytes([P.REPLY_STEP, 0]), "timeout"),
])
def test_bad_replies_raise(reply, message):
    with pytest.raises(P.ProtocolError, match=message):
        P.decode_step(reply, 10)


def test_info_round_trip():
    info = P.Info(n_in=2312, n_out=10, fifo_depth=256, clock_hz=24_000_000, model=0xDEADBEEF)
    assert P.decode_info(bytes([P.REPLY_INFO]) + P.info_bytes(info)) == info


# INFO replies written byte by byte from docs/build.md, not from INFO_FIELDS.
INFO_GOLDEN = bytes([0x08, 0x09, 0x0A, 0x00, 0x00, 0x01, 0x00, 0x36, 0x6E, 0x01, 0xEF, 0xBE, 0xAD, 0xDE])


def test_info_golden_bytes_without_and_with_a_load_status():
    plain = P.decode_info(bytes([0xD0]) + INFO_GOLDEN)
    assert plain == P.Info(n_in=2312, n_out=10, fifo_depth=256, clock_hz=24_000_000, model=0xDEADBEEF)
    assert plain.load == LoadStatus.NONE and P.info_reply_len(0xD0) == 15
    booted = P.decode_info(bytes([0xE0 | 0x08]) + INFO_GOLDEN + bytes([5]))  # HELD, BAD_DIGEST
    assert booted.load == LoadStatus.BAD_DIGEST and booted.model == 0xDEADBEEF and P.info_reply_len(0xE8) == 16
    assert P.decode_info(bytes([0xE0]) + INFO_GOLDEN + bytes([2])).load == LoadStatus.OK


@pytest.mark.parametrize("reply, message", [
    (bytes([0xE0]) + INFO_GOLDEN, "15 bytes"),  # the load status is missing
    (bytes([0xE0]) + INFO_GOLDEN + bytes([9]), "unknown load status 9"),
    (bytes([0xE0]) + INFO_GOLDEN + bytes([0]), "unknown load status 0"),  # NONE is never sent
    (b"", "timeout"),
])
def test_bad_info_replies_raise(reply, message):
    with pytest.raises(P.ProtocolError, match=message):
        P.decode_info(reply)


def test_held_flag_is_an_error_on_step_and_ack():
    with pytest.raises(P.ProtocolError, match="holds its core"):
        P.decode_step(bytes([0xA8, 0, 0, 0, 0, 0, 0]), 10)
    with pytest.raises(P.ProtocolError, match="holds its core"):
        P.decode_ack(bytes([0xB8]))


def test_model_digest_follows_the_weights():
    from sim.artifact import load
    import dataclasses

    art = load()
    layer = art.layers[0]
    val = layer.val.copy()
    val[0] = -val[0] if val[0] else 1
    changed = dataclasses.replace(art, layers=(dataclasses.replace(layer, val=val),) + art.layers[1:])
    assert P.model_digest(art) == P.model_digest(load()) != P.model_digest(changed)


@pytest.mark.parametrize("name, mhz", [("icebreaker", 24), ("icebreaker", 30), ("icesugar", 36), ("ulx3s-85f", 50),
                                       ("ulx3s-12f", 40)])
def test_pll_settings_are_legal_and_exact(name, mhz):
    board = boards.get(name)
    pll = clocks.plan(board, mhz * 1e6)
    p, fin = pll.params, board.clock_hz / 1e6
    if board.family.name == "ice40":
        pfd = fin / (p["DIVR"] + 1)
        vco = pfd * (p["DIVF"] + 1)
        assert clocks.ICE40_PFD[0] <= pfd <= clocks.ICE40_PFD[1] and clocks.ICE40_VCO[0] <= vco <= clocks.ICE40_VCO[1]
        out = vco / 2 ** p["DIVQ"]
    else:
        out = fin / p["CLKI_DIV"] * p["CLKFB_DIV"]
        assert clocks.ECP5_VCO[0] <= out * p["CLKOP_DIV"] <= clocks.ECP5_VCO[1]
    assert out == pytest.approx(mhz) and pll.out_hz == pytest.approx(mhz * 1e6)


def test_unreachable_clock_and_unknown_board():
    with pytest.raises(ValueError, match="--clock-mhz"):
        clocks.plan(boards.get("icebreaker"), 300e6)
    assert clocks.plan(boards.get("icebreaker"), 12e6) is None  # straight from the oscillator
    with pytest.raises(ValueError, match="--board: unknown board 'nexys'"):
        boards.get("nexys")


def test_host_refuses_a_board_with_another_model():
    from hw.link.host import check_model
    from sim.artifact import load

    art = load()
    good = P.Info(n_in=art.n_in, n_out=art.n_out, fifo_depth=256, clock_hz=24_000_000, model=P.model_digest(art))
    check_model(good, art)
    with pytest.raises(P.ProtocolError, match="build and flash the artifact first"):
        check_model(P.Info(art.n_in, art.n_out, 256, 24_000_000, good.model ^ 1), art)
    check_model(dataclasses.replace(good, load=LoadStatus.OK), art)
    for status in LoadStatus:
        if status not in (LoadStatus.NONE, LoadStatus.OK):
            with pytest.raises(P.ProtocolError, match=f"weight image did not load: {status.name} "):
                check_model(dataclasses.replace(good, load=status), art)


class FakePort:
    """Answers INFO with a canned reply, `n` bytes at a time as a serial port would."""

    def __init__(self, reply: bytes):
        self.reply = reply

    def write(self, data: bytes) -> None:
        assert data == bytes([P.INFO])

    def read(self, n: int) -> bytes:
        out, self.reply = self.reply[:n], self.reply[n:]
        return out


@pytest.mark.parametrize("header, tail, load", [(0xD0, b"", LoadStatus.NONE), (0xE8, bytes([7]), LoadStatus.BAD_CRC)])
def test_link_reads_both_info_lengths(header, tail, load):
    from hw.link.host import Link

    assert Link(FakePort(bytes([header]) + INFO_GOLDEN + tail)).info().load == load
