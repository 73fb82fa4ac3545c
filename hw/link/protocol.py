"""The UART wire format between the host (`hw.run`) and the board (`hw.gateware.uart.UARTBridge`).

One module holds every constant and byte layout so the gateware and the host cannot drift apart;
docs/build.md describes the format for humans.

Host -> board, a self-synchronising byte stream (bit 7 tells a word's first byte from the rest,
so a lost byte costs one word, never the alignment of everything after it):

* event:   ``10hhhhhh`` then ``cont`` bytes ``0lllllll``: an input address, most significant bits
           first; ``cont = ceil((addr_bits - 6) / 7)`` (0 for up to 64 inputs);
* bitmap:  ``0xC4`` then ``start_bytes`` bytes ``0sssssss`` (the first block, most significant
           bits first) then any number of block bytes ``0bbbbbbb``: block b covers inputs 7b..7b+6,
           bit i set = one event at input 7b+i; the next head byte ends it. The board expands it
           into one event per set bit, so a bitmap costs the FIFO as many words as it has events;
* command: ``11cccccc``: STEP (run one time step on the events sent since the last STEP and
           reply with its output spikes), CLEAR (zero the network state: a new sample), SYNC
           (reply once everything sent before it was consumed), INFO (reply with the build's shape).

`step_chunks` encodes a step's input counts: count c at input j is j in the planes 0..c-1 (plane
k = the inputs counted more than k times), and each plane goes as an address list or as a bitmap
of the blocks from its first to its last event, whichever is shorter: a dense step costs about
n_in/7 bytes per plane instead of 1-2 bytes per event.

Board -> host, one reply per command (STEP, CLEAR, SYNC, INFO), little-endian fields:

* STEP:  ``0xA0|flags``, ``ceil(n_out/8)`` spike bytes (neuron i = bit i%8 of byte i//8), cycles u32;
* ACK:   ``0xB0|flags`` (CLEAR and SYNC);
* INFO:  ``0xD0|flags``, n_in u16, n_out u16, fifo depth u16, clock Hz u32, model digest u32;
           a build that boots its weights from a flash image (hw/link/image.py) answers
           ``0xE0|flags`` and the same fields, then the loader's status u8 (`LoadStatus`), so a
           build without one sends the same bytes (and has the same bitstream) as before images;
           a build with the on-board benchmark answers ``0xF0|flags``, the fields, the load status
           and a capabilities u8: bit 0 CAP_BENCH, bits 1-2 log2 of its lanes (synapses per clock,
           which the benchmark's cycle check needs; a bench build older than lanes sends 0: 1 lane).

``flags`` collect errors since the previous reply: FRAMING (a stop bit or a continuation byte
out of place), OVERRUN (a word arrived while the FIFO was full: the host broke the credit rule),
RANGE (an event address >= n_in, dropped); and HELD on every reply while the core is held because
its image did not load: events are dropped, STEP replies carry no spikes.

Credit rule: the board buffers `fifo_depth` words (events and commands); the host never has more
words in flight than that, which it guarantees by sending SYNC and waiting for its ACK.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from sim.artifact import RESETS, unsigned_bits

from .image import LoadStatus

EVENT_TAG = 0b10 << 6
COMMAND_TAG = 0b11 << 6
HEAD_BITS = 6  # payload bits in a word's first byte
CONT_BITS = 7  # payload bits in each continuation byte

STEP, CLEAR, SYNC, INFO = COMMAND_TAG | 0, COMMAND_TAG | 1, COMMAND_TAG | 2, COMMAND_TAG | 3
COMMANDS = (STEP, CLEAR, SYNC, INFO)  # the commands that reach the board's FIFO
BITMAP = COMMAND_TAG | 4  # opens a bitmap word: expanded into events by the board's word decoder
BLOCK_BITS = 7  # inputs per bitmap block byte
# Run the sample block in the flash (hw/link/samples.py) and reply per sample: only builds with the
# on-board benchmark take it (CAP_BENCH in INFO); any other answers with the FRAMING flag.
BENCH = COMMAND_TAG | 5
BENCH_COMMANDS = COMMANDS + (BITMAP, BENCH)  # a bench build's command codes (BITMAP never reaches the FIFO)
# Words a bench build keeps free in its FIFO, beside those its word decoder still holds, before it
# reads the next flash word: two bytes of bitmap blocks expand to 2 * 7 events, and 2 words spare
# (the sample blocks' chunk size from before the bridge counted its decoder's words exactly). The
# sample block's chunks leave this room (`bench_credit`).
BENCH_MARGIN = 2 * BLOCK_BITS + 2

# iCEBreaker: 24 MHz / 3 Mbaud = 8 clocks per bit exactly, and the FT2232H makes 3 Mbaud exactly
# (12 MHz / 4). At the ULX3S's 50 MHz it is 2 % off (17 clocks): --baud 2000000 is exact there.
DEFAULT_BAUD = 3_000_000

REPLY_STEP, REPLY_ACK, REPLY_INFO, REPLY_INFO_LOAD = 0xA0, 0xB0, 0xD0, 0xE0
REPLY_SAMPLE, REPLY_BENCH_END, REPLY_INFO_CAPS = 0x80, 0x90, 0xF0  # replies of builds with the bench
FLAG_FRAMING, FLAG_OVERRUN, FLAG_RANGE, FLAG_HELD = 1, 2, 4, 8
INFO_FIELDS = (("n_in", 2), ("n_out", 2), ("fifo_depth", 2), ("clock_hz", 4), ("model", 4))
LOAD_FIELD = ("load", 1)  # after INFO_FIELDS in a REPLY_INFO_LOAD and a REPLY_INFO_CAPS
CAPS_FIELD = ("caps", 1)  # after LOAD_FIELD in a REPLY_INFO_CAPS
CAP_BENCH = 1  # the on-board benchmark: BENCH runs the flash's sample block
CAP_LANES_SHIFT, CAP_LANES_BITS = 1, 2  # caps bits 1-2: log2 of the build's lanes
CYCLE_BYTES = 4
BENCH_END_FIELDS = (("status", 1), ("trailer", 4), ("stamp", CYCLE_BYTES))


class ProtocolError(RuntimeError):
    """The board's reply does not match the wire format or reports a link error."""


