"""Behavioural model of the iCEBreaker's SPI NOR flash (Winbond W25Q128JV) for the boot loader's benches.

Only what the loader uses, as the datasheet specifies it: SPI mode 0 (COPI sampled on rising SCK,
CIPO shifted out after falling SCK, most significant bit first), 0xAB release from power-down
(tRES1 = 3 us before the next command is obeyed), 0x0B fast read (24-bit address, 8 dummy clocks, then
data from the address on, wrapping at the end of the array). Powered down, the part ignores every
other command and leaves CIPO floating (read as 1 here, the board's pull-up). Erased bytes are 0xFF.

Pin-level and simulator-neutral: call `step(now_ns, cs, sck, copi)` with the pins' values after
every clock edge (the controller changes them only on clock edges); it returns the CIPO level.
"""
from __future__ import annotations

SIZE = 1 << 24
RELEASE_POWER_DOWN, FAST_READ = 0xAB, 0x0B
T_RES1_NS = 3000


class SPIFlash:
    def __init__(self, images: dict[int, bytes] | None = None, *, powered_down: bool = True):
        self.memory = bytearray(b"\xff" * SIZE)
        for offset, data in (images or {}).items():
            self.memory[offset:offset + len(data)] = data
        self.awake_at = None if powered_down else 0  # ns from which commands are obeyed
        self.cs = self.sck = 0
        self.cipo = 1
        self.rising = 0  # SCK rising edges in this transaction
        self.shift = 0  # bits received, most recent last
        self.command = None
        self.address = 0
        self.commands: list[int] = []  # every command byte seen, for the benches' assertions

    def step(self, now_ns: float, cs: int, sck: int, copi: int) -> int:
        if cs and not self.cs:
            self.rising, self.shift, self.command = 0, 0, None
        if not cs and self.cs and self.command == RELEASE_POWER_DOWN:
            self.awake_at = now_ns + T_RES1_NS
        if cs and sck and not self.sck:
            self._rise(now_ns, copi)
        if cs and not sck and self.sck:
            self._fall()
        if not cs:
            self.cipo = 1
        self.cs, self.sck = cs, sck
        return self.cipo

    def _rise(self, now_ns: float, copi: int) -> None:
        self.rising += 1
        self.shift = (self.shift << 1 | copi) & 0xFFFF_FFFF
        if self.rising == 8:
            self.commands.append(self.shift & 0xFF)
            awake = self.awake_at is not None and now_ns >= self.awake_at
            if self.shift & 0xFF == RELEASE_POWER_DOWN or (awake and self.shift & 0xFF == FAST_READ):
                self.command = self.shift & 0xFF
        elif self.rising == 32 and self.command == FAST_READ:
            self.address = self.shift & 0xFF_FFFF

    def _fall(self) -> None:
        if self.command == FAST_READ and self.rising >= 40:  # command, address and 8 dummy clocks
            bit = self.rising - 40
            byte = self.memory[(self.address + bit // 8) % SIZE]
            self.cipo = byte >> (7 - bit % 8) & 1
