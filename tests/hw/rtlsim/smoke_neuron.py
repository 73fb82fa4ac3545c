"""Toolchain smoke test: one LIF neuron in Amaranth, driven by cocotb on Verilator and Icarus.

The cocotb test below runs inside the simulator; tests/hw/test_smoke_neuron.py builds and launches it.
"""
import random

from amaranth import Signal, Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

THETA, LEAK_B, LEAK_F, V_WIDTH = 20, 192, 8, 12  # beta = 0.75, subtract reset


class SmokeNeuron(wiring.Component):
    """V <- L(V) + current - r·θ on each `step` strobe; `spike` = V > θ (docs/artifact.md)."""

    step: In(1)
    current: In(signed(8))
    spike: Out(1)
    v: Out(signed(V_WIDTH))

    def elaborate(self, platform):
        m = Module()
        leaked = Signal(signed(V_WIDTH))
        m.d.comb += leaked.eq((self.v * LEAK_B) >> LEAK_F)
        with m.If(self.step):
            m.d.sync += [self.v.eq(leaked + self.current - self.spike * THETA),
                         self.spike.eq(leaked + self.current - self.spike * THETA > THETA)]
        return m


def reference(currents):
    """Integer model of the same neuron, using sim/'s leak."""
    from sim.artifact import leak

    v, fired, out = 0, False, []
    for i in currents:
        v = leak(v, LEAK_B, LEAK_F) + i - fired * THETA
        fired = v > THETA
        out.append((v, int(fired)))
    return out


try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
except ImportError:  # imported by pytest for the component only
    cocotb = None

if cocotb is not None:
    @cocotb.test()
    async def lif_matches_reference(dut):
        rng = random.Random(1)
        currents = [rng.randint(-40, 60) for _ in range(200)]
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        dut.step.value = 0
        await RisingEdge(dut.clk)
        dut.rst.value = 0
        for t, ((v, s), i) in enumerate(zip(reference(currents), currents)):
            await FallingEdge(dut.clk)
            dut.step.value = 1
            dut.current.value = i
            await RisingEdge(dut.clk)
            await ReadOnly()
            got = (dut.v.value.to_signed(), int(dut.spike.value))
            assert got == (v, s), f"step {t}: hardware (V, spike) = {got}, reference {(v, s)}"
