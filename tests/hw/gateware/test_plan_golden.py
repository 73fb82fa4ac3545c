"""The hardware plan (hw.gateware.plan) with widths, words and messages worked out by hand from the
layouts in sim/storage.py and docs/hw-core.md: what the RTL co-simulation checks only under slow,
checked here at the level of the plan."""
import dataclasses

import numpy as np
import pytest

from hw.gateware import plan as P
from hw.gateware.plan import GeneratorError
from sim import storage
from sim.artifact import Artifact, Layer


def layer(w, theta=10, bias=0, reset="subtract", leak_b=256, w_bits=4):
    return Layer.from_dense(w, w_bits=w_bits, theta=theta, bias=bias, leak_b=leak_b, leak_f=8, reset=reset)


def test_one_synapse_layer_plan_field_by_field():
    # One input feeding neuron 0 of 4 with weight 1: CSR word idx 0 | 1 << 2 (two index bits) = 4,
    # row 0 = start 0 | length 1 << 1 (one pointer bit) = 2.
    lp = P.plan_layer(Artifact.create([layer([[1], [0], [0], [0]])], steps=5).layers[0], 0, "csr")
    assert (lp.index, lp.n_in, lp.n_out, lp.storage, lp.in_width, lp.out_width) == (0, 1, 4, "csr", 1, 2)
    assert (lp.ptr_width, lp.len_width, lp.gap_width, lp.syn_width, lp.w_bits) == (1, 1, 0, 6, 4)
    assert (lp.rows, lp.synapses, lp.reset, lp.v_width, lp.leak_f) == ([2], [4], "subtract", 4, 8)
    assert [(m.name, m.depth, m.width, m.init) for m in lp.memories()] == [
        ("layer0.synapses", 1, 6, [4]), ("layer0.membrane", 4, 4, [0, 0, 0, 0]), ("layer0.rows", 1, 2, [2])]
    # delta (the automatic choice here, 7 bits against csr's 8): one-bit skip field, skip 0 | 1 << 1
    auto = P.plan_layer(Artifact.create([layer([[1], [0], [0], [0]])], steps=5).layers[0], 0)
    assert (auto.storage, auto.gap_width, auto.syn_width, auto.synapses, auto.rows) == ("delta", 1, 5, [2], [2])
    dense = P.plan_layer(Artifact.create([layer([[1], [0], [0], [-1]])], steps=5).layers[0], 0, "dense")
    assert (dense.rows, dense.synapses, dense.len_width) == (None, [1, 0, 0, 0b1111], 0)
    assert [m.name for m in dense.memories()] == ["layer0.synapses", "layer0.membrane"]


@pytest.mark.parametrize("reset, v_init", [
    # V(0) = 0; r(1) = [0 > θ]: neuron 0 (θ = -3) starts as fired. subtract: -r·θ + bias; zero: bias.
    ("subtract", [3 + 2, -1]), ("zero", [2, -1])])
def test_membrane_ram_after_reset(reset, v_init):
    l = layer([[1, 0], [0, 1]], theta=[-3, 5], bias=[2, -1], reset=reset)
    assert P.plan_layer(Artifact.create([l], steps=3).layers[0], 0, "csr").v_init == v_init


def test_next_base_by_hand():
    # beta = 192/256: L(10) = 1920 >> 8 = 7, L(-10) = -1920 >> 8 = -8 (floors)
    l = layer([[1, 0], [0, 1]], theta=[4, 6], bias=[1, -2], leak_b=192)
    v, fired = np.array([10, -10]), np.array([True, False])
    assert P.next_base(l, v, fired).tolist() == [7 - 4 + 1, -8 - 2]
    zero = dataclasses.replace(l, reset="zero")
    assert P.next_base(zero, v, fired).tolist() == [0 + 1, -8 - 2]


def test_parameter_rom_words_and_widths():
    # theta [-3, 5] -> 4 signed bits, bias [2, -1] -> 3; leak_b is shared (no ROM field), 9 unsigned bits
    lp = P.plan_layer(Artifact.create([layer([[1, 0], [0, 1]], theta=[-3, 5], bias=[2, -1])], steps=3).layers[0], 0)
    assert lp.param_shape("theta") == (4, True) and lp.param_shape("bias") == (3, True)
    assert lp.param_shape("leak_b") == (9, False) and lp.varying_params == ["theta", "bias"]
    assert lp.params_rom == [0b1101 | 0b010 << 4, 0b0101 | 0b111 << 4]
    assert ("layer0.params", 2, 7, lp.params_rom) in [(m.name, m.depth, m.width, m.init) for m in lp.memories()]


@pytest.mark.parametrize("values, width", [([0], 1), ([1], 2), ([-1], 1), ([3, -4], 3), ([5], 4), (np.array([5], np.uint8), 4)])
def test_signed_width_includes_zero(values, width):
    assert P.signed_width(values) == width


def big(n_in, n_out, nnz):
    w = np.zeros((n_out, n_in), np.int64)
    w.reshape(-1)[:nnz] = 1
    return Artifact.create([layer(w)], steps=2)


