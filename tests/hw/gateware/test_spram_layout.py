"""Layouts for SPRAM: SB_SPRAM256KA keeps 16-bit words whatever the memory's width, so a layer whose
weights go there is laid out for the fewest blocks, and its stored bits count 16 per word and lane."""
import numpy as np

import boards
from hw.board import fit
from hw.gateware.plan import SPRAM_DEPTH, MemoryPlan, choose_layout, plan
from sim import storage
from sim.artifact import Artifact, Layer

ROWS = 1000


def clustered() -> Artifact:
    """Per input 15 synapses on neurons 0..14 and one on neuron 115: delta stores fewest bits with a
    6-bit skip and one escape per row (17 words a row, 17 000 > 16K), CSR in 16 000 words."""
    rng = np.random.default_rng(0)
    w = np.zeros((128, ROWS), np.int64)
    w[list(range(15)) + [115]] = rng.choice([-8, -3, -1, 1, 2, 7], size=(16, ROWS))
    return Artifact.create([Layer.from_dense(w, w_bits=4, theta=1, leak_b=128)], steps=2)


def test_weights_in_spram_take_the_layout_with_the_fewest_blocks():
    art = clustered()
    (in_ebr,) = plan(art)
    assert (in_ebr.storage, in_ebr.gap_width, len(in_ebr.synapses)) == ("delta", 6, 17 * ROWS)
    assert in_ebr.memories()[0].spram_blocks == 2  # what it would take in SPRAM
    (in_spram,) = plan(art, spram=["layer0.synapses"])
    synapses = in_spram.memories()[0]
    assert synapses.spram == 0 and synapses.spram_blocks == 1 and synapses.depth == 16 * ROWS
    assert synapses.bits == synapses.depth * 16  # 16-bit words, whatever the layout's width
    enc = choose_layout(art.layers[0], "auto", ("synapses",))
    assert enc.synapses.tolist() == in_spram.synapses and enc.rows.tolist() == in_spram.rows
    assert np.array_equal(storage.decode(enc, ROWS, 128, 4), art.layers[0].dense())


def test_layouts_in_spram_tie_on_words_then_take_the_fewest_bits():
    """Every delta skip width and CSR store 16 000 words of at most 16 bits here; the pick stores
    the fewest bits over both memories, rows included."""
    layer = clustered().layers[0]
    enc = choose_layout(layer, "auto", ("synapses",))
    rivals = [e for name in storage.ENCODINGS for e in storage.layouts(layer, name)
              if e.rows is not None and len(e.synapses) <= SPRAM_DEPTH and e.syn_width <= 16]
    assert len(rivals) > 1
    assert all(len(enc.synapses) * 16 + enc.rows.size * enc.row_width
               <= len(e.synapses) * 16 + e.rows.size * e.row_width for e in rivals)


def test_the_fit_check_places_the_spram_layout():
    est = fit.estimate(clustered(), boards.get("icebreaker"))
    assert est.spram_names == ("layer0.synapses",) and est.spram == 1 and est.image_words == 16 * ROWS


def test_spram_bits_count_every_lane_of_sixteen():
    assert MemoryPlan("layer0.rows", 100, 20, spram=0).bits == 100 * 32
    assert MemoryPlan("layer0.rows", 100, 20).bits == 100 * 20
