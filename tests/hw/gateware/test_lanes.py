"""L synapses per clock (hw/gateware/lanes.py): the packing model, and the core bit-exact on RTL with
the cycle model exact per lane count."""
import numpy as np
import pytest

import boards
from hw.board import fit
from hw.gateware import lanes, perf
from hw.gateware.core import GeneratorError
from hw.gateware.plan import SPRAM_DEPTH, plan, plan_layer, spram_image
from hw.rtlsim import runner
from random_nets import random_counts, torture_net
from sim import reference, storage
from sim.artifact import Artifact, Layer
from sim.testing import random_layer
from test_core import check


@pytest.mark.parametrize("n_out", [1, 3, 8, 13])
@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("L", [2, 4])
def test_packed_words_give_back_the_weights(n_out, density, L):
    """Unpacking the words slot by slot, as the banks add them, gives the weight matrix; empty CSR
    slots and the dense tail carry weight 0 and are the reported padding."""
    layer = random_layer(np.random.default_rng(n_out), 9, n_out, density=density, w_bits=3, reset="subtract")
    for encoding in lanes.LANE_ENCODINGS:
        enc = lanes.encode(layer, encoding, L)
        assert np.array_equal(lanes.decode(enc, layer.n_in, n_out, layer.w_bits, L), layer.dense())
        slots = int(enc.lengths.sum()) * L
        assert lanes.padding_slots(enc.lengths, encoding, layer, L) == slots - (layer.nnz if encoding == "csr" else 9 * n_out)
    csr = lanes.encode(layer, "csr", L)
    # A row takes as many words as its fullest bank holds synapses.
    banks = np.stack([(layer.dense()[b::L] != 0).sum(0) for b in range(L)])
    assert np.array_equal(csr.lengths, banks.max(0))


def test_one_lane_is_the_storage_layout():
    layer = random_layer(np.random.default_rng(0), 9, 13, density=0.3, w_bits=3, reset="subtract")
    for encoding in storage.ENCODINGS:
        ours, theirs = lanes.layouts(layer, encoding, 1), storage.layouts(layer, encoding)
        assert [e.synapses.tolist() for e in ours] == [e.synapses.tolist() for e in theirs]


def test_lanes_refused_with_a_clear_error():
    layer = random_layer(np.random.default_rng(0), 9, 13, density=0.3, w_bits=3, reset="subtract")
    with pytest.raises(GeneratorError, match="lanes: 3 synapses per clock is not built"):
        plan_layer(layer, 0, lanes=3)
    with pytest.raises(GeneratorError, match="storage: delta is not lane-packed"):
        plan_layer(layer, 0, "delta", lanes=2)
    assert plan_layer(layer, 0, "auto", lanes=4).storage in lanes.LANE_ENCODINGS


@pytest.mark.simulator("icarus")
@pytest.mark.parametrize("L,storage", [(2, "csr"), (4, "csr"), pytest.param(4, "dense", marks=pytest.mark.slow)])
def test_torture_net_with_lanes(L, storage):
    """Phantom neurons (12-10-7-5 neurons over 4 banks), read-modify-write hazards per bank,
    several spikes per group of a pass under back-pressure, CLEAR aborts."""
    art = torture_net()
    counts = random_counts(np.random.default_rng(1), art, steps=art.steps, samples=3, density=0.4)
    check(art, counts, "icarus", stall=0.3, gap=0.2, shuffle=True, junk=0.2, abort=0.7, seed=2, storage=storage,
          lanes=L)


@pytest.mark.simulator("icarus")
@pytest.mark.parametrize("L,storage", [(2, "csr"), (4, "csr"), (4, "dense")])
def test_cycle_model_exact_per_lane_count(L, storage):
    """One layer, input back to back: cycles = the words walked + the pass (a clock per group of L
    neurons, one more per further spike of a group) + the constant of L = 1, every step."""
    rng = np.random.default_rng(5)
    layer = random_layer(rng, 24, 21, density=0.5, w_bits=4, reset="subtract", theta_scale=0.2)
    art = Artifact.create([layer], input_max_count=2, steps=20)
    counts = random_counts(rng, art, steps=20, samples=2, density=0.5)
    counts[3] = 0  # an empty step
    hw = check(art, counts, "icarus", storage=storage, lanes=L)
    lower, upper = perf.step_cycles(art, counts, storage, lanes=L)
    assert np.array_equal(lower, hw.cycles) and np.array_equal(upper, hw.cycles)
    groups = np.pad(hw.spikes[0], ((0, 0), (0, 0), (0, -layer.n_out % L))).reshape(20, 2, -1, L).sum(-1)
    assert (groups > 1).any(), "the test needs groups with several spikes"


@pytest.mark.simulator("icarus")
def test_cycle_model_bounds_a_deep_net_with_lanes():
    """Hidden layers in bank order accumulate while the layer before passes: within the bounds."""
    L, storage = 4, "csr"
    deep = torture_net()
    counts = random_counts(np.random.default_rng(3), deep, steps=deep.steps, samples=2, density=0.4)
    hw = check(deep, counts, "icarus", storage=storage, lanes=L)
    lower, upper = perf.step_cycles(deep, counts, storage, lanes=L)
    assert np.all((lower <= hw.cycles) & (hw.cycles <= upper)), np.c_[lower[:, 0], hw.cycles[:, 0], upper[:, 0]]


