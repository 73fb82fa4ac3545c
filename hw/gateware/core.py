"""The multi-layer core: LIF layers chained by beat streams, one time step in flight at a time.

Ports and the beat format are documented in docs/hw-core.md.
"""
from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from sim.artifact import Artifact

from .layer import Kind, LifLayer, beat_layout, beat_stream
from .plan import GeneratorError, plan

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
    """

    def __new__(cls, art: Artifact, storage: str = "auto"):
        # Plan before the object exists: a refused core is never created, so Amaranth has no
        # unelaborated component to warn about.
        plans = plan(art, storage)
        self = super().__new__(cls)
        self.plans = plans
        return self

    def __init__(self, art: Artifact, storage: str = "auto"):
        self.in_width = self.plans[0].in_width
        self.out_width = self.plans[-1].out_width
        super().__init__({
            "events": In(beat_stream(self.in_width)),
            "spikes": Out(beat_stream(self.out_width)),
            "busy": Out(1),
            "step_done": Out(1),
            "cycles": Out(CYCLES_WIDTH),
        })

    def elaborate(self, platform):
        m = Module()
        layers = [LifLayer(p) for p in self.plans]
        for k, layer in enumerate(layers):
            m.submodules[f"layer{k}"] = layer
        for a, b in zip(layers, layers[1:]):
            wiring.connect(m, a.spikes, b.events)
        first, final = layers[0], layers[-1]

        closing = Signal()  # END/CLEAR accepted, not yet out: hold further input
        count = Signal(CYCLES_WIDTH)
        m.d.comb += [
            first.events.valid.eq(self.events.valid & ~closing),
            first.events.payload.eq(self.events.payload),
            self.events.ready.eq(first.events.ready & ~closing),
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
