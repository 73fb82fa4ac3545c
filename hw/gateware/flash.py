"""Boot loader: the weight image (hw/link/image.py) from the board's SPI flash into the core's SPRAM.

After configuration it wakes the flash (release from power-down, 0xAB: the iCE40 may leave it powered
down), waits tRES1, then issues one fast read (0x0B, 24-bit address, 8 dummy clocks) at the image
offset and streams the image through. Every header byte is compared with the header this bitstream
expects (magic, version, model digest, length: all known at build time), the payload goes to `load`
two bytes per word as it arrives, and the CRC-32 over header and payload must match the trailer.
`status` says LOADING until the verdict; the core runs only on OK (the bridge holds it otherwise), so
a wrong image may have been written into SPRAM but never computes. `hw.link.image.unpack` is the
software model of the same checks (tests/hw/gateware/test_flash.py holds them against each other).
The on-board benchmark reads its sample block (hw/link/samples.py, the same format) with another
instance that restarts on command and takes its length from the header.

SPI mode 0 at the core clock / 2: the flash samples COPI on the rising SCK edge and changes CIPO after
the falling one; the loader samples CIPO at the next falling edge, a whole SCK period later.
"""
from __future__ import annotations

import math

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.crc import catalog
from amaranth.lib.wiring import In, Out

from hw.link.image import CRC_BYTES, FLASH_OFFSET, HEADER_BYTES, MAGIC, MAX_WORDS, LoadStatus, header, max_words_at

RELEASE_POWER_DOWN = 0xAB
FAST_READ = 0x0B
RELEASE_SECONDS = 3e-6  # tRES1 of the iCEBreaker's W25Q128JV (and most SPI NOR flashes)
STATUS_BITS = 3

SPISignature = wiring.Signature({"cs": Out(1), "sck": Out(1), "copi": Out(1), "cipo": In(1)})

# The header bytes and the failure a mismatch in each means (the reserved half-word is not checked).
_FIELD_STATUS = ([LoadStatus.BAD_MAGIC] * 4 + [LoadStatus.BAD_VERSION] * 2 + [None] * 2
                 + [LoadStatus.BAD_DIGEST] * 4 + [LoadStatus.BAD_LENGTH] * 4)


CLOCKS_PER_BYTE = 17  # a byte on the wire: 16 (SCK at clock / 2) plus one to start the next


def boot_cycles(n_words: int, clk_hz: float) -> int:
    """Core clock cycles from reset to the verdict of a good image without back-pressure: each byte on
    the wire takes CLOCKS_PER_BYTE; the wake-up byte, tRES1, then the read transaction (command,
    address, dummy, image), and 4 cycles of state changes."""
    return CLOCKS_PER_BYTE * (1 + 5 + HEADER_BYTES + 2 * n_words + CRC_BYTES) + math.ceil(RELEASE_SECONDS * clk_hz) + 4


def check(*, n_words: int | None, digest: int, clk_hz: float, offset: int) -> None:
    """Raise ValueError unless a FlashLoader can be built with these parameters."""
    if n_words is not None and not 0 < n_words <= MAX_WORDS:
        raise ValueError(f"n_words: must be 1..{MAX_WORDS}, got {n_words}")
    if not 0 <= digest <= 0xFFFF_FFFF:
        raise ValueError(f"digest: must be a u32, got {digest}")
    if not 0 <= offset or max_words_at(offset) < (n_words or 1):
        raise ValueError(f"offset: an image of {n_words or 1} words at {offset:#x} does not fit a 16 MiB flash")
    if clk_hz <= 0:
        raise ValueError(f"clk_hz: must be > 0, got {clk_hz}")


