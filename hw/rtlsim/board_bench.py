"""cocotb bench for the whole board (hw.gateware.system.System): the W25Q128 model (hw.rtlsim.spi_flash)
holds a flash image, the loader boots the core's SPRAM (yosys' SB_SPRAM256KA model) from it, and
hw.link.host.Link drives the UART through cocotbext-uart; launched by hw.rtlsim.board.simulate.

Job (npz in $HW_JOB): `flashes` [C] object array of {offset: bytes} flash contents, one boot each,
`counts` [B, T, n_in] samples to run after a boot, `booted` (the design has a boot loader),
`bench` (then also run the on-board benchmark after the samples), `bit_ns`, `timeout_ns` (the
host's read timeout: longer than a full FIFO chunk or a benchmark sample takes), `out` (result
path). For every case it saves the INFO load status, the boot's cycles, and either the spikes of
every sample or the host's error message, and with `bench` the benchmark's results and end (or its
error message).
"""
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from hw.link import protocol as P
from hw.link.host import Link
from hw.rtlsim.spi_flash import READ_WIDTHS, SPIFlash
from hw.rtlsim.uart_port import SimPort

CLOCK_NS = 10
BOOT_LIMIT_CYCLES = 5_000_000


async def serve(dut, flash: list[SPIFlash]) -> None:
    """Answer the design's SPI with the flash model `flash[0]`, for the whole run (boot and benchmark);
    asleep while chip select is off."""
    dut.flash__i.value = 0b1111
    while True:
        await FallingEdge(dut.clk)  # the readers move their pins on rising edges
        cs = int(dut.flash__cs.value)
        dut.flash__i.value = flash[0].step(get_sim_time("ns"), cs, int(dut.flash__sck.value), int(dut.flash__o.value),
                                           int(dut.flash__oe.value))
        if not cs:
            await RisingEdge(dut.flash__cs)


async def boot(dut, flash: SPIFlash) -> int:
    """Wait for the boot loader's read transaction to end; returns the cycles it took."""
    was_selected = 0
    for cycle in range(BOOT_LIMIT_CYCLES):
        await FallingEdge(dut.clk)
        cs = int(dut.flash__cs.value)
        if was_selected and not cs and flash.commands[-1:] and flash.commands[-1] in READ_WIDTHS:
            return cycle
        was_selected = cs
    raise AssertionError(f"no boot within {BOOT_LIMIT_CYCLES} cycles")


@cocotb.test()
async def boots(dut):
    job = np.load(os.environ["HW_JOB"], allow_pickle=True)
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, "ns").start())
    dut.rx.value = 1
    port = SimPort(dut.rx, dut.tx, int(job["bit_ns"]), timeout_ns=int(job["timeout_ns"]))
    results, flash = [], [SPIFlash()]
    cocotb.start_soon(serve(dut, flash))
    for flash_contents in job["flashes"]:
        dut.rst.value = 1
        flash[0] = SPIFlash(flash_contents)
        await ClockCycles(dut.clk, 5)
        dut.rst.value = 0
        cycles = await boot(dut, flash[0]) if job["booted"] else 0
        await ClockCycles(dut.clk, 5)  # the verdict follows the last byte

        @bridge
        def host():
            link = Link(port)
            link.resync()
            info = link.info()
            try:
                spikes, error = [link.run_sample(sample)[0] for sample in job["counts"]], ""
            except P.ProtocolError as e:  # a held core: no spikes, an error naming why
                spikes, error = [], str(e)
            bench = {}
            if job["bench"]:
                try:
                    bench["results"], bench["end"] = link.bench()
                except P.ProtocolError as e:
                    bench["error"] = str(e)
            return info, spikes, error, bench

        info, spikes, error, bench = await host()
        results.append({"load": int(info.load), "cycles": cycles, "spikes": np.array(spikes), "error": error,
                        "info": (info.n_in, info.n_out, info.model), "caps": info.caps, "bench": bench})
    np.save(str(job["out"]), np.array(results, dtype=object), allow_pickle=True)