def addr_bits(n_in: int) -> int:
    """Bits of an input address 0..n_in - 1."""
    return unsigned_bits(n_in - 1)


def cont_bytes(n_in: int) -> int:
    """Continuation bytes per event word."""
    return max(0, math.ceil((addr_bits(n_in) - HEAD_BITS) / CONT_BITS))


def start_bytes(n_in: int) -> int:
    """Bytes of a bitmap's first-block field (at least one)."""
    return math.ceil(unsigned_bits(math.ceil(n_in / BLOCK_BITS) - 1) / CONT_BITS)


def uart_divisor(clk_hz: float, baud: int) -> int:
    """Clock cycles per UART bit; the rate error must stay well inside the 8N1 tolerance."""
    divisor = round(clk_hz / baud)
    if divisor < 4 or abs(clk_hz / divisor - baud) > 0.02 * baud:
        raise ValueError(f"--baud: {baud} is not within 2% of {clk_hz / 1e6:g} MHz / an integer >= 4")
    return divisor


def spike_bytes(n_out: int) -> int:
    return (n_out + 7) // 8


def step_reply_len(n_out: int) -> int:
    return 1 + spike_bytes(n_out) + CYCLE_BYTES


def sample_reply_len(n_out: int) -> int:
    """SAMPLE: header, one spike count byte per output neuron, core cycles, board cycles so far."""
    return 1 + n_out + 2 * CYCLE_BYTES


BENCH_END_REPLY_LEN = 1 + sum(n for _, n in BENCH_END_FIELDS)


def bench_credit(fifo_depth: int) -> int:
    """FIFO words per chunk in the sample block of a board with `fifo_depth` (BENCH_MARGIN)."""
    if fifo_depth < BENCH_MARGIN + 2:
        raise ValueError(f"fifo_depth: the on-board benchmark needs >= {BENCH_MARGIN + 2}, got {fifo_depth}")
    return fifo_depth - BENCH_MARGIN


INFO_REPLY_LEN = 1 + sum(n for _, n in INFO_FIELDS)


