"""Flash reader: the weight image (hw/link/image.py) from the board's SPI flash into the core's SPRAM.

After configuration it wakes the flash (Release Power-down, 0xAB: the iCE40 may leave it powered
down) and waits tRES1. A quad read then sets the Quad Enable bit, volatile: Write Enable for Volatile
Status Register (0x50), then Write Status Register-2 (0x31) with QE (S9) alone set, each a
transaction of its own followed by tSHSL2 with CS high. The non-volatile bits are never written
(power-off restores them); the volatile write cannot clear SRL or the OTP lock bits, and CMP = 0 is
the factory setting. Then one read at the image offset, `width` bits per SCK:

    width 1: Fast Read (0x0B)               data on IO1 (DO)
    width 2: Fast Read Dual Output (0x3B)   data on IO1, IO0
    width 4: Fast Read Quad Output (0x6B)   data on IO3..IO0 (refused by the flash unless QE = 1)

each with command and 24-bit address on IO0 and 8 dummy clocks before the data. The reader lets go
of IO0 (and IO2/IO3 when quad) from the dummy clocks until after CS; otherwise it drives IO2/IO3
high (WP# and HOLD# inactive) and never drives IO1. The image streams through: every header byte is
compared with the header this bitstream expects (magic, version, model digest, length: all known at
build time), the payload goes to `load` two bytes per word as it arrives, and the CRC-32 over header
and payload must match the trailer. `status` says LOADING until the verdict; the core runs only on
OK (the bridge holds it otherwise), so a wrong image may have been written into SPRAM but never
computes. `hw.link.image.unpack` is the software model of the same checks (tests/hw/gateware/
test_flash.py holds them against each other). The on-board benchmark reads its sample block
(hw/link/samples.py, the same format) with another instance that restarts on command and takes its
length from the header.

SPI mode 0 at the core clock / 2: the flash samples IO0 on the rising SCK edge and changes its
outputs after the falling one; the reader samples them at the next falling edge, a whole SCK period
later. Bytes follow each other without a gap (the next starts at the falling edge that ends the
last, which is checked in the cycle after): a data byte takes `clocks_per_byte(width)` cycles.
"""
from __future__ import annotations

import math

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.crc import catalog
from amaranth.lib.wiring import In, Out

from hw.link.image import CRC_BYTES, FLASH_OFFSET, HEADER_BYTES, MAGIC, MAX_WORDS, LoadStatus, header, max_words_at

RELEASE_POWER_DOWN = 0xAB
WRITE_ENABLE_VOLATILE = 0x50  # Write Enable for Volatile Status Register
WRITE_STATUS_2 = 0x31  # Write Status Register-2
QUAD_ENABLE = 0x02  # Status Register-2 with QE (S9) alone set
READ_COMMANDS = {1: 0x0B, 2: 0x3B, 4: 0x6B}  # Fast Read, Fast Read Dual Output, Fast Read Quad Output
WIDTHS = tuple(READ_COMMANDS)
RELEASE_SECONDS = 3e-6  # tRES1 of the iCEBreaker's W25Q128JV (and most SPI NOR flashes)
DESELECT_SECONDS = 50e-9  # tSHSL2: CS high after a status register write
CLOCKS_PER_SCK = 2
STATUS_BITS = 3

# IO0..IO3 as the board's buffers take them: `o` and `oe` per line, `i` what the pins read.
SPISignature = wiring.Signature({"cs": Out(1), "sck": Out(1), "o": Out(4), "oe": Out(4), "i": In(4)})

# The header bytes and the failure a mismatch in each means (the reserved half-word is not checked).
_FIELD_STATUS = ([LoadStatus.BAD_MAGIC] * 4 + [LoadStatus.BAD_VERSION] * 2 + [None] * 2
                 + [LoadStatus.BAD_DIGEST] * 4 + [LoadStatus.BAD_LENGTH] * 4)


def clocks_per_byte(width: int) -> int:
    """Core clock cycles of one byte on the wire at `width` bits per SCK (bytes follow back to back)."""
    return CLOCKS_PER_SCK * 8 // width


def prologue(width: int, clk_hz: float) -> list[tuple[list[int], int]]:
    """The transactions before the read, one bit per SCK: (bytes, cycles with CS high after it)."""
    steps = [([RELEASE_POWER_DOWN], math.ceil(RELEASE_SECONDS * clk_hz))]
    if width == 4:
        deselect = math.ceil(DESELECT_SECONDS * clk_hz)
        steps += [([WRITE_ENABLE_VOLATILE], deselect), ([WRITE_STATUS_2, QUAD_ENABLE], deselect)]
    return steps


def read_command(width: int, offset: int) -> list[int]:
    """The read's bytes on IO0: command, 24-bit address, and a byte's time of dummy clocks."""
    return [READ_COMMANDS[width], *offset.to_bytes(3, "big"), 0x00]


