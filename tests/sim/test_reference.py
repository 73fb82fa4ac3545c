"""The integer reference against snnTorch's own Leaky neuron, and its bound and trace modes."""
import dataclasses

import numpy as np
import pytest
import snntorch as snn
import torch

from sim import reference
from sim.artifact import Artifact, Layer

from sim.testing import random_artifact


def snntorch_spikes(art: Artifact, counts: np.ndarray) -> list[np.ndarray]:
    """The same network as snnTorch Leaky layers in float64 with a floor state quantiser: for integer
    weights, thresholds and beta = b/2^F this computes the integer contract exactly (docs/artifact.md)."""
    lifs = []
    for layer in art.layers:
        beta = torch.tensor(layer.leak_b / (1 << layer.leak_f), dtype=torch.float64)
        lifs.append(snn.Leaky(beta=beta, threshold=torch.tensor(layer.theta, dtype=torch.float64),
                              reset_mechanism=layer.reset, state_quant=torch.floor))
    mems = [torch.zeros(counts.shape[1], l.n_out, dtype=torch.float64) for l in art.layers]
    weights = [torch.tensor(l.dense(), dtype=torch.float64) for l in art.layers]
    biases = [torch.tensor(l.bias, dtype=torch.float64) for l in art.layers]
    out = [[] for _ in art.layers]
    for x in torch.tensor(counts, dtype=torch.float64):
        for k, lif in enumerate(lifs):
            spk, mems[k] = lif(x @ weights[k].T + biases[k], mems[k])
            x = spk.double()
            out[k].append(spk.numpy().astype(np.uint8))
    return [np.stack(o) for o in out]


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("beta_b", [100, 128, 192, 224, 240, 256])  # 0.39, 0.5, 0.75, 0.875, 0.9375, 1
def test_matches_snntorch_spike_for_spike(rng, reset, beta_b):
    for _ in range(5):
        sizes = [int(rng.integers(3, 20)) for _ in range(int(rng.integers(2, 4)))]
        art = random_artifact(rng, sizes, density=rng.uniform(0.2, 1), reset=reset, betas=(beta_b / 256,),
                              bias=bool(rng.integers(2)), input_max_count=3, steps=30)
        counts = rng.integers(0, 4, (30, 8, sizes[0]))
        ours = reference.run(art, counts).spikes
        theirs = snntorch_spikes(art, counts)
        for k, (a, b) in enumerate(zip(ours, theirs)):
            assert np.array_equal(a, b), f"layer {k} differs at (t, b, i) = {np.argwhere(a != b)[0]}"
        assert sum(int(s.sum()) for s in ours) > 0  # the comparison saw activity


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_thresholds_at_and_below_zero_match_snntorch(rng, reset):
    """V(0) = 0 > θ decides r(1): θ = -1 starts as fired, θ = 0 does not (strict compare)."""
    w = rng.integers(-3, 4, (4, 6))
    layer = Layer.from_dense(w, w_bits=4, theta=[-1, 0, 1, 2], leak_b=192, leak_f=8, reset=reset)
    art = Artifact.create([layer], steps=8)
    counts = rng.integers(0, 2, (8, 16, 6))
    assert np.array_equal(reference.run(art, counts).spikes[0], snntorch_spikes(art, counts)[0])


def test_membranes_stay_inside_the_proven_bound(rng):
    art = random_artifact(rng, [10, 6], density=1, betas=(1.0,), steps=40)
    res = reference.run(art, rng.integers(0, 2, (40, 64, 10)), membranes=True)
    v = res.membranes[0]
    layer = art.layers[0]
    assert layer.v_min <= v.min() and v.max() <= layer.v_max


def test_bound_is_tight_for_a_single_excitatory_synapse():
    # One synapse of weight 7, threshold 10, subtract reset, beta = 1: V runs 7, 14 (fires), 11, 8, 15,
    # 12, 9, 16, 13, 10 (does not fire: strict >), 17 at step 11, the bound's maximum.
    layer = Layer.from_dense([[7]], w_bits=4, theta=10, leak_b=256, leak_f=8)
    art = Artifact.create([layer], steps=11)
    v = reference.run(art, np.ones((11, 1, 1), np.int64), membranes=True).membranes[0]
    assert v.max() == art.layers[0].v_max == 17
    # Over 2 steps the bound is 14, reached at the last step; one proven for 1 step (7) is too small
    # for that step, and the reference says so.
    two = Artifact.create([layer], steps=2)
    v = reference.run(two, np.ones((2, 1, 1), np.int64), membranes=True).membranes[0]
    assert v[-1].max() == two.layers[0].v_max == 14
    short = Artifact.create([layer], steps=1)
    assert short.layers[0].v_max == 7
    with pytest.raises(reference.BoundError, match="step 1"):
        reference.run(dataclasses.replace(short, steps=2, bound_steps=(2,)), np.ones((2, 1, 1), np.int64))


