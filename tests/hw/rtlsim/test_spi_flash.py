"""The W25Q128 model (hw.rtlsim.spi_flash) driven pin by pin as the datasheet draws its transactions:
what it refuses matters as much as what it answers, since the readers' tests trust it."""
import pytest

from hw.rtlsim.spi_flash import (FAST_READ, FAST_READ_DUAL, FAST_READ_QUAD, WRITE_ENABLE_VOLATILE, WRITE_STATUS_2,
                                 SPIFlash)

DATA = bytes([0xA5, 0x3C, 0x0F, 0xF0])
AT = 0x1234
HIGH_WP_HOLD = 0b1100  # IO2/IO3 driven high: WP# and HOLD# inactive


class Pins:
    """A reader of the model at 10 ns per half SCK period, driving IO0 (and IO2/IO3 high) but in data phases."""

    def __init__(self, flash: SPIFlash):
        self.flash, self.now = flash, 0

    def _edge(self, sck: int, o: int, oe: int) -> int:
        self.now += 10
        return self.flash.step(self.now, 1, sck, o, oe)

    def transaction(self, command: int, out: bytes = b"", dummy: bool = False, read: int = 0, width: int = 1,
                    drive: int | None = None) -> bytes:
        """Send `command` and `out` on IO0, 8 dummy clocks, then read `read` bytes `width` bits per SCK,
        driving the lines `drive` from the dummy clocks on (by default those the width leaves)."""
        bits = [b >> (7 - i) & 1 for b in bytes([command]) + out for i in range(8)]
        for bit in bits:
            self._edge(0, bit | HIGH_WP_HOLD, 0b1101)
            self._edge(1, bit | HIGH_WP_HOLD, 0b1101)
        listen = {1: 0b1101, 2: 0b1100, 4: 0}[width] if drive is None else drive
        for _ in range(8 if dummy else 0):
            self._edge(0, HIGH_WP_HOLD, listen)
            self._edge(1, HIGH_WP_HOLD, listen)
        got = 0
        for _ in range(read * 8 // width):
            levels = self._edge(0, HIGH_WP_HOLD, listen)
            self._edge(1, HIGH_WP_HOLD, listen)
            got = got << width | (levels >> 1 & 1 if width == 1 else levels & (1 << width) - 1)
        self.now += 100
        self.flash.step(self.now, 0, 0, HIGH_WP_HOLD, 0b1101)
        return got.to_bytes(read, "big")

    def read(self, width: int, n: int = len(DATA), drive: int | None = None) -> bytes:
        command = {1: FAST_READ, 2: FAST_READ_DUAL, 4: FAST_READ_QUAD}[width]
        return self.transaction(command, AT.to_bytes(3, "big"), dummy=True, read=n, width=width, drive=drive)


def awake_flash() -> Pins:
    return Pins(SPIFlash({AT: DATA}, powered_down=False))


@pytest.mark.parametrize("width", [1, 2])
def test_single_and_dual_reads_need_no_quad_enable(width):
    assert awake_flash().read(width) == DATA


def test_quad_read_only_after_a_volatile_quad_enable():
    pins = awake_flash()
    with pytest.raises(ValueError, match="HOLD#"):  # IO3 is still HOLD#: a reader must not let it float
        pins.read(4)
    assert pins.read(4, drive=0b1000) == b"\xff" * len(DATA)  # refused: the flash drives nothing
    pins.transaction(WRITE_STATUS_2, bytes([0x02]))  # without 0x50 first: not executed
    assert not pins.flash.quad_enabled
    pins.transaction(WRITE_ENABLE_VOLATILE)
    pins.transaction(WRITE_STATUS_2, bytes([0x02]))
    assert pins.flash.quad_enabled and pins.read(4) == DATA


def test_volatile_write_enable_lasts_one_command():
    pins = awake_flash()
    pins.transaction(WRITE_ENABLE_VOLATILE)
    pins.read(1)
    pins.transaction(WRITE_STATUS_2, bytes([0x02]))
    assert not pins.flash.quad_enabled


def test_asleep_flash_obeys_nothing_but_the_wake_up():
    pins = Pins(SPIFlash({AT: DATA}))
    assert pins.read(1) == b"\xff" * len(DATA)


def test_bus_contention_and_floating_hold_are_errors():
    with pytest.raises(ValueError, match="driven by the flash and the reader"):
        awake_flash().read(1, drive=0b1111)  # the reader drives IO1 into the data phase
    with pytest.raises(ValueError, match="driven by the flash and the reader"):
        awake_flash().read(2, drive=0b1101)  # ... or keeps IO0 after the address
    with pytest.raises(ValueError, match="HOLD#"):
        SPIFlash().step(0, 1, 0, 0, 0b0001)
