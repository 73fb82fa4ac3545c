"""cocotb bench for the whole board (hw.gateware.system.System): the W25Q128 model (hw.rtlsim.spi_flash)
holds a flash image, the loader boots the core's SPRAM (yosys' SB_SPRAM256KA model) from it, and
hw.link.host.Link drives the UART through cocotbext-uart; launched by test_board_sim.py.

Job (npz in $HW_JOB): `flashes` [C] object array of {offset: bytes} flash contents, one boot each,
`counts` [B, T, n_in] samples to run after a boot, `bit_ns`, `timeout_ns` (the host's read timeout:
longer than a full FIFO chunk takes on the wire), `out` (result path). For every case it
saves the INFO load status, the boot's cycles, and either the spikes of every sample or the
host's error message.
"""
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import ClockCycles, FallingEdge
from cocotb.utils import get_sim_time

from hw.link import protocol as P
from hw.link.host import Link
from hw.rtlsim.spi_flash import FAST_READ, SPIFlash
from hw.rtlsim.uart_port import SimPort

CLOCK_NS = 10
BOOT_LIMIT_CYCLES = 5_000_000


async def boot(dut, flash: SPIFlash) -> int:
    """Answer the loader's SPI until its read transaction ends; returns the cycles it took."""
    dut.flash__cipo.value = 1
    for cycle in range(BOOT_LIMIT_CYCLES):
        await FallingEdge(dut.clk)  # the loader moves its pins on rising edges
        cs = int(dut.flash__cs.value)
        if not cs and flash.cs and flash.commands[-1:] == [FAST_READ]:
            return cycle
        dut.flash__cipo.value = flash.step(get_sim_time("ns"), cs, int(dut.flash__sck.value),
                                           int(dut.flash__copi.value))
    raise AssertionError(f"no boot within {BOOT_LIMIT_CYCLES} cycles")


@cocotb.test()
async def boots(dut):
    job = np.load(os.environ["HW_JOB"], allow_pickle=True)
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, "ns").start())
    dut.rx.value = 1
    port = SimPort(dut.rx, dut.tx, int(job["bit_ns"]), timeout_ns=int(job["timeout_ns"]))
    results = []
    for flash_contents in job["flashes"]:
        dut.rst.value = 1
        await ClockCycles(dut.clk, 5)
        dut.rst.value = 0
        cycles = await boot(dut, SPIFlash(flash_contents))
        await ClockCycles(dut.clk, 5)  # the verdict follows the last byte

        @bridge
        def host():
            link = Link(port)
            link.resync()
            info = link.info()
            try:
                return info, [link.run_sample(sample)[0] for sample in job["counts"]], ""
            except P.ProtocolError as e:  # a held core: no spikes, an error naming why
                return info, [], str(e)

        info, spikes, error = await host()
        results.append({"load": int(info.load), "cycles": cycles, "spikes": np.array(spikes), "error": error,
                        "info": (info.n_in, info.n_out, info.model)})
    np.save(str(job["out"]), np.array(results, dtype=object), allow_pickle=True)