class FlashLoader(wiring.Component):
    """Reads the image of `n_words` SPRAM words for the model `digest` at byte `offset` of the flash.

    Ports: `spi` (to the flash pins; `cs` is active high, the board's buffer inverts it), `load`
    (the payload words in order; back-pressure pauses SCK), `status` (LoadStatus: LOADING, then OK or
    the first failure, then constant).

    The on-board benchmark reads its sample block (hw/link/samples.py) with one of these too:
    `magic` names the block, `n_words=None` takes any length the flash can hold from the header
    (BAD_LENGTH for 0), and `restart=True` adds the port `start` (a pulse begins a read, from
    reset the loader waits for one) and `trailer` (the image's CRC as read, for the host to tell
    which block the board holds).
    """

    def __new__(cls, *, n_words: int | None, digest: int, clk_hz: float, offset: int = FLASH_OFFSET,
                magic: bytes = MAGIC, restart: bool = False):
        # Check before the object exists, so a refused loader is no unused elaboratable.
        check(n_words=n_words, digest=digest, clk_hz=clk_hz, offset=offset)
        return super().__new__(cls)

    def __init__(self, *, n_words: int | None, digest: int, clk_hz: float, offset: int = FLASH_OFFSET,
                 magic: bytes = MAGIC, restart: bool = False):
        self.n_words, self.digest, self.offset, self.magic, self.restart = n_words, digest, offset, magic, restart
        self.max_words = n_words or max_words_at(offset)
        self.wake_cycles = math.ceil(RELEASE_SECONDS * clk_hz)
        ports = {"spi": Out(SPISignature), "load": Out(stream.Signature(16)),
                 "status": Out(STATUS_BITS, init=LoadStatus.NONE if restart else LoadStatus.LOADING)}
        if restart:
            ports.update(start=In(1), trailer=Out(8 * CRC_BYTES))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        # One byte on the wire: `bits` counts down; SCK high then low per bit.
        sck, bits = Signal(), Signal(range(9))
        out, got = Signal(8), Signal(8)
        m.d.comb += [self.spi.sck.eq(sck), self.spi.copi.eq(out[7])]
        with m.If(bits != 0):
            m.d.sync += sck.eq(~sck)
            with m.If(sck):
                m.d.sync += [got.eq(Cat(self.spi.cipo, got[:7])), out.eq(out << 1), bits.eq(bits - 1)]
        idle = (bits == 0) & ~sck

        def send(byte):
            m.d.sync += [out.eq(byte), bits.eq(8)]

        command = [FAST_READ, *self.offset.to_bytes(3, "big"), 0x00]  # the last: 8 dummy clocks
        expected = header(self.digest, self.n_words or 0, self.magic)
        # Bytes of the read so far, up to the header's end; after it `left` counts the payload and
        # trailer bytes down (no wide comparison of a growing index: the timing stays short).
        pos_end = len(command) + 1 + HEADER_BYTES
        pos = Signal(range(pos_end + 1))
        left = Signal(range(2 * self.max_words + CRC_BYTES + 1))
        k = pos - len(command) - 1  # image byte index of `got` in the header, once the command is out
        low = Signal(8)
        m.submodules.crc = crc = catalog.CRC32_ISO_HDLC(data_width=8).create()  # zlib.crc32's CRC
        m.d.comb += crc.data.eq(got)
        with m.If(self.load.ready):
            m.d.sync += self.load.valid.eq(0)
        wait = Signal(range(self.wake_cycles + 1))

        with m.FSM(init="DONE" if self.restart else "WAKE") as fsm:
            with m.State("WAKE"):
                m.d.sync += self.spi.cs.eq(1)
                send(RELEASE_POWER_DOWN)
                m.next = "WAKING"
            with m.State("WAKING"):
                with m.If(idle):
                    m.d.sync += [self.spi.cs.eq(0), wait.eq(self.wake_cycles)]
                    m.next = "RESUME"
            with m.State("RESUME"):
                m.d.sync += wait.eq(wait - 1)
                with m.If(wait == 0):
                    m.d.sync += self.spi.cs.eq(1)
                    m.next = "READ"
            with m.State("READ"):
                # Start the next byte once the last is in and its word (if any) was taken.
                with m.If(idle & ~(self.load.valid & ~self.load.ready)):
                    with m.If(pos != pos_end):
                        m.d.sync += pos.eq(pos + 1)
                    with m.If(pos < len(command)):
                        send(Array(Const(b, 8) for b in command)[pos])
                    with m.Else():
                        send(0)
                    with m.If(pos > len(command)):
                        self._receive(m, got, k, left, low, crc, expected)
            with m.State("CHECK"):
                m.d.sync += [self.status.eq(Mux(crc.match_detected, LoadStatus.OK, LoadStatus.BAD_CRC)),
                             self.spi.cs.eq(0)]
                m.next = "DONE"
            with m.State("DONE"):
                if self.restart:
                    with m.If(self.start):
                        m.d.sync += [self.status.eq(LoadStatus.LOADING), pos.eq(0)]
                        m.next = "WAKE"
        with m.If(fsm.ongoing("CHECK") | fsm.ongoing("DONE")):
            m.d.sync += [bits.eq(0), sck.eq(0)]  # the byte READ started with its last: never clocked
        return m

    def _receive(self, m, got, k, left, low, crc, expected) -> None:
        """Image byte `k` of the header, or the one `left` bytes before the end, has arrived in
        `got`: check it against the header (or take the length from it), pass it on as half a
        payload word, and feed it to the CRC; after the trailer, the verdict."""
        def fail(status):
            m.d.sync += [self.status.eq(status), self.spi.cs.eq(0)]
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
                    # The trailer is zlib's CRC little-endian, so header + payload + trailer is a
                    # codeword: the register holds the residue one cycle after the last byte went in.
                    m.next = "CHECK"