def encode_events(addrs, n_in: int) -> bytes:
    """Event words for input addresses (repeats allowed: each occurrence is one event)."""
    addrs = np.asarray(addrs, np.int64).reshape(-1)
    if addrs.size and (addrs.min() < 0 or addrs.max() >= n_in):
        raise ValueError(f"events: address outside 0..{n_in - 1}")
    k = cont_bytes(n_in)
    out = np.empty((addrs.size, k + 1), np.uint8)
    out[:, 0] = EVENT_TAG | (addrs >> (CONT_BITS * k))
    for i in range(k):
        out[:, 1 + i] = (addrs >> (CONT_BITS * (k - 1 - i))) & 0x7F
    return out.tobytes()


def encode_bitmap(addrs, n_in: int) -> bytes:
    """A bitmap word for distinct input addresses, from the block of the first to that of the last."""
    addrs = np.asarray(addrs, np.int64).reshape(-1)
    if not addrs.size or addrs.min() < 0 or addrs.max() >= n_in or np.unique(addrs).size != addrs.size:
        raise ValueError(f"bitmap: needs distinct addresses inside 0..{n_in - 1}")
    first, last = addrs.min() // BLOCK_BITS, addrs.max() // BLOCK_BITS
    bits = np.zeros((last - first + 1) * BLOCK_BITS, np.uint8)
    bits[addrs - first * BLOCK_BITS] = 1
    k = start_bytes(n_in)
    start = [(int(first) >> (CONT_BITS * (k - 1 - i))) & 0x7F for i in range(k)]
    return bytes([BITMAP, *start]) + np.packbits(bits.reshape(-1, BLOCK_BITS), axis=1, bitorder="little").tobytes()


@dataclass(frozen=True)
class Chunk:
    """Words the host sends in one go: events, then the command that closes them."""
    data: bytes
    words: int  # FIFO words it occupies on the board: its events and the command
    command: int  # SYNC (more of the step follows) or STEP


def chunk_events(fifo_depth: int) -> int:
    """Events a chunk carries: its `fifo_depth` words less the command that closes it."""
    return fifo_depth - 1


def one_chunk(counts, fifo_depth: int) -> np.ndarray:
    """Whether `step_chunks` sends a step of these input counts [..., n_in] as one chunk (bool per
    step): the words a plane takes are its events, bitmap or not, so all must fit one chunk."""
    return np.sum(counts, axis=-1) <= chunk_events(fifo_depth)


