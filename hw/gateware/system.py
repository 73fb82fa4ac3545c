"""Everything on the chip but the clock and the pin buffers: the UART bridge around the core, and the
flash boot loader when the core keeps weights in SPRAM. The board top (hw/board/build.py) adds the
PLL and the pins; the whole-board simulation (tests/hw/board/test_board_sim.py) runs this as its top.
"""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.link import image

from .flash import FlashLoader, SPISignature
from .plan import spram_image
from .uart import UARTBridge


class System(wiring.Component):
    """`bridge`'s serial pins `rx`/`tx`; with a boot image also `flash` (SPI to the configuration
    flash) and `image` (the bytes to program at `offset`, hw/link/image.py)."""

    def __init__(self, bridge: UARTBridge, *, offset: int = image.FLASH_OFFSET):
        self.bridge = bridge
        self.offset = offset
        self.image = b""
        self.loader = None
        ports = {"rx": In(1, init=1), "tx": Out(1, init=1)}
        if bridge.image_words:
            words = spram_image(bridge.core.plans)
            self.image = image.pack(words, bridge.info.model)
            self.loader = FlashLoader(n_words=len(words), digest=bridge.info.model, clk_hz=bridge.info.clock_hz,
                                      offset=offset)
            ports["flash"] = Out(SPISignature)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self.bridge
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx)]
        if self.loader is not None:
            m.submodules.loader = loader = self.loader
            wiring.connect(m, wiring.flipped(self.flash), loader.spi)
            wiring.connect(m, loader.load, bridge.load)
            m.d.comb += bridge.load_status.eq(loader.status)
        return m
