"""Everything on the chip but the clock and the pin buffers when the core keeps weights in SPRAM: the
UART bridge around the core and the flash boot loader. The board top (hw/board/build.py) adds the
PLL and the pins (a core without SPRAM goes there as the bare bridge); the whole-board simulation
(tests/hw/board/test_board_sim.py) runs this as its top.
"""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.link import image

from . import flash
from .flash import FlashLoader, SPISignature
from .plan import spram_image
from .uart import UARTBridge


class System(wiring.Component):
    """`bridge`'s serial pins `rx`/`tx` and `flash` (SPI to the configuration flash); `image` is the
    bytes to program at `offset` (hw/link/image.py)."""

    def __new__(cls, bridge: UARTBridge, *, offset: int = image.FLASH_OFFSET):
        # Refuse before the object exists: no unused elaboratable to warn about.
        if not bridge.image_words:
            raise ValueError("System: the core keeps nothing in SPRAM, so there is no image to boot from")
        flash.check(n_words=bridge.image_words, digest=bridge.info.model, clk_hz=bridge.info.clock_hz, offset=offset)
        return super().__new__(cls)

    def __init__(self, bridge: UARTBridge, *, offset: int = image.FLASH_OFFSET):
        self.bridge = bridge
        self.offset = offset
        words = spram_image(bridge.core.plans)
        self.image = image.pack(words, bridge.info.model)
        self.loader = FlashLoader(n_words=len(words), digest=bridge.info.model, clk_hz=bridge.info.clock_hz,
                                  offset=offset)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "flash": Out(SPISignature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self.bridge
        m.submodules.loader = loader = self.loader
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx), bridge.load_status.eq(loader.status)]
        wiring.connect(m, wiring.flipped(self.flash), loader.spi)
        wiring.connect(m, loader.load, bridge.load)
        return m
