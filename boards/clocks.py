"""Core clock from the board oscillator through the FPGA's PLL, with a reset held until the PLL
locks and the block RAMs are readable (iCE40 EBR reads return 0 for a while after configuration).
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import *
from amaranth.lib import io

# Data-sheet limits (iCE40 sysCLOCK PLL, ECP5 EHXPLLL), in MHz.
ICE40_PFD = (10.0, 133.0)
ICE40_VCO = (533.0, 1066.0)
ICE40_OUT = (16.0, 275.0)
ECP5_PFD = (3.125, 400.0)
ECP5_VCO = (400.0, 800.0)
ECP5_OUT = (3.125, 400.0)
RESET_CYCLES = 1024  # after lock: covers the EBR power-up window at any clock we generate


@dataclass(frozen=True)
class PLL:
    params: dict  # primitive parameters
    out_hz: float


def ice40_pll(in_hz: float, out_hz: float) -> PLL:
    """SB_PLL40_PAD settings closest to `out_hz` (the search icepll does)."""
    fin = in_hz / 1e6
    best = None
    for divr in range(16):
        pfd = fin / (divr + 1)
        if not ICE40_PFD[0] <= pfd <= ICE40_PFD[1]:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not ICE40_VCO[0] <= vco <= ICE40_VCO[1]:
                continue
            for divq in range(1, 7):
                f = vco / 2 ** divq
                if not ICE40_OUT[0] <= f <= ICE40_OUT[1]:
                    continue
                if best is None or abs(f - out_hz / 1e6) < abs(best[0] - out_hz / 1e6):
                    best = (f, divr, divf, divq, pfd)
    if best is None:
        raise ValueError(f"clock: no iCE40 PLL setting from {in_hz / 1e6:g} MHz")
    f, divr, divf, divq, pfd = best
    filter_range = next(i for i, hi in enumerate((17, 26, 44, 66, 101, 1e9), start=1) if pfd < hi)
    return PLL({"FEEDBACK_PATH": "SIMPLE", "DIVR": divr, "DIVF": divf, "DIVQ": divq,
                "FILTER_RANGE": filter_range}, f * 1e6)


def ecp5_pll(in_hz: float, out_hz: float) -> PLL:
    """EHXPLLL settings closest to `out_hz`, feedback from CLKOP (the search ecppll does)."""
    fin = in_hz / 1e6
    best = None
    for clki_div in range(1, 129):
        pfd = fin / clki_div
        if not ECP5_PFD[0] <= pfd <= ECP5_PFD[1]:
            continue
        for clkfb_div in range(1, 81):
            f = pfd * clkfb_div
            if not ECP5_OUT[0] <= f <= ECP5_OUT[1]:
                continue
            for clkop_div in range(1, 129):
                if not ECP5_VCO[0] <= f * clkop_div <= ECP5_VCO[1]:
                    continue
                if best is None or abs(f - out_hz / 1e6) < abs(best[0] - out_hz / 1e6):
                    best = (f, clki_div, clkfb_div, clkop_div)
                break  # any valid output divider gives the same frequency
    if best is None:
        raise ValueError(f"clock: no ECP5 PLL setting from {in_hz / 1e6:g} MHz")
    f, clki_div, clkfb_div, clkop_div = best
    return PLL({"CLKI_DIV": clki_div, "CLKFB_DIV": clkfb_div, "CLKOP_DIV": clkop_div,
                "CLKOP_CPHASE": clkop_div // 2, "CLKOP_FPHASE": 0, "CLKOP_ENABLE": "ENABLED",
                "FEEDBK_PATH": "CLKOP", "PLLRST_ENA": "DISABLED", "INTFB_WAKE": "DISABLED",
                "STDBY_ENABLE": "DISABLED", "DPHASE_SOURCE": "DISABLED", "OUTDIVIDER_MUXA": "DIVA"},
               f * 1e6)


def plan(board, target_hz: float) -> PLL | None:
    """The PLL for `target_hz`, or None to run straight from the oscillator."""
    if target_hz == board.clock_hz:
        return None
    pll = (ice40_pll if board.family.name == "ice40" else ecp5_pll)(board.clock_hz, target_hz)
    if abs(pll.out_hz - target_hz) > 0.01 * target_hz:
        raise ValueError(f"--clock-mhz: {target_hz / 1e6:g} MHz is not reachable from the "
                         f"{board.clock_hz / 1e6:g} MHz oscillator; nearest is {pll.out_hz / 1e6:.3f} MHz")
    return pll


class CoreClock(Elaboratable):
    """Drives `clk` at `pll.out_hz` (the oscillator's rate when pll is None) and `rst` until the
    clock is stable; the parent makes its `sync` domain from them."""

    def __init__(self, board, pll: PLL | None):
        self.board = board
        self.pll = pll
        self.clk = Signal()
        self.rst = Signal()

    def elaborate(self, platform):
        m = Module()
        locked = Signal()
        if self.pll is not None and self.board.family.name == "ice40":
            # The oscillator pin is the PLL's dedicated pad: the PLL must take it raw.
            pad = platform.request(self.board.clock, dir="-")
            m.submodules.pll = Instance("SB_PLL40_PAD", **{f"p_{k}": v for k, v in self.pll.params.items()},
                                        i_PACKAGEPIN=pad.io, i_RESETB=1, i_BYPASS=0,
                                        o_PLLOUTGLOBAL=self.clk, o_LOCK=locked)
        else:
            m.submodules.osc = osc = io.Buffer("i", platform.request(self.board.clock, dir="-"))
            if self.pll is None:
                m.d.comb += [self.clk.eq(osc.i), locked.eq(1)]
            else:
                m.submodules.pll = Instance("EHXPLLL", **{f"p_{k}": v for k, v in self.pll.params.items()},
                                            i_CLKI=osc.i, i_CLKFB=self.clk, i_RST=0, i_STDBY=0,
                                            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
                                            i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                                            o_CLKOP=self.clk, o_LOCK=locked)
        # No constraint on `clk`: nextpnr derives the PLL output's from the oscillator pin's
        # (amaranth-boards constrains it) and the PLL settings, i.e. the frequency actually made.
        # Reset-less counter: FPGA flip-flops start at their init value after configuration.
        m.domains.por = ClockDomain(reset_less=True, local=True)
        m.d.comb += ClockSignal("por").eq(self.clk)
        timer = Signal(range(RESET_CYCLES + 1))
        with m.If(~locked):
            m.d.por += timer.eq(0)
        with m.Elif(timer != RESET_CYCLES):
            m.d.por += timer.eq(timer + 1)
        m.d.comb += self.rst.eq(timer != RESET_CYCLES)
        return m