def step_chunks(counts, n_in: int, fifo_depth: int) -> list[Chunk]:
    """One step's input counts [n_in] as chunks that respect the credit rule.

    Every chunk but the last ends in SYNC, the last in STEP, and none has more than `fifo_depth`
    words including its command. Each plane (module docstring) goes as the shorter of an address
    list and a bitmap; a bitmap that does not fit a chunk's credit is cut at a block boundary.
    """
    if fifo_depth < 2:
        raise ValueError(f"fifo_depth: must be >= 2, got {fifo_depth}")
    counts = np.asarray(counts)
    if counts.shape != (n_in,) or (counts.size and counts.min() < 0):
        raise ValueError(f"counts: expected {n_in} counts >= 0, got shape {counts.shape}")
    per = chunk_events(fifo_depth)
    event_bytes = 1 + cont_bytes(n_in)
    chunks, data, room = [], bytearray(), per
    for plane in range(int(counts.max(initial=0))):
        addrs = np.flatnonzero(counts > plane)
        span = addrs[-1] // BLOCK_BITS - addrs[0] // BLOCK_BITS + 1
        # A bitmap needs a whole block's worth of credit, hence fifo_depth > BLOCK_BITS.
        bitmap = per >= BLOCK_BITS and 1 + start_bytes(n_in) + span < addrs.size * event_bytes
        while addrs.size:
            take = min(room, addrs.size)
            if bitmap and take < addrs.size:  # cut between blocks
                take = int(np.searchsorted(addrs, addrs[take] // BLOCK_BITS * BLOCK_BITS))
            if take == 0:
                chunks.append(Chunk(bytes(data) + bytes([SYNC]), per - room + 1, SYNC))
                data, room = bytearray(), per
                continue
            data += (encode_bitmap if bitmap else encode_events)(addrs[:take], n_in)
            addrs, room = addrs[take:], room - take
    return chunks + [Chunk(bytes(data) + bytes([STEP]), per - room + 1, STEP)]


def model_digest(art) -> int:
    """32-bit digest of everything the hardware computes from, stored in the bitstream so the
    host can tell that the board runs the model it is about to feed."""
    h = hashlib.sha256()
    h.update(np.asarray([art.input_max_count, art.steps, len(art.layers)], "<i8").tobytes())
    for layer in art.layers:
        # The bound sets the membrane width, which is part of what the hardware computes with.
        h.update(np.asarray([layer.n_in, layer.n_out, layer.w_bits, layer.leak_f, RESETS.index(layer.reset),
                             layer.v_min, layer.v_max], "<i8").tobytes())
        for name in ("ptr", "idx", "val", "theta", "bias", "leak_b"):
            h.update(np.asarray(getattr(layer, name), "<i8").tobytes())
    return int.from_bytes(h.digest()[:4], "little")


def _check_header(byte: int, kinds: tuple[int, ...], what: str) -> None:
    if byte & 0xF0 not in kinds:
        raise ProtocolError(f"{what} reply: header 0x{byte:02x}, expected 0x{kinds[0]:02x}|flags "
                            "(link out of step: wrong baud rate, wrong bitstream or a lost byte)")
    errors = [name for flag, name in ((FLAG_FRAMING, "framing error"), (FLAG_OVERRUN, "FIFO overrun"),
                                      (FLAG_RANGE, "address out of range")) if byte & flag]
    if errors:
        raise ProtocolError(f"{what} reply: the board reports {', '.join(errors)}")
    if byte & FLAG_HELD and what != "INFO":  # INFO says why, in its load status
        raise ProtocolError(f"{what} reply: the board holds its core: its weight image did not load "
                            "(python -m hw.run names the load status)")


def _read_fields(reply: bytes, fields) -> dict[str, int]:
    """name -> value of the little-endian (name, bytes) `fields` that follow the reply's header."""
    values, pos = {}, 1
    for name, n in fields:
        values[name] = int.from_bytes(reply[pos:pos + n], "little")
        pos += n
    return values


def decode_step(reply: bytes, n_out: int) -> tuple[np.ndarray, int]:
    """(spikes uint8 [n_out], cycles) from a STEP reply."""
    if len(reply) != step_reply_len(n_out):
        raise ProtocolError(f"STEP reply: {len(reply)} bytes, expected {step_reply_len(n_out)} (timeout?)")
    _check_header(reply[0], (REPLY_STEP,), "STEP")
    bits = np.unpackbits(np.frombuffer(reply[1:1 + spike_bytes(n_out)], np.uint8), bitorder="little")
    return bits[:n_out].copy(), int.from_bytes(reply[1 + spike_bytes(n_out):], "little")


def decode_ack(reply: bytes) -> None:
    if len(reply) != 1:
        raise ProtocolError("ACK reply: no answer (timeout?)")
    _check_header(reply[0], (REPLY_ACK,), "ACK")


@dataclass(frozen=True)
class Info:
    n_in: int
    n_out: int
    fifo_depth: int
    clock_hz: int
    model: int
    load: LoadStatus = LoadStatus.NONE  # NONE: the build has no flash image
    caps: int = 0  # CAP_* bits: what the build can do beyond the commands every build takes

    @property
    def lanes(self) -> int:
        return caps_lanes(self.caps)


def caps_lanes(caps: int) -> int:
    """The build's lanes, from its capabilities byte (1 where it does not say: no benchmark, or older)."""
    return 1 << (caps >> CAP_LANES_SHIFT & (1 << CAP_LANES_BITS) - 1)


def bench_caps(lanes: int) -> int:
    """The capabilities byte of a build with the on-board benchmark and `lanes`."""
    log2 = lanes.bit_length() - 1
    if lanes < 1 or lanes != 1 << log2 or log2 >= 1 << CAP_LANES_BITS:
        raise ValueError(f"lanes: INFO carries a power of two up to {1 << (1 << CAP_LANES_BITS) - 1}, got {lanes}")
    return CAP_BENCH | log2 << CAP_LANES_SHIFT


def _info_fields(header: int) -> tuple:
    """The fields of the INFO reply that starts with `header`: with a load status, and capabilities, or not."""
    extra = {REPLY_INFO_LOAD: (LOAD_FIELD,), REPLY_INFO_CAPS: (LOAD_FIELD, CAPS_FIELD)}.get(header & 0xF0, ())
    return INFO_FIELDS + extra


def info_reply_len(header: int) -> int:
    """Length of the INFO reply that starts with `header`."""
    return 1 + sum(n for _, n in _info_fields(header))


def decode_info(reply: bytes) -> Info:
    if not reply or len(reply) != info_reply_len(reply[0]):
        raise ProtocolError(f"INFO reply: {len(reply)} bytes, expected {INFO_REPLY_LEN}, {INFO_REPLY_LEN + 1} or {INFO_REPLY_LEN + 2} "
                            "(timeout?)")
    _check_header(reply[0], (REPLY_INFO, REPLY_INFO_LOAD, REPLY_INFO_CAPS), "INFO")
    values = _read_fields(reply, _info_fields(reply[0]))
    if "load" in values:
        # Only a build with capabilities has a load status without an image (NONE).
        known = {s.value for s in LoadStatus} - ({LoadStatus.NONE.value} if "caps" not in values else set())
        if values["load"] not in known:
            raise ProtocolError(f"INFO reply: unknown load status {values['load']}")
        values["load"] = LoadStatus(values["load"])
    return Info(**values)


@dataclass(frozen=True)
class SampleResult:
    """One sample of the on-board benchmark."""
    counts: np.ndarray  # output spikes per neuron over the sample's steps, [n_out]
    cycles: int  # the core's cycles, summed over the sample's steps (the STEP replies' count)
    stamp: int  # board cycles from the BENCH command to this result


@dataclass(frozen=True)
class BenchEnd:
    status: LoadStatus  # the sample block's: OK, or why it was refused (hw/link/image.py)
    trailer: int  # the block's CRC-32 as the board read it: which block it ran
    stamp: int  # board cycles from the BENCH command to the end


def reply_kind(header: int) -> int:
    """REPLY_SAMPLE or REPLY_BENCH_END for a header byte read during a benchmark."""
    _check_header(header, (REPLY_SAMPLE, REPLY_BENCH_END), "BENCH")
    return header & 0xF0


def decode_sample(reply: bytes, n_out: int) -> SampleResult:
    if len(reply) != sample_reply_len(n_out):
        raise ProtocolError(f"SAMPLE reply: {len(reply)} bytes, expected {sample_reply_len(n_out)} (timeout?)")
    _check_header(reply[0], (REPLY_SAMPLE,), "SAMPLE")
    cycles = reply[1 + n_out:]
    return SampleResult(np.frombuffer(reply[1:1 + n_out], np.uint8).copy(),
                        int.from_bytes(cycles[:CYCLE_BYTES], "little"), int.from_bytes(cycles[CYCLE_BYTES:], "little"))


def decode_bench_end(reply: bytes) -> BenchEnd:
    if len(reply) != BENCH_END_REPLY_LEN:
        raise ProtocolError(f"BENCH end reply: {len(reply)} bytes, expected {BENCH_END_REPLY_LEN} (timeout?)")
    _check_header(reply[0], (REPLY_BENCH_END,), "BENCH")
    values = _read_fields(reply, BENCH_END_FIELDS)
    if values["status"] not in {s.value for s in LoadStatus} - {LoadStatus.NONE.value, LoadStatus.LOADING.value}:
        raise ProtocolError(f"BENCH end reply: unknown sample block status {values['status']}")
    return BenchEnd(LoadStatus(values["status"]), values["trailer"], values["stamp"])


def info_bytes(info: Info) -> bytes:
    """The INFO payload (after the header) as the board sends it; without the load status, which
    the board sends from its loader."""
    return b"".join(getattr(info, name).to_bytes(n, "little") for name, n in INFO_FIELDS)