def test_generator_limits_at_and_past_the_boundary(monkeypatch):
    monkeypatch.setattr(P, "MAX_NEURONS", 4)
    monkeypatch.setattr(P, "MAX_SYNAPSES", 6)
    P.plan(big(4, 1, 4), "csr")
    P.plan(big(1, 4, 4), "csr")
    with pytest.raises(GeneratorError, match=r"^l0\.shape: n_in = 5 exceeds the generator's 4 neurons per layer$"):
        P.plan(big(5, 1, 1))
    with pytest.raises(GeneratorError, match=r"^l0\.shape: n_out = 5 exceeds the generator's 4 neurons per layer$"):
        P.plan(big(1, 5, 1))
    P.plan(big(3, 3, 6), "csr")
    with pytest.raises(GeneratorError, match=r"^l0\.idx: 7 synapses exceed the generator's 6 per layer$"):
        P.plan(big(3, 3, 7), "csr")
    P.plan(big(2, 3, 1), "dense")
    with pytest.raises(GeneratorError, match=r"^l0\.shape: 4x2 dense weights exceed the generator's 6 words; "
                                             r"use CSR storage$"):
        P.plan(big(4, 2, 1), "dense")
    P.plan(big(4, 2, 1), "csr")


def test_delta_escape_words_count_against_the_limit(monkeypatch):
    # One input, synapses at neurons 0 and 3 of 4, with a 1-bit skip field: the skip of 2 to neuron 3
    # takes an escape word (skip 1, weight 0: neuron 2) first, then skip 0, so 3 words for 2 synapses.
    w = np.zeros((4, 1), np.int64)
    w[[0, 3], 0] = [1, 2]
    art = Artifact.create([layer(w)], steps=2)
    enc = storage.encode(art.layers[0], "delta", gap_width=1)
    assert enc.synapses.tolist() == [0 | 1 << 1, 1 | 0 << 1, 0 | 2 << 1]
    assert storage.decode(enc, 1, 4, 4).dtype == np.int64
    monkeypatch.setattr(storage, "best_gap_width", lambda layer: 1)
    monkeypatch.setattr(P, "MAX_SYNAPSES", 2)
    with pytest.raises(GeneratorError, match=r"^l0\.idx: 3 delta synapse words exceed the generator's 2 per layer; "
                                             r"use CSR storage$"):
        P.plan(art, "delta")
    monkeypatch.setattr(P, "MAX_SYNAPSES", 3)
    assert P.plan(art, "delta")[0].synapses == enc.synapses.tolist()


def test_membrane_wider_than_the_generator_is_refused():
    # bias 2^31 - 1 and beta = 1: V(2) = 2^32 - 2 needs 33 signed bits
    art = Artifact.create([layer([[0]], theta=2 ** 31 - 1, bias=2 ** 31 - 1)], steps=2)
    with pytest.raises(GeneratorError, match=r"^l0\.v_bound: membrane needs 33 bits, more than the generator's 32; "
                                             r"lower the weights/thresholds or use a leak < 1$"):
        P.plan(art)


def test_unknown_storage_and_spram_names_are_refused_by_name():
    art = Artifact.create([layer([[1], [0]])], steps=2)
    with pytest.raises(GeneratorError, match=r"^storage: unknown 'bitmap'; choose one of auto, csr, dense, delta$"):
        P.plan(art, "bitmap")
    with pytest.raises(GeneratorError, match=r"^spram: layer0\.membrane, layer1\.rows cannot go to SPRAM; choose "
                                             r"from layer0\.synapses, layer0\.rows$"):
        P.plan(art, "csr", ["layer1.rows", "layer0.membrane"])
    with pytest.raises(GeneratorError, match=r"^artifact: expected a sim\.artifact\.Artifact, got dict$"):
        P.plan({})


def test_spram_image_of_a_memory_two_blocks_deep_and_two_wide():
    # 2 x 8193 fully connected, CSR: 16386 synapse words of 14 index + 4 value bits = 18 bits, so two
    # rows of blocks (16384 words + 2) by two 16-bit lanes; blocks: row r, lane l -> 2r + l.
    art = Artifact.create([layer(np.ones((8193, 2), np.int64) * np.array([1, -1]), theta=10 ** 6)], steps=1)
    (lp,) = P.plan(art, "csr", ["layer0.synapses"])
    assert lp.spram == {"synapses": 0} and lp.memories()[0].spram_blocks == 4
    image = P.spram_image([lp])
    assert image.dtype == np.uint16 and len(image) == 3 * 16384 + 2
    words = [i | 1 << 14 for i in range(8193)] + [i | 0b1111 << 14 for i in range(8193)]  # row 0 weights 1, row 1 -1
    expected = np.zeros(4 * 16384, np.uint16)
    for k, word in enumerate(words):
        for lane in range(2):
            expected[(2 * (k // 16384) + lane) * 16384 + k % 16384] = word >> 16 * lane & 0xFFFF
    assert np.array_equal(image, expected[:3 * 16384 + 2])
    assert P.spram_image(P.plan(art, "csr")).dtype == np.uint16 and P.spram_image(P.plan(art, "csr")).size == 0


def test_spram_blocks_follow_each_other_in_layer_order():
    art = Artifact.create([layer(np.ones((3, 2), np.int64)), layer(np.ones((2, 3), np.int64))], steps=2)
    plans = P.plan(art, "csr", "all")
    assert [p.spram for p in plans] == [{"synapses": 0, "rows": 1}, {"synapses": 2, "rows": 3}]
    assert [m.name for m in P.memories(plans) if m.holds_weights] == ["layer0.synapses", "layer0.rows",
                                                                       "layer1.synapses", "layer1.rows"]
