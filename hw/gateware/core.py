"""The multi-layer core: LIF layers chained by beat streams, one time step in flight at a time.

Ports and the beat format are documented in docs/hw-core.md.
"""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sim.artifact import Artifact

from .layer import Kind, LifLayer, beat_layout, beat_stream
from .plan import SPRAM_WIDTH, GeneratorError, plan, spram_image

__all__ = ["Core", "Kind", "beat_layout", "GeneratorError"]

CYCLES_WIDTH = 32


class Core(wiring.Component):
    """Event-driven LIF core for `art` (weights, pointers, thresholds as memory init).

    Ports (docs/hw-core.md): `events` (in stream of beats, `in_width`-bit addresses), `spikes`
    (out stream, `out_width`-bit addresses), `busy`, `step_done` (one-cycle pulse when a step's
    END/CLEAR has left), `cycles` (32 bit, valid with `step_done`). `plans` holds one
    `hw.gateware.plan.LayerPlan` per layer.

    `storage`: "auto" picks per layer the smaller of fan-out CSR and dense rows (hw.gateware.plan);
    "csr" or "dense" force one for every layer. An artifact the generator cannot build raises
    `GeneratorError` here, before any elaboration.

    `spram`: memories to place in SPRAM (names as in `hw.gateware.plan.plan`, "all" for every one
    that may go there). Then `image_words` > 0 and the core has two more ports: `load` (in stream of
    16-bit words: the image `hw.gateware.plan.spram_image`, written to SPRAM addresses 0, 1, ...;
    ready until all `image_words` are in, then low) and `hold` (in: while 1 no event is taken). A
    reset restarts the load at address 0. `spram_cells`: SB_SPRAM256KA instances even without a
    platform (for simulations with the vendor cell models); by default only for a platform.

    `lanes`: synapses every layer accumulates per clock (1, 2, 4; docs/hw-core.md, "Lanes"): the
    membranes in L banks, L synapses per memory word, L neurons per clock in the pass.
    """

    def __new__(cls, art: Artifact, storage: str = "auto", spram=(), spram_cells: bool | None = None,
                lanes: int = 1):
        # Plan before the object exists: a refused core is never created, so Amaranth has no
        # unelaborated component to warn about.
        plans = plan(art, storage, spram, lanes)
        self = super().__new__(cls)
        self.plans = plans
        return self

    def __init__(self, art: Artifact, storage: str = "auto", spram=(), spram_cells: bool | None = None,
                 lanes: int = 1):
        self.in_width = self.plans[0].in_width
        self.out_width = self.plans[-1].out_width
        self.image_words = len(spram_image(self.plans))
        self.spram_cells = spram_cells
        ports = {
            "events": In(beat_stream(self.in_width)),
            "spikes": Out(beat_stream(self.out_width)),
            "busy": Out(1),
            "step_done": Out(1),
            "cycles": Out(CYCLES_WIDTH),
        }
        if self.image_words:
            ports.update(load=In(stream.Signature(SPRAM_WIDTH)), hold=In(1))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        load_width = len(Signal(range(self.image_words + 1)))
        layers = [LifLayer(p, load_width, self.spram_cells) for p in self.plans]
        for k, layer in enumerate(layers):
            m.submodules[f"layer{k}"] = layer
        for a, b in zip(layers, layers[1:]):
            wiring.connect(m, a.spikes, b.events)
        first, final = layers[0], layers[-1]

        closing = Signal()  # END/CLEAR accepted, not yet out: hold further input
        blocked = closing
        if self.image_words:
            self._load(m, layers)
            blocked = closing | self.hold
        count = Signal(CYCLES_WIDTH)
        m.d.comb += [
            first.events.valid.eq(self.events.valid & ~blocked),
            first.events.payload.eq(self.events.payload),
            self.events.ready.eq(first.events.ready & ~blocked),
            self.spikes.valid.eq(final.spikes.valid),
            self.spikes.payload.eq(final.spikes.payload),
            final.spikes.ready.eq(self.spikes.ready),
        ]
        taken = self.events.valid & self.events.ready
        done = self.spikes.valid & self.spikes.ready & (self.spikes.payload.kind != Kind.SPIKE)
        waiting = self.events.ready & ~self.events.valid  # idle on the input link: not the core's time
        with m.If(taken & (self.events.payload.kind != Kind.SPIKE)):
            m.d.sync += closing.eq(1)
        with m.If(taken):
            m.d.sync += self.busy.eq(1)
        with m.If((self.busy | taken) & ~waiting):
            m.d.sync += count.eq(count + 1)
        m.d.sync += self.step_done.eq(done)
        with m.If(done):
            m.d.sync += [closing.eq(0), self.busy.eq(0), count.eq(0), self.cycles.eq(count + 1)]
        return m

    def _load(self, m: Module, layers: list[LifLayer]) -> None:
        """Boot: image word `addr` to every layer's SPRAM (each takes the blocks it owns)."""
        addr = Signal(range(self.image_words + 1))
        m.d.comb += self.load.ready.eq(addr != self.image_words)
        with m.If(self.load.valid & self.load.ready):
            m.d.sync += addr.eq(addr + 1)
        for layer in layers:
            if layer.plan.spram:
                m.d.comb += [layer.load.addr.eq(addr), layer.load.data.eq(self.load.payload),
                             layer.load.en.eq(self.load.valid & self.load.ready)]
