"""The wire format (hw.link.protocol) at its edges, with bytes, sizes and messages written out by hand
from its docstring: where a step goes as a bitmap rather than an address list, how a bitmap is cut
to the board's credit, the reply lengths, the model digest's byte layout and the error lines."""
import dataclasses
import hashlib
import struct

import numpy as np
import pytest

from hw.link import protocol as P
from sim.artifact import Artifact, Layer

SYNC, STEP, BITMAP = 0xC2, 0xC0, 0xC4


def chunks(on, n_in, fifo_depth, count=1):
    counts = np.zeros(n_in, int)
    counts[list(on)] = count
    return [(c.data, c.words, c.command) for c in P.step_chunks(counts, n_in, fifo_depth)]


@pytest.mark.parametrize("n_in, first_block_bytes", [
    (7, 1), (896, 1),  # blocks 0..127: 7 bits
    (897, 2), (903, 2),  # block 128 needs an 8th bit
    (1 << 16, 2),  # 9363 blocks: 14 bits
])
def test_bitmap_first_block_field(n_in, first_block_bytes):
    assert P.start_bytes(n_in) == first_block_bytes


def test_bitmap_bytes_across_the_first_block_field_boundary():
    # input 896 = block 128 bit 0; block 128 = 0b1_0000000 goes as 0000001, 0000000
    assert P.encode_bitmap([896, 902], 903) == bytes([BITMAP, 0b1, 0b0, 0b100_0001])


def test_empty_step_is_a_bare_step_command():
    assert chunks([], 64, 8) == [(bytes([STEP]), 1, STEP)]


def test_address_list_until_a_bitmap_is_strictly_shorter():
    # 64 inputs: one byte per event; a bitmap of one block costs head + first block + block = 3 bytes.
    assert chunks([0, 1, 2], 64, 16) == [(bytes([0x80, 0x81, 0x82, STEP]), 4, STEP)]
    assert chunks([0, 1, 2, 3], 64, 16) == [(bytes([BITMAP, 0, 0b1111, STEP]), 5, STEP)]
    # 100 inputs: two bytes per event, so two events in one block already cost more than 3 bytes.
    assert chunks([7, 8], 100, 16) == [(bytes([BITMAP, 1, 0b11, STEP]), 3, STEP)]
    assert chunks([7], 100, 16) == [(bytes([0x80, 7, STEP]), 2, STEP)]
    # Blocks 2..4 (span 3) cost 5 bytes: not shorter than 5 one-byte events, shorter than 6.
    assert chunks([14, 20, 21, 27, 34], 64, 16) == [(bytes([0x80 | a for a in [14, 20, 21, 27, 34]] + [STEP]), 6, STEP)]
    assert chunks([15, 20, 21, 27, 34], 64, 16) == [(bytes([0x80 | a for a in [15, 20, 21, 27, 34]] + [STEP]), 6, STEP)]
    assert chunks([14, 20, 21, 27, 33, 34], 64, 16) == [
        (bytes([BITMAP, 2, 0b100_0001, 0b100_0001, 0b110_0000, STEP]), 7, STEP)]


def test_a_bitmap_needs_a_whole_block_of_credit():
    # fifo_depth 8 leaves 7 events per chunk: just a block. fifo_depth 7 leaves 6: address lists only.
    assert chunks(range(7), 64, 8) == [(bytes([BITMAP, 0, 0x7F, STEP]), 8, STEP)]
    assert chunks(range(6), 64, 7) == [(bytes([0x80 | a for a in range(6)] + [STEP]), 7, STEP)]


def test_address_lists_fill_the_credit_exactly():
    assert chunks(range(5), 64, 3) == [(bytes([0x80, 0x81, SYNC]), 3, SYNC), (bytes([0x82, 0x83, SYNC]), 3, SYNC),
                                       (bytes([0x84, STEP]), 2, STEP)]
    # the smallest FIFO the rule allows: one event and its command
    assert chunks([4, 9], 64, 2) == [(bytes([0x84, SYNC]), 2, SYNC), (bytes([0x89, STEP]), 2, STEP)]


def test_bitmaps_are_cut_between_blocks():
    # 14 events in blocks 0 and 1, 7 per chunk: one block each.
    assert chunks(range(14), 64, 8) == [(bytes([BITMAP, 0, 0x7F, SYNC]), 8, SYNC), (bytes([BITMAP, 1, 0x7F, STEP]), 8, STEP)]
    # Count 2: plane 1 finds the chunk full (no room at all) and starts the next one.
    assert chunks(range(7), 64, 8, count=2) == [(bytes([BITMAP, 0, 0x7F, SYNC]), 8, SYNC),
                                                (bytes([BITMAP, 0, 0x7F, STEP]), 8, STEP)]


def test_fifo_depth_below_two_is_refused():
    with pytest.raises(ValueError, match=r"^fifo_depth: must be >= 2, got 1$"):
        P.step_chunks(np.zeros(4, int), 4, 1)