@pytest.mark.slow
@pytest.mark.parametrize("simulator", runner.SIMULATORS)
@pytest.mark.parametrize("L", [2, 4])
def test_torture_net_with_lanes_both_simulators(simulator, L):
    art = torture_net()
    counts = random_counts(np.random.default_rng(4), art, steps=art.steps, samples=3, density=0.4)
    check(art, counts, simulator, stall=0.3, gap=0.2, shuffle=True, junk=0.2, abort=0.7, seed=3, lanes=L)


def test_lanes_cut_the_walk():
    """On a sparse wide layer, L lanes walk fewer words: at most the synapses, at least synapses / L."""
    layer = random_layer(np.random.default_rng(7), 64, 256, density=0.03, w_bits=4, reset="subtract")
    words = {L: int(lanes.encode(layer, "csr", L).lengths.sum()) if L > 1 else layer.nnz for L in lanes.LANES}
    for L in lanes.LANES:
        assert layer.nnz / L <= words[L] <= layer.nnz
    assert words[4] < words[2] < words[1]
    assert [p.lanes for p in plan(Artifact.create([layer, Layer.from_dense(
        np.ones((4, 256)), w_bits=2, theta=1, leak_b=128)], steps=2), lanes=4)] == [4, 4]


def test_words_wider_than_64_bits():
    """16 384 neurons over 4 lanes at 8 bits: 4 slots of 12 + 8 bits, Python ints past 64 bits, also
    in the SPRAM image."""
    layer = random_layer(np.random.default_rng(3), 5, 1 << 14, density=0.002, w_bits=8, reset="subtract")
    enc = lanes.encode(layer, "csr", 4)
    assert enc.syn_width == 80 and max(enc.synapses) >> 64
    assert np.array_equal(lanes.decode(enc, 5, 1 << 14, 8, 4), layer.dense())
    plans = plan(Artifact.create([layer], steps=2), spram="all", lanes=4)
    image = spram_image(plans)
    words = [sum(int(image[(plans[0].spram["synapses"] + c) * SPRAM_DEPTH + a]) << (16 * c) for c in range(5))
             for a in range(len(plans[0].synapses))]
    assert words == plans[0].synapses


def test_fit_check_takes_the_most_lanes_that_fit():
    """Dense 20000 x 5 at 8 bits on the ULX3S-12F: 4 lanes pad 5 neurons to 8 and need more block RAM
    than the board has (refused, naming what it needs); auto falls back to the most that fit."""
    w = np.random.default_rng(0).integers(1, 128, (5, 20000))
    art = Artifact.create([Layer.from_dense(w, w_bits=8, theta=1000, leak_b=128)], steps=2)
    board = boards.get("ulx3s-12f")
    with pytest.raises(fit.FitError, match=r"with 4 lanes: block RAM \(EBR\): needs >= \d+ of 56\. Try: fewer lanes"):
        fit.check(art, board, 4)
    auto = fit.check(art, board, "auto")
    assert auto.lanes < 4 and auto.ebr[1] <= 56
    assert all(fit.estimate(art, board, lanes=L).ebr[1] > 56 for L in lanes.LANES if L > auto.lanes)
    assert fit.check(Artifact.create([Layer.from_dense(w[:, :64], w_bits=8, theta=1000, leak_b=128)], steps=2),
                     board, "auto").lanes == 4


def test_bank_order_evens_out_the_rows_and_keeps_the_network():
    """The hidden layer's neurons are a permutation spread over the banks; rows get no more words
    than round-robin banks give on a sparse layer; the reordered network computes the same outputs."""
    rng = np.random.default_rng(11)
    hidden = random_layer(rng, 40, 64, density=0.1, w_bits=4, reset="subtract", theta_scale=0.2)
    out = random_layer(rng, 64, 6, density=0.5, w_bits=4, reset="zero", theta_scale=0.2)
    art = Artifact.create([hidden, out], steps=6)
    for L in (2, 4):
        order = lanes.bank_order(hidden, L)
        assert sorted(order) == list(range(64))
        balanced = lanes.encode(lanes.permuted(hidden, None, order), "csr", L).lengths.sum()
        assert balanced < lanes.encode(hidden, "csr", L).lengths.sum()
        layers = plan(art, lanes=L)
        assert layers[0].order == order.tolist() and layers[1].order is None
    moved = Artifact.create([lanes.permuted(hidden, None, order), lanes.permuted(out, order, None)], steps=6)
    counts = random_counts(rng, art, steps=6, samples=3, density=0.5)
    assert np.array_equal(reference.run(moved, counts).spikes[-1], reference.run(art, counts).spikes[-1])
    assert np.array_equal(reference.run(moved, counts).spikes[0], reference.run(art, counts).spikes[0][..., order])
