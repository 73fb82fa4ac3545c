"""The whole board in cocotb: hw.gateware.system.System (UART bridge, core, flash readers; only the
PLL and the pin buffers of the board top are left out) with the iCE40 cells as yosys' own models
(SPRAM starts undefined), the W25Q128 flash model (hw/rtlsim/spi_flash.py) and hw.link.host.Link
on the UART pins (hw/rtlsim/board_bench.py runs inside the simulator).

Used by tests/hw/board/test_board_sim.py and benchmarks/board_bench.py (the on-board benchmark's
rate on the simulated board).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import boards
from hw.gateware.core import Core
from hw.gateware.system import System
from hw.gateware.uart import FIFO_DEPTH, UARTBridge

from . import runner
from .ice40_cells import cells_sim

CLOCK_HZ = 100e6  # the bench's 10 ns clock
DIVISOR = 8  # clocks per UART bit
FLASH_WIDTH = boards.get("icebreaker").flash_width  # the flash model is the iCEBreaker's


def system(art, spram, *, bench: bool = False, fifo_depth: int = FIFO_DEPTH, lanes: int = 1,
           flash_width: int = FLASH_WIDTH) -> System:
    """The board's System for `art` with the memories `spram` in SPRAM cells, at the bench's clock,
    reading the flash `flash_width` bits per SCK."""
    core = Core(art, spram=spram, spram_cells=True, lanes=lanes)
    return System(UARTBridge(art, clk_hz=CLOCK_HZ, baud=round(CLOCK_HZ / DIVISOR), fifo_depth=fifo_depth, core=core,
                             bench=bench), flash_width=flash_width)


def rtl(top: System) -> str:
    return runner.verilog_of(top, "board")


def simulate(verilog: str, flashes: list[dict], counts: np.ndarray, out_dir: Path, simulator: str = "icarus",
             timeout_ns: int = 200_000, *, booted: bool = True, bench: bool = False) -> list[dict]:
    """Run board_bench.py on `verilog` (top module `board`) plus the iCE40 cell models: per flash
    contents in `flashes` ({offset: bytes}) one boot, the samples `counts` [T, B, n_in] over the UART
    and with `bench` the on-board benchmark; a dict of results per boot (board_bench.py)."""
    build_dir = runner.build(verilog + cells_sim(), "board", simulator)
    job, out = out_dir / "job.npz", out_dir / "out.npy"
    flash_array = np.empty(len(flashes), object)
    flash_array[:] = flashes
    np.savez(job, flashes=flash_array, counts=np.asarray(counts).transpose(1, 0, 2),
             bit_ns=round(1e9 * DIVISOR / CLOCK_HZ), timeout_ns=timeout_ns, out=str(out), booted=booted, bench=bench)
    runner.run(build_dir, "board", simulator, "board_bench", Path(__file__).parent, env={"HW_JOB": str(job)},
               test_dir=out_dir)
    return list(np.load(out, allow_pickle=True))