def boot_cycles(n_words: int, clk_hz: float, width: int) -> int:
    """Core clock cycles from reset to the verdict of a good image without back-pressure: the
    prologue's transactions (a cycle to start each, its bytes, a cycle to end it, its pause and one
    more), then the read (its command bytes, the image at `width` bits per SCK) and 3 cycles of
    state changes."""
    one_bit = clocks_per_byte(1)
    setup = sum(1 + one_bit * len(data) + 1 + pause + 1 for data, pause in prologue(width, clk_hz))
    image_bytes = HEADER_BYTES + 2 * n_words + CRC_BYTES
    return setup + one_bit * len(read_command(width, 0)) + clocks_per_byte(width) * image_bytes + 3


def check(*, n_words: int | None, digest: int, clk_hz: float, offset: int, width: int) -> None:
    """Raise ValueError unless a FlashLoader can be built with these parameters."""
    if n_words is not None and not 0 < n_words <= MAX_WORDS:
        raise ValueError(f"n_words: must be 1..{MAX_WORDS}, got {n_words}")
    if not 0 <= digest <= 0xFFFF_FFFF:
        raise ValueError(f"digest: must be a u32, got {digest}")
    if not 0 <= offset or max_words_at(offset) < (n_words or 1):
        raise ValueError(f"offset: an image of {n_words or 1} words at {offset:#x} does not fit a 16 MiB flash")
    if clk_hz <= 0:
        raise ValueError(f"clk_hz: must be > 0, got {clk_hz}")
    if width not in WIDTHS:
        raise ValueError(f"width: the flash reads {', '.join(map(str, WIDTHS))} bits per SCK, got {width}")


