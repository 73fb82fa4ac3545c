"""A read-only memory in iCE40 SPRAM blocks (SB_SPRAM256KA), written once at boot through `load`.

The layout of the blocks and of the boot image is `hw.gateware.plan.spram_image`'s. Each block is
the vendor primitive when elaborated for a platform (or with `cells=True`, for simulations that
include yosys' `cells_sim.v`), and otherwise a behavioural model with the primitive's behaviour as
the core uses it: registered read (one cycle, like a block RAM read port), output held while not
selected, writes only through `load`.
"""
from __future__ import annotations

from amaranth import Array, Cat, ClockSignal, Module, Mux, Signal
from amaranth.hdl import Instance
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .plan import SPRAM_DEPTH, SPRAM_WIDTH, MemoryPlan

SPRAM_ADDR_BITS = SPRAM_DEPTH.bit_length() - 1


def load_signature(addr_width: int) -> wiring.Signature:
    """One boot-image word per cycle with `en`: word `addr` of the image (hw.gateware.plan.spram_image)."""
    return wiring.Signature({"addr": Out(addr_width), "data": Out(SPRAM_WIDTH), "en": Out(1)})


class SpramMemory(wiring.Component):
    """`memory` (a MemoryPlan with `spram` set) as a read port (`addr`, `en`, `data` one cycle later)
    plus the boot `load` port; while `load.en` is high the read port's data is undefined."""

    def __init__(self, memory: MemoryPlan, load_width: int, cells: bool | None = None):
        self.memory, self.cells = memory, cells
        super().__init__({"addr": In(range(memory.depth)), "en": In(1, init=1), "data": Out(memory.width),
                          "load": In(load_signature(load_width))})

    def elaborate(self, platform):
        mem = self.memory
        m = Module()
        lo, block = self.load.addr[:SPRAM_ADDR_BITS], self.load.addr[SPRAM_ADDR_BITS:]
        row_sel = Signal(range(mem.spram_rows))  # the row of blocks the last read came from
        rows = []
        for row in range(mem.spram_rows):
            lanes = []
            for lane in range(mem.spram_lanes):
                index = mem.spram + row * mem.spram_lanes + lane
                write = self.load.en & (block == index)
                addr, out = Signal(SPRAM_ADDR_BITS, name=f"addr{index}"), Signal(SPRAM_WIDTH, name=f"data{index}")
                m.d.comb += addr.eq(Mux(write, lo, self.addr[:SPRAM_ADDR_BITS]))
                self._block(m, platform, f"block{index}", min(SPRAM_DEPTH, mem.depth - row * SPRAM_DEPTH),
                            addr, write, self.en | write, out)
                lanes.append(out)
            rows.append(lanes)
        with m.If(self.en):
            m.d.sync += row_sel.eq(self.addr[SPRAM_ADDR_BITS:])
        m.d.comb += self.data.eq(Array(Cat(*lanes) for lanes in rows)[row_sel])
        return m

    def _block(self, m, platform, name, depth, addr, write, select, out) -> None:
        if self.cells or (self.cells is None and platform is not None):
            m.submodules[name] = Instance(
                "SB_SPRAM256KA", i_ADDRESS=addr, i_DATAIN=self.load.data, i_MASKWREN=0b1111, i_WREN=write,
                i_CHIPSELECT=select, i_CLOCK=ClockSignal(), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=out)
            return
        # Only the words the memory uses: the image's padding past them must not wrap around.
        m.submodules[name] = model = Memory(shape=SPRAM_WIDTH, depth=depth, init=[])
        w = model.write_port()
        r = model.read_port()
        m.d.comb += [w.addr.eq(addr), w.data.eq(self.load.data), w.en.eq(write & (addr < depth)),
                     r.addr.eq(addr), r.en.eq(select & ~write), out.eq(r.data)]