def test_event_words_of_any_shape_and_integer_type_go_in_order():
    assert P.encode_events(np.array([[1, 2], [3, 4]]), 64) == bytes([0x81, 0x82, 0x83, 0x84])
    assert P.encode_events(np.array([5, 100], np.int8), 128) == bytes([0x80, 5, 0x80, 100])
    assert P.encode_bitmap(np.array([[1, 2], [3, 4]]), 64) == bytes([BITMAP, 0, 0b1_1110])


@pytest.mark.parametrize("addrs", [[-1, 3], [64], [], [3, 3]])
def test_bitmap_refuses_what_the_board_cannot_expand(addrs):
    with pytest.raises(ValueError, match=r"^bitmap: needs distinct addresses inside 0\.\.63$"):
        P.encode_bitmap(addrs, 64)


def test_event_refusal_names_the_range():
    with pytest.raises(ValueError, match=r"^events: address outside 0\.\.63$"):
        P.encode_events([64], 64)


@pytest.mark.parametrize("clk_hz, baud, divisor", [
    (12e6, 3_000_000, 4),  # the fastest the receiver samples
    (10.2e6, 1_000_000, 10),  # exactly 2 % fast
    (50e6, 3_000_000, 17),  # the ULX3S at 3 Mbaud: 1.96 % slow
])
def test_baud_rates_within_two_percent_of_an_integer_divisor(clk_hz, baud, divisor):
    assert P.uart_divisor(clk_hz, baud) == divisor


def test_baud_refusal_names_the_clock():
    with pytest.raises(ValueError, match=r"^--baud: 4000000 is not within 2% of 12 MHz / an integer >= 4$"):
        P.uart_divisor(12e6, 4_000_000)


def test_step_reply_of_whole_and_many_bytes():
    assert P.spike_bytes(8) == 1 and P.step_reply_len(8) == 1 + 1 + 4
    # 48 neurons: 6 spike bytes, more than the 4 cycle bytes after them
    reply = bytes([0xA0, 0x01, 0, 0, 0, 0, 0x80, 0x10, 0, 0, 0])
    spikes, cycles = P.decode_step(reply, 48)
    assert np.flatnonzero(spikes).tolist() == [0, 47] and spikes.size == 48 and cycles == 16


@pytest.mark.parametrize("header, message", [
    (0xA1, r"^STEP reply: the board reports framing error$"),
    (0xA2, r"^STEP reply: the board reports FIFO overrun$"),
    (0xA4, r"^STEP reply: the board reports address out of range$"),
    (0xA5, r"^STEP reply: the board reports framing error, address out of range$"),
    (0xB0, r"^STEP reply: header 0xb0, expected 0xa0\|flags \(link out of step: wrong baud rate, wrong bitstream or "
           r"a lost byte\)$"),
    (0xA8, r"^STEP reply: the board holds its core: its weight image did not load \(python -m hw\.run names the "
           r"load status\)$"),
])
def test_step_reply_errors_say_what_the_user_sees(header, message):
    with pytest.raises(P.ProtocolError, match=message):
        P.decode_step(bytes([header, 0, 0, 0, 0, 0, 0]), 10)


@pytest.mark.parametrize("reply, message", [
    (b"", r"^ACK reply: no answer \(timeout\?\)$"),
    (bytes([0xA0]), r"^ACK reply: header 0xa0, expected 0xb0\|flags"),
    (bytes([0xB1]), r"^ACK reply: the board reports framing error$"),
])
def test_ack_errors_say_what_the_user_sees(reply, message):
    with pytest.raises(P.ProtocolError, match=message):
        P.decode_ack(reply)


INFO = bytes([0x08, 0x09, 0x0A, 0x00, 0x00, 0x01, 0x00, 0x36, 0x6E, 0x01, 0xEF, 0xBE, 0xAD, 0xDE])


@pytest.mark.parametrize("reply, message", [
    (bytes([0xE1]) + INFO + bytes([2]), r"^INFO reply: the board reports framing error$"),
    (bytes([0xD0, 1, 2]), r"^INFO reply: 3 bytes, expected 15, 16 or 17 \(timeout\?\)$"),
])
def test_info_errors_say_what_the_user_sees(reply, message):
    with pytest.raises(P.ProtocolError, match=message):
        P.decode_info(reply)


def tiny_artifact() -> Artifact:
    layer = Layer.from_dense([[3, 0], [0, -2]], w_bits=4, theta=5, leak_b=200, leak_f=8, reset="zero")
    return Artifact.create([layer], input_max_count=2, steps=6)


def digest_by_hand(art: Artifact) -> int:
    """sha256 over little-endian int64 fields as docs/build.md lists them; the first 4 bytes, little-endian."""
    q = lambda *values: struct.pack(f"<{len(values)}q", *values)  # noqa: E731
    h = hashlib.sha256(q(art.input_max_count, art.steps, len(art.layers)))
    for l in art.layers:
        h.update(q(l.n_in, l.n_out, l.w_bits, l.leak_f, ["subtract", "zero"].index(l.reset), l.v_min, l.v_max))
        for name in ("ptr", "idx", "val", "theta", "bias", "leak_b"):
            h.update(q(*np.ravel(getattr(l, name)).tolist()))
    return struct.unpack("<I", h.digest()[:4])[0]


