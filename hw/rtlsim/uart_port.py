"""A pyserial-like port on the cocotbext-uart models, so `hw.link.host.Link` can drive a simulated
top level (the cocotb benches in tests/hw/link/ and tests/hw/board/)."""
from __future__ import annotations

from cocotb.task import resume
from cocotbext.uart import UartSink, UartSource


class SimPort:
    """pyserial's write/read(n) on the `rx`/`tx` pins; read returns short on timeout."""

    def __init__(self, rx, tx, bit_ns: int, timeout_ns: int):
        baud = round(1e9 / bit_ns)
        self.source = UartSource(rx, baud=baud)
        self.sink = UartSink(tx, baud=baud)
        self.timeout_ns = timeout_ns

    @resume
    async def write(self, data: bytes) -> None:
        await self.source.write(data)

    @resume
    async def read(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            if self.sink.empty():
                await self.sink.wait(self.timeout_ns, "ns")
                if self.sink.empty():
                    break
            out += self.sink.read_nowait(1)
        return bytes(out)