class FlashLoader(wiring.Component):
    """Reads the image of `n_words` SPRAM words for the model `digest` at byte `offset` of the flash,
    `width` (1, 2 or 4) bits per SCK.

    Ports: `spi` (to the flash pins; `cs` is active high, the board's buffer inverts it), `load`
    (the payload words in order; back-pressure pauses SCK), `status` (LoadStatus: LOADING, then OK or
    the first failure, then constant).

    The on-board benchmark reads its sample block (hw/link/samples.py) with one of these too:
    `magic` names the block, `n_words=None` takes any length the flash can hold from the header
    (BAD_LENGTH for 0), and `restart=True` adds the port `start` (a pulse begins a read, from
    reset the loader waits for one) and `trailer` (the image's CRC as read, for the host to tell
    which block the board holds).
    """

    def __new__(cls, *, n_words: int | None, digest: int, clk_hz: float, width: int, offset: int = FLASH_OFFSET,
                magic: bytes = MAGIC, restart: bool = False):
        # Check before the object exists, so a refused loader is no unused elaboratable.
        check(n_words=n_words, digest=digest, clk_hz=clk_hz, offset=offset, width=width)
        return super().__new__(cls)

    def __init__(self, *, n_words: int | None, digest: int, clk_hz: float, width: int, offset: int = FLASH_OFFSET,
                 magic: bytes = MAGIC, restart: bool = False):
        self.n_words, self.digest, self.offset, self.magic, self.restart = n_words, digest, offset, magic, restart
        self.width = width
        self.max_words = n_words or max_words_at(offset)
        self.prologue = prologue(width, clk_hz)
        self.wake_cycles = self.prologue[0][1]
        ports = {"spi": Out(SPISignature), "load": Out(stream.Signature(16)),
                 "status": Out(STATUS_BITS, init=LoadStatus.NONE if restart else LoadStatus.LOADING)}
        if restart:
            ports.update(start=In(1), trailer=Out(8 * CRC_BYTES))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        width, cs = self.width, self.spi.cs
        # One byte on the wire: `periods` SCK periods left, SCK high then low in each. A data byte
        # (`data`) arrives `width` bits per SCK; every other byte goes out on IO0, one bit per SCK.
        sck, periods, data = Signal(), Signal(range(9)), Signal()
        out, got = Signal(8), Signal(8)
        done = Signal()  # `got` holds a whole data byte (for this one cycle)
        listen = Signal()  # the flash may drive IO0 (and IO2/IO3 when quad): from the dummy clocks until after CS
        quad_listen = listen if width == 4 else Const(0)
        m.d.comb += [self.spi.sck.eq(sck), self.spi.o.eq(Cat(out[7], 0, 1, 1)),
                     self.spi.oe.eq(Cat(~listen, 0, ~quad_listen, ~quad_listen))]
        lanes = self.spi.i[1] if width == 1 else self.spi.i[:width]  # the most significant bit on the highest line
        m.d.sync += done.eq(0)
        with m.If(periods != 0):
            m.d.sync += sck.eq(~sck)
            with m.If(sck):  # the falling edge: the flash's outputs have been stable for an SCK period
                m.d.sync += [out.eq(out << 1), periods.eq(periods - 1)]
                with m.If(data):
                    m.d.sync += got.eq(Cat(lanes, got[:8 - width]))
                    with m.If(periods == 1):
                        m.d.sync += done.eq(1)
        with m.If(~cs):
            m.d.sync += listen.eq(0)
        # A new byte may start at the edge that ends the last one, unless a word waits to be taken.
        go = ((periods == 0) | (sck & (periods == 1))) & ~(self.load.valid & ~self.load.ready)

        def send(byte):
            m.d.sync += [out.eq(byte), data.eq(0), periods.eq(8)]

        def stop():
            m.d.sync += [cs.eq(0), periods.eq(0), sck.eq(0)]

        command = read_command(width, self.offset)
        expected = header(self.digest, self.n_words or 0, self.magic)
        # Command bytes sent, then header bytes received, up to the header's end; after it `left`
        # counts the payload and trailer bytes down (no wide comparison of a growing index: the
        # timing stays short).
        pos_end = len(command) + HEADER_BYTES
        pos = Signal(range(pos_end + 1))
        left = Signal(range(2 * self.max_words + CRC_BYTES + 1))
        k = pos - len(command)  # image byte index of `got` in the header, once the command is out
        low = Signal(8)
        m.submodules.crc = crc = catalog.CRC32_ISO_HDLC(data_width=8).create()  # zlib.crc32's CRC
        m.d.comb += crc.data.eq(got)
        with m.If(self.load.ready):
            m.d.sync += self.load.valid.eq(0)
        wait = Signal(range(max(pause for _, pause in self.prologue) + 1))

        with m.FSM(init="DONE" if self.restart else "T0_0"):
            for i, (data_bytes, pause) in enumerate(self.prologue):
                after = f"T{i + 1}_0" if i + 1 < len(self.prologue) else "READ"
                for j, byte in enumerate(data_bytes):
                    with m.State(f"T{i}_{j}"):
                        with m.If(go):
                            m.d.sync += cs.eq(1)
                            send(byte)
                            m.next = f"T{i}_{j + 1}"
                with m.State(f"T{i}_{len(data_bytes)}"):  # the last byte on the wire, then CS high a while
                    with m.If(periods == 0):
                        m.d.sync += [cs.eq(0), wait.eq(pause)]
                        m.next = f"T{i}_PAUSE"
                with m.State(f"T{i}_PAUSE"):
                    m.d.sync += wait.eq(wait - 1)
                    with m.If(wait == 0):
                        m.next = after
            with m.State("READ"):
                m.d.sync += cs.eq(1)
                with m.If(go):
                    with m.If(pos < len(command)):
                        m.d.sync += pos.eq(pos + 1)
                        send(Array(Const(b, 8) for b in command)[pos])
                        if width > 1:
                            with m.If(pos == len(command) - 1):  # the dummy clocks: the flash's turn
                                m.d.sync += listen.eq(1)
                    with m.Else():
                        m.d.sync += [data.eq(1), periods.eq(8 // width)]
                with m.If(done):
                    with m.If(pos != pos_end):
                        m.d.sync += pos.eq(pos + 1)
                    self._receive(m, got, k, left, low, crc, expected, stop)
            with m.State("CHECK"):
                m.d.sync += self.status.eq(Mux(crc.match_detected, LoadStatus.OK, LoadStatus.BAD_CRC))
                m.next = "DONE"
            with m.State("DONE"):
                if self.restart:
                    with m.If(self.start):
                        m.d.sync += [self.status.eq(LoadStatus.LOADING), pos.eq(0)]
                        m.next = "T0_0"
        return m

    def _receive(self, m, got, k, left, low, crc, expected, stop) -> None:
        """Image byte `k` of the header, or the one `left` bytes before the end, has arrived in
        `got`: check it against the header (or take the length from it), pass it on as half a
        payload word, and feed it to the CRC; after the trailer, the verdict. `stop` ends the
        transaction before the byte begun meanwhile sees an SCK edge."""
        def fail(status):
            m.d.sync += self.status.eq(status)
            stop()
            m.next = "DONE"

        m.d.comb += [crc.valid.eq(1), crc.start.eq(k == 0)]
        length = Signal(8 * 4)  # the length field as read (bytes 12..15, little-endian)
        with m.If(k < HEADER_BYTES):
            with m.Switch(k):
                for i, status in enumerate(_FIELD_STATUS):
                    if status == LoadStatus.BAD_LENGTH and not self.n_words:
                        with m.Case(i):
                            whole = Cat(length[8:], got)
                            m.d.sync += length.eq(whole)
                            if i == HEADER_BYTES - 1:
                                m.d.sync += left.eq(Cat(0, whole) + CRC_BYTES)
                                with m.If((whole == 0) | (whole > self.max_words)):
                                    fail(status)
                    elif status is not None:
                        with m.Case(i):
                            with m.If(got != expected[i]):
                                fail(status)
                            if i == HEADER_BYTES - 1:
                                m.d.sync += left.eq(2 * self.n_words + CRC_BYTES)
        with m.Else():
            m.d.sync += left.eq(left - 1)
            with m.If(left > CRC_BYTES):  # payload: the first byte is the low one (left even)
                with m.If(left[0]):
                    m.d.sync += [self.load.payload.eq(Cat(low, got)), self.load.valid.eq(1)]
                with m.Else():
                    m.d.sync += low.eq(got)
            with m.Else():
                if self.restart:
                    m.d.sync += self.trailer.eq(Cat(self.trailer[8:], got))
                with m.If(left == 1):
                    stop()
                    # The trailer is zlib's CRC little-endian, so header + payload + trailer is a
                    # codeword: the register holds the residue one cycle after the last byte went in.
                    m.next = "CHECK"