def test_model_digest_byte_layout():
    art = tiny_artifact()
    assert P.model_digest(art) == digest_by_hand(art)


@pytest.mark.parametrize("change", [
    lambda a: dataclasses.replace(a, steps=a.steps + 1),
    lambda a: dataclasses.replace(a, input_max_count=3),
    lambda a: dataclasses.replace(a, layers=(dataclasses.replace(a.layers[0], reset="subtract"),)),
    lambda a: dataclasses.replace(a, layers=(dataclasses.replace(a.layers[0], v_max=a.layers[0].v_max + 1),)),
    lambda a: dataclasses.replace(a, layers=(dataclasses.replace(a.layers[0], leak_f=7),)),
])
def test_model_digest_covers_the_shape_and_bound(change):
    art = tiny_artifact()
    assert P.model_digest(change(art)) != P.model_digest(art)


# The on-board benchmark's replies (docs/build.md): SAMPLE = 0x80|flags, a count byte per output
# neuron, the core's cycles and the board's cycle stamp (4 bytes each, little-endian); the end reply
# 0x90|flags, the sample block's status, its CRC-32 and the final stamp.

def test_bench_reply_sizes_and_credit():
    assert [P.sample_reply_len(n) for n in (1, 3, 10)] == [10, 12, 19]
    assert P.BENCH_END_REPLY_LEN == 10
    assert [P.bench_credit(d) for d in (18, 19, 256)] == [2, 3, 240]  # 16 words kept free
    with pytest.raises(ValueError, match=r"^fifo_depth: the on-board benchmark needs >= 18, got 17$"):
        P.bench_credit(17)


def test_sample_reply_golden_bytes():
    got = P.decode_sample(bytes([0x80, 255, 0, 7, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00, 0x00, 0x80]), 3)
    assert got.counts.tolist() == [255, 0, 7] and got.counts.dtype == np.uint8 and got.counts.flags.writeable
    assert (got.cycles, got.stamp) == (2**32 - 1, 2**31 + 1)
    with pytest.raises(P.ProtocolError, match=r"^SAMPLE reply: 11 bytes, expected 12 \(timeout\?\)$"):
        P.decode_sample(bytes(11), 3)
    with pytest.raises(P.ProtocolError, match=r"^SAMPLE reply: header 0x90, expected 0x80\|flags"):
        P.decode_sample(bytes([0x90]) + bytes(11), 3)


def test_bench_end_reply_golden_bytes():
    end = P.decode_bench_end(bytes([0x90, 7, 0x78, 0x56, 0x34, 0x12, 0x04, 0x03, 0x02, 0x01]))
    assert end == P.BenchEnd(P.LoadStatus.BAD_CRC, 0x1234_5678, 0x0102_0304)
    with pytest.raises(P.ProtocolError, match=r"^BENCH end reply: 9 bytes, expected 10 \(timeout\?\)$"):
        P.decode_bench_end(bytes([0x90]) + bytes(8))
    for status in (0, 1, 8):  # NONE and LOADING never end a benchmark; 8 is no status at all
        with pytest.raises(P.ProtocolError, match=rf"^BENCH end reply: unknown sample block status {status}$"):
            P.decode_bench_end(bytes([0x90, status]) + bytes(8))


@pytest.mark.parametrize("header, message", [
    (0xA0, r"^BENCH reply: header 0xa0, expected 0x80\|flags \(link out of step"),
    (0x81, r"^BENCH reply: the board reports framing error$"),
    (0x96, r"^BENCH reply: the board reports FIFO overrun, address out of range$"),
    (0x88, r"^BENCH reply: the board holds its core"),
])
def test_bench_reply_kind_refusals(header, message):
    with pytest.raises(P.ProtocolError, match=message):
        P.reply_kind(header)


def test_bench_reply_kinds():
    assert (P.reply_kind(0x80), P.reply_kind(0x90)) == (0x80, 0x90)


def test_info_capabilities_carry_the_builds_lanes():
    # 0xF0, n_in 784, n_out 10, FIFO 256, 24 MHz, digest, load NONE, caps 0b101: BENCH, log2 lanes = 2
    info = P.decode_info(bytes([0xF0, 0x10, 0x03, 0x0A, 0x00, 0x00, 0x01, 0x00, 0x36, 0x6E, 0x01,
                                0xEF, 0xBE, 0xAD, 0xDE, 0x00, 0b101]))
    assert (info.n_in, info.caps & P.CAP_BENCH, info.lanes) == (784, 1, 4)
    assert P.bench_caps(4) == 0b101 and P.bench_caps(2) == 0b011 and P.bench_caps(1) == 0b001
    # a bench build from before lanes sends caps 1, and builds without the benchmark no caps: 1 lane
    assert P.decode_info(bytes([0xF0]) + bytes(14) + bytes([0, 1])).lanes == 1
    assert P.decode_info(bytes([0xD0]) + bytes(14)).lanes == 1
    with pytest.raises(ValueError, match="^lanes: INFO carries a power of two up to 8, got 3$"):
        P.bench_caps(3)
