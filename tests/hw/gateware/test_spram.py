"""Weights and row pointers in SPRAM: the boot image's layout, and the core with memories forced into
SPRAM (behavioural model, loaded by the bench) against sim.reference, at the same cycle counts."""
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment

from hw.gateware import perf
from hw.gateware.core import Core, GeneratorError
from hw.gateware.plan import SPRAM_DEPTH, plan, spram_image
from random_nets import random_counts, torture_net
from sim import reference
from sim.artifact import Artifact
from sim.testing import random_layer
from test_core import check


def wide_and_deep() -> Artifact:
    """Synapses deeper than one SPRAM block (20 000 words), row pointers wider than 16 bits."""
    rng = np.random.default_rng(3)
    return Artifact.create([random_layer(rng, 200, 200, density=0.5, w_bits=4, reset="subtract")], steps=4)


def test_image_holds_every_word_where_the_layout_says():
    art = wide_and_deep()
    plans = plan(art, "csr", "all")
    image = spram_image(plans)
    for m in (m for p in plans for m in p.memories() if m.spram is not None):
        assert m.spram_rows * m.spram_lanes == m.spram_blocks
        words = np.zeros(m.depth, np.int64)
        for i in range(m.depth):
            for lane in range(m.spram_lanes):
                block = m.spram + (i // SPRAM_DEPTH) * m.spram_lanes + lane
                words[i] |= int(image[block * SPRAM_DEPTH + i % SPRAM_DEPTH]) << (16 * lane)
        assert words.tolist() == m.init, m.name
    synapses, rows = (m for m in plans[0].memories() if m.spram is not None)
    assert synapses.depth > SPRAM_DEPTH and synapses.spram_blocks == 2
    assert rows.width > 16 and rows.spram_blocks == 2 and rows.spram == 2
    assert len(image) == 3 * SPRAM_DEPTH + rows.depth  # ends after the last word used


def test_no_spram_no_image_no_ports():
    core = Core(torture_net())
    assert core.image_words == 0 and "load" not in core.signature.members and "hold" not in core.signature.members
    forced = Core(torture_net(), spram=["layer0.rows"])
    assert forced.image_words == len(forced.plans[0].rows)
    assert {"load", "hold"} <= set(forced.signature.members)
    for elaboratable in (core, forced):
        Fragment.get(elaboratable, None)  # elaborates: both are complete designs


def test_vendor_cells_one_per_block():
    core = Core(wide_and_deep(), "csr", "all", spram_cells=True)
    assert verilog.convert(core, emit_src=False).count("SB_SPRAM256KA ") == 4


def test_only_read_only_memories_go_to_spram():
    with pytest.raises(GeneratorError, match="spram: layer0.membrane cannot go to SPRAM"):
        Core(torture_net(), spram=["layer0.membrane"])


@pytest.mark.parametrize("simulator", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_torture_net_in_spram(simulator):
    """Rows of one layer and synapses of another in SPRAM, loaded at boot; back-pressure, gaps, repeats."""
    art = torture_net()
    counts = random_counts(np.random.default_rng(1), art, steps=art.steps, samples=2, density=0.4)
    check(art, counts, simulator, stall=0.3, gap=0.2, shuffle=True, junk=0.2, abort=0.5, seed=2, storage="csr",
          spram=["layer0.rows", "layer2.synapses"])


@pytest.mark.simulator("icarus")
@pytest.mark.parametrize("storage", ["csr", "delta", pytest.param("dense", marks=pytest.mark.slow)])
def test_spram_keeps_one_synaptic_event_per_clock(storage):
    """The cycles per step of the cycle model, as in block RAM: SPRAM reads take one clock too (a
    layer in SPRAM may have another layout, hence other row lengths: `perf` takes the placement)."""
    rng = np.random.default_rng(5)
    art = Artifact.create([random_layer(rng, 24, 20, density=0.5, w_bits=4, reset="subtract")],
                          input_max_count=2, steps=12)
    counts = random_counts(rng, art, steps=12, samples=2, density=0.5)
    in_ebr = check(art, counts, "icarus", storage=storage)
    in_spram = check(art, counts, "icarus", storage=storage, spram="all")
    for hw, spram in ((in_ebr, ()), (in_spram, "all")):
        lower, upper = perf.step_cycles(art, counts, storage, spram)
        assert np.array_equal(lower, upper) and np.array_equal(hw.cycles, lower)  # one layer: exact
    assert reference.run(art, counts).spikes[0].any()


def test_rows_and_lanes_of_blocks_read_back():
    """A memory two blocks deep and two wide (Amaranth simulation of the behavioural model): words
    written through `load` at their image addresses come back from the read port one clock later."""
    from amaranth.sim import Simulator

    from hw.gateware.plan import MemoryPlan
    from hw.gateware.spram import SpramMemory

    rng = np.random.default_rng(0)
    depth, width = SPRAM_DEPTH + 40, 20
    init = rng.integers(0, 1 << width, depth).tolist()
    mem = MemoryPlan("layer0.rows", depth, width, init, spram=1)  # blocks 1..4
    image = spram_image([SimpleNamespace(memories=lambda: [mem])])
    picks = [0, 5, SPRAM_DEPTH - 1, SPRAM_DEPTH, SPRAM_DEPTH + 39]
    dut = SpramMemory(mem, len(image).bit_length())

    async def bench(ctx):
        for i in picks:
            for lane in range(2):
                a = (1 + (i // SPRAM_DEPTH) * 2 + lane) * SPRAM_DEPTH + i % SPRAM_DEPTH
                ctx.set(dut.load.addr, a)
                ctx.set(dut.load.data, int(image[a]))
                ctx.set(dut.load.en, 1)
                await ctx.tick()
        ctx.set(dut.load.en, 0)
        for i in picks + picks[::-1]:
            ctx.set(dut.addr, i)
            await ctx.tick()
            assert ctx.get(dut.data) == init[i], i

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
