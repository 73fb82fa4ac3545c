"""Board targets: an amaranth-boards platform plus the budget and tool flow of its FPGA.

The budgets are the data sheets' figures; the fit check (hw/board/fit.py) compares a model against
them before synthesis, and the build report replaces them with nextpnr's own counts.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.icesugar import ICESugarPlatform
from amaranth_boards.ulx3s import (ULX3S_12F_Platform, ULX3S_25F_Platform, ULX3S_45F_Platform,
                                   ULX3S_85F_Platform)


@dataclass(frozen=True)
class Family:
    """What differs between FPGA families for the build: block RAM geometry, bitstream file and
    the names nextpnr gives the resources."""

    name: str
    ebr_shapes: tuple[tuple[int, int], ...]  # (depth, width) aspect ratios of one block RAM
    bitstream: str  # file suffix the packer writes
    # nextpnr --report utilisation keys -> generic resource names
    cells: dict[str, str]

    @property
    def ebr_bits(self) -> int:
        depth, width = self.ebr_shapes[0]
        return depth * width


ICE40 = Family("ice40", ((256, 16), (512, 8), (1024, 4), (2048, 2)), ".bin",
               {"ICESTORM_LC": "lut", "ICESTORM_RAM": "ebr", "ICESTORM_SPRAM": "spram",
                "ICESTORM_DSP": "dsp", "SB_IO": "io"})
ECP5 = Family("ecp5", ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)), ".bit",
              {"TRELLIS_COMB": "lut", "DP16KD": "ebr", "MULT18X18D": "dsp", "TRELLIS_IO": "io"})


@dataclass(frozen=True)
class Board:
    name: str
    platform: type
    family: Family
    clock: str  # board oscillator resource
    clock_hz: float  # its frequency
    target_hz: float  # default core clock (made by the PLL)
    budget: dict[str, int]  # lut (LUT4), ebr (blocks), spram (blocks), dsp, io: what the part offers
    pnr_args: tuple[str, ...]  # nextpnr device and package options

    @property
    def flash_width(self) -> int | None:
        """The widest read of the configuration flash its pins allow (hw/gateware/flash.py): 4 with
        IO2/IO3 wired to the FPGA (amaranth-boards' spi_flash_4x), 2 with IO0/IO1 alone; None when the
        platform has neither resource."""
        resources = self.platform().resources
        return next((width for width in (4, 2) if (f"spi_flash_{width}x", 0) in resources), None)


_UP5K = {"lut": 5280, "ebr": 30, "spram": 4, "dsp": 8, "io": 39}
_UP5K_PNR = ("--up5k", "--package", "sg48")
_ECP5 = {"LFE5U-12F": {"lut": 24288, "ebr": 56, "spram": 0, "dsp": 28, "io": 197},
         "LFE5U-25F": {"lut": 24288, "ebr": 56, "spram": 0, "dsp": 28, "io": 197},
         "LFE5U-45F": {"lut": 43848, "ebr": 108, "spram": 0, "dsp": 72, "io": 203},
         "LFE5U-85F": {"lut": 83640, "ebr": 208, "spram": 0, "dsp": 156, "io": 205}}

BOARDS = {b.name: b for b in [
    Board("icebreaker", ICEBreakerPlatform, ICE40, "clk12", 12e6, 24e6, _UP5K, _UP5K_PNR),
    Board("icesugar", ICESugarPlatform, ICE40, "clk12", 12e6, 24e6, _UP5K, _UP5K_PNR),
    *(Board(f"ulx3s-{p.device[-3:].lower()}", p, ECP5, "clk25", 25e6, 50e6, _ECP5[p.device],
            (f"--{p.device[-3:-1]}k", "--package", "CABGA381", "--speed", p.speed))
      for p in (ULX3S_12F_Platform, ULX3S_25F_Platform, ULX3S_45F_Platform, ULX3S_85F_Platform)),
]}


def get(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"--board: unknown board {name!r}; choose one of {', '.join(BOARDS)}") from None