def test_bound_error_when_membrane_escapes():
    import dataclasses
    art = random_artifact(np.random.default_rng(1), [4, 3], density=1, steps=5)
    tight = dataclasses.replace(art.layers[0], v_max=0, v_min=0)
    broken = dataclasses.replace(art, layers=(tight,))
    with pytest.raises(reference.BoundError, match="l0: membrane"):
        reference.run(broken, np.ones((5, 1, 4), np.int64))


def test_trace_agrees_with_batched_run(rng):
    art = random_artifact(rng, [12, 9, 5], density=0.6, reset="zero", steps=15)
    counts = rng.integers(0, 2, (15, 12))
    res = reference.run(art, counts[:, None], membranes=True)
    steps = list(reference.trace(art, counts))
    assert len(steps) == 15 * 2
    for st in steps:
        assert np.array_equal(st.spikes, res.spikes[st.layer][st.t, 0])
        assert np.array_equal(st.v, res.membranes[st.layer][st.t, 0])
    first = steps[0]
    assert np.array_equal(first.events, reference.events_of(counts[0]))
    assert np.array_equal(first.current, art.layers[0].dense() @ counts[0] + art.layers[0].bias)


def test_repeated_events_add_up():
    layer = Layer.from_dense([[3, -2]], w_bits=4, theta=100, leak_b=0, leak_f=8)
    art = Artifact.create([layer], input_max_count=4, steps=1)
    v = reference.run(art, np.array([[[4, 1]]]), membranes=True).membranes[0]
    assert v[0, 0, 0] == 4 * 3 - 2
    assert list(reference.events_of(np.array([2, 0, 1]))) == [0, 0, 2]


def test_ties_go_to_the_lowest_index():
    res = reference.Result(spikes=[np.array([[[1, 0, 1, 1]], [[0, 0, 1, 1]]], np.uint8)], membranes=None)
    assert res.classes.tolist() == [2]


@pytest.mark.parametrize("counts, match", [
    (np.zeros((3, 1, 5), np.int64), r"shape \[T, B, 4\]"),
    (np.full((3, 1, 4), 2), r"counts must lie in \[0, 1\]"),
    (np.full((3, 1, 4), -1), r"counts must lie in \[0, 1\]"),
    (np.zeros((3, 1, 4), np.float32), "integer event counts"),
])
def test_bad_input_is_refused(counts, match):
    art = random_artifact(np.random.default_rng(0), [4, 3])
    with pytest.raises(ValueError, match=match):
        reference.run(art, counts)


def test_beta_one_bound_is_limited_to_its_steps():
    layer = Layer.from_dense([[-5]], w_bits=4, theta=3, leak_b=256, leak_f=8)
    art = Artifact.create([layer], steps=8)
    assert art.bound_steps == (8,) and art.layers[0].v_min == -40
    with pytest.raises(ValueError, match="at most 8 steps"):
        reference.run(art, np.ones((9, 1, 1), np.int64))


def test_negative_threshold_fires_from_the_first_step():
    # r(1) = [V(0) = 0 > θ]: with θ = -1 the neuron has "fired" before step 1, so subtract reset
    # adds 1 at step 1 (V = 0 - 1 + 1 = 0 > -1 fires again) -- the same as snnTorch.
    layer = Layer.from_dense([[0]], w_bits=4, theta=-1, bias=-1, leak_b=256, leak_f=8)
    art = Artifact.create([layer], steps=4)
    counts = np.zeros((4, 1, 1), np.int64)
    res = reference.run(art, counts, membranes=True)
    assert res.spikes[0][:, 0, 0].tolist() == [1, 1, 1, 1]
    assert np.array_equal(res.spikes[0], snntorch_spikes(art, counts)[0])
