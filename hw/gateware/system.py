"""Everything on the chip but the clock and the pin buffers when the design reads the board's flash:
the UART bridge around the core, the boot loader of the weight image (a core with SPRAM) and the
reader of the benchmark's sample block (a bridge built with `bench`). The board top
(hw/board/build.py) adds the PLL and the pins (a design that reads no flash goes there as the bare
bridge); the whole-board simulation (tests/hw/board/test_board_sim.py) runs this as its top.
"""
from __future__ import annotations

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.link import image, samples
from hw.link.image import LoadStatus

from . import flash
from .flash import FlashLoader, SPISignature
from .plan import spram_image
from .uart import UARTBridge


class System(wiring.Component):
    """`bridge`'s serial pins `rx`/`tx` and `flash` (SPI to the configuration flash, read
    `flash_width` bits per SCK: hw/gateware/flash.py); `image` is the weight image to program at
    `offset` (hw/link/image.py; None without SPRAM), `bench` the sample block's reader (None without
    the benchmark), which reads at `bench_offset` (hw/link/samples.py) once the boot loader is done
    with the flash."""

    def __new__(cls, bridge: UARTBridge, *, flash_width: int, offset: int = image.FLASH_OFFSET,
                bench_offset: int = samples.OFFSET):
        # Refuse before the object exists: no unused elaboratable to warn about.
        if not bridge.image_words and not bridge.bench:
            raise ValueError("System: the core keeps nothing in SPRAM and has no benchmark: nothing reads the flash")
        if bridge.image_words:
            flash.check(n_words=bridge.image_words, digest=bridge.info.model, clk_hz=bridge.info.clock_hz,
                        offset=offset, width=flash_width)
        return super().__new__(cls)

    def __init__(self, bridge: UARTBridge, *, flash_width: int, offset: int = image.FLASH_OFFSET,
                 bench_offset: int = samples.OFFSET):
        self.bridge = bridge
        self.offset, self.flash_width = offset, flash_width
        self.image = self.loader = self.bench = None
        if bridge.image_words:
            words = spram_image(bridge.core.plans)
            self.image = image.pack(words, bridge.info.model)
            self.loader = FlashLoader(n_words=len(words), digest=bridge.info.model, clk_hz=bridge.info.clock_hz,
                                      width=flash_width, offset=offset)
        if bridge.bench:
            self.bench = FlashLoader(n_words=None, digest=bridge.info.model, clk_hz=bridge.info.clock_hz,
                                     width=flash_width, offset=bench_offset, magic=samples.MAGIC, restart=True)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "flash": Out(SPISignature)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self.bridge
        m.d.comb += [bridge.rx.eq(self.rx), self.tx.eq(bridge.tx)]
        loader, bench = self.loader, self.bench
        if loader:
            m.submodules.loader = loader
            m.d.comb += bridge.load_status.eq(loader.status)
            wiring.connect(m, loader.load, bridge.load)
        if bench:
            m.submodules.bench = bench
            m.d.comb += [bench.start.eq(bridge.bench_start), bridge.bench_status.eq(bench.status),
                         bridge.bench_trailer.eq(bench.trailer)]
            wiring.connect(m, bench.load, bridge.bench_words)
        if loader and bench:  # the pins are the boot loader's until its verdict (the bridge holds BENCH till then)
            booting = loader.status == LoadStatus.LOADING
            for name in ("cs", "sck", "o", "oe"):
                m.d.comb += getattr(self.flash, name).eq(Mux(booting, getattr(loader.spi, name), getattr(bench.spi, name)))
            m.d.comb += [loader.spi.i.eq(self.flash.i), bench.spi.i.eq(self.flash.i)]
        else:
            wiring.connect(m, wiring.flipped(self.flash), (loader or bench).spi)
        return m
