"""Behavioural model of the iCEBreaker's SPI NOR flash (Winbond W25Q128JV) for the flash readers' benches.

Only what the readers use, as the datasheet specifies it: SPI mode 0 (IO0 sampled on rising SCK,
outputs changed after falling SCK, most significant bit first);
- Release Power-down (0xAB): tRES1 = 3 us before the next command is obeyed. Powered down, the
  part ignores every other command.
- Write Enable for Volatile Status Register (0x50), then Write Status Register-2 (0x31, one data
  byte, CS high right after it): the volatile QE bit (S9) takes the byte's bit 1. Without 0x50 as the
  command before, 0x31 is not executed (the model has no Write Enable, 0x06: nothing non-volatile is
  ever written). QE starts 0, as on the parts shipped without it.
- Fast Read (0x0B, data on IO1), Fast Read Dual Output (0x3B, IO1/IO0), Fast Read Quad Output (0x6B,
  IO3..IO0, accepted only with QE = 1): 24-bit address, 8 dummy clocks, then data from the address
  on, wrapping at the end of the array. The part drives only the lines of the data phase, from the
  falling SCK edge after the dummy clocks until CS goes high.
Lines nobody drives read as 1 (the board's pull-ups). A line that the reader drives while the flash
does, and HOLD# (IO3) not driven high while QE = 0 and CS is active, raise ValueError. Erased bytes
are 0xFF.

Pin-level and simulator-neutral: call `step(now_ns, cs, sck, o, oe)` with the reader's pins after
every clock edge (CS active high; `o` and `oe` the four IO lines as bits of an int, IO0 lowest); it
returns the levels of the four lines.
"""
from __future__ import annotations

SIZE = 1 << 24
RELEASE_POWER_DOWN, WRITE_ENABLE_VOLATILE, WRITE_STATUS_2 = 0xAB, 0x50, 0x31
FAST_READ, FAST_READ_DUAL, FAST_READ_QUAD = 0x0B, 0x3B, 0x6B
READ_WIDTHS = {FAST_READ: 1, FAST_READ_DUAL: 2, FAST_READ_QUAD: 4}
QE = 0x02  # the Quad Enable bit in Status Register-2
T_RES1_NS = 3000
ALL_LINES = 0b1111


class SPIFlash:
    def __init__(self, images: dict[int, bytes] | None = None, *, powered_down: bool = True):
        self.memory = bytearray(b"\xff" * SIZE)
        for offset, data in (images or {}).items():
            self.memory[offset:offset + len(data)] = data
        self.awake_at = None if powered_down else 0  # ns from which commands are obeyed
        self.quad_enabled = False  # the volatile QE bit
        self.volatile_write = False  # the last command was 0x50
        self.cs = self.sck = 0
        self.drive, self.levels = 0, 0  # the lines the flash drives, and to what
        self.rising = 0  # SCK rising edges in this transaction
        self.shift = 0  # bits received on IO0, most recent last
        self.command = None
        self.address = 0
        self.commands: list[int] = []  # every command byte seen, for the benches' assertions

    def step(self, now_ns: float, cs: int, sck: int, o: int, oe: int) -> int:
        if cs and not self.cs:
            self.rising, self.shift, self.command = 0, 0, None
        if not cs and self.cs:
            self._deselect(now_ns)
        if cs and sck and not self.sck:
            self._rise(now_ns, o & 1)
        if cs and not sck and self.sck:
            self._fall()
        if not cs:
            self.drive = 0
        if cs and not self.quad_enabled and not (oe & o & 0b1000):
            raise ValueError(f"HOLD# (IO3) not driven high with QE = 0 at {now_ns} ns")
        if self.drive & oe:
            raise ValueError(f"IO lines {self.drive & oe:04b} driven by the flash and the reader at {now_ns} ns")
        self.cs, self.sck = cs, sck
        return (self.levels & self.drive) | (o & oe) | (ALL_LINES & ~(self.drive | oe))

    def _deselect(self, now_ns: float) -> None:
        if self.command == RELEASE_POWER_DOWN:
            self.awake_at = now_ns + T_RES1_NS
        if self.command == WRITE_STATUS_2 and self.rising == 16 and self.volatile_write:
            self.quad_enabled = bool(self.shift & QE)
        if self.rising:  # any command ends the volatile write enable but the one that sets it
            self.volatile_write = self.command == WRITE_ENABLE_VOLATILE and self.rising == 8

    def _rise(self, now_ns: float, io0: int) -> None:
        self.rising += 1
        self.shift = (self.shift << 1 | io0) & 0xFFFF_FFFF
        if self.rising == 8:
            byte = self.shift & 0xFF
            self.commands.append(byte)
            awake = self.awake_at is not None and now_ns >= self.awake_at
            known = byte in (WRITE_ENABLE_VOLATILE, WRITE_STATUS_2, FAST_READ, FAST_READ_DUAL) or (
                byte == FAST_READ_QUAD and self.quad_enabled)
            if byte == RELEASE_POWER_DOWN or (awake and known):
                self.command = byte
        elif self.rising == 32 and self.command in READ_WIDTHS:
            self.address = self.shift & 0xFF_FFFF

    def _fall(self) -> None:
        if self.command in READ_WIDTHS and self.rising >= 40:  # command, address and 8 dummy clocks
            width = READ_WIDTHS[self.command]
            bit = (self.rising - 40) * width  # of the data, the first of this SCK period's bits
            byte = self.memory[(self.address + bit // 8) % SIZE]
            chunk = byte >> (8 - width - bit % 8) & ((1 << width) - 1)
            self.drive, self.levels = (0b10, chunk << 1) if width == 1 else ((1 << width) - 1, chunk)
