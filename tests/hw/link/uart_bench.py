"""cocotb bench for the UART top (hw.gateware.uart.UARTBridge): the host driver hw.link.host.Link talks to the
real Verilog through cocotbext-uart models; launched by test_uart_link.py.

Job (npz in $HW_JOB): counts [B, T, n_in] to run, `bit_ns` (one UART bit), `out` (result path).
"""
import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import ClockCycles

from hw.link import protocol as P
from hw.link.host import Link
from hw.rtlsim.uart_port import SimPort

CLOCK_NS = 10
TIMEOUT_NS = 200_000  # 20 000 clocks: several times the longest step of the test models


async def start(dut, bit_ns):
    cocotb.start_soon(Clock(dut.clk, CLOCK_NS, "ns").start())
    dut.rx.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    return SimPort(dut.rx, dut.tx, bit_ns, timeout_ns=TIMEOUT_NS)


@cocotb.test()
async def samples(dut):
    """Every sample of the job through Link.run_sample; results saved for the pytest side."""
    job = np.load(os.environ["HW_JOB"])
    port = await start(dut, int(job["bit_ns"]))

    @bridge
    def host():
        link = Link(port)
        port.write(P.encode_events([0], job["counts"].shape[-1])[:1])  # a half-sent word, as if aborted
        link.resync()
        info = link.info()
        runs = [link.run_sample(sample) for sample in job["counts"]]
        return info, runs

    info, runs = await host()
    np.savez(str(job["out"]), spikes=np.stack([s for s, _ in runs]), cycles=np.stack([c for _, c in runs]),
             info=np.array([info.n_in, info.n_out, info.fifo_depth, info.clock_hz, info.model]))


@cocotb.test()
async def errors(dut):
    """Framing and range errors are reported in the next reply's flags, and the link recovers."""
    job = np.load(os.environ["HW_JOB"])
    port = await start(dut, int(job["bit_ns"]))

    @bridge
    def host():
        link = Link(port)
        n_in = link.info().n_in
        seen = {}
        port.write(bytes([0x05, P.SYNC]))  # a continuation byte with no word to continue
        seen["orphan"] = port.read(1)[0]
        port.write(bytes([P.COMMAND_TAG | 0x3F, P.SYNC]))  # unknown command
        seen["command"] = port.read(1)[0]
        if P.cont_bytes(n_in):
            head = P.encode_events([0], n_in)[:1]
            port.write(head + bytes([P.SYNC]))  # a word cut short by the next command
            seen["cut"] = port.read(1)[0]
        if (1 << P.addr_bits(n_in)) > n_in:  # an address the format can carry but the model lacks
            port.write(P.encode_events([n_in], (1 << P.addr_bits(n_in))) + bytes([P.SYNC]))
            seen["range"] = port.read(1)[0]
        port.write(bytes([P.SYNC]))
        seen["clean"] = port.read(1)[0]
        return seen, link.run_sample(job["counts"][0])

    seen, (spikes, _) = await host()
    expect = {"orphan": P.FLAG_FRAMING, "command": P.FLAG_FRAMING, "cut": P.FLAG_FRAMING,
              "range": P.FLAG_RANGE, "clean": 0}
    for name, got in seen.items():
        assert got == P.REPLY_ACK | expect[name], f"{name}: reply 0x{got:02x}, expected 0x{P.REPLY_ACK | expect[name]:02x}"
    np.savez(str(job["out"]) + ".errors.npz", spikes=spikes)
