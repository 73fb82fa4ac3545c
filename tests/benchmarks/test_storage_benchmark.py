"""benchmarks.storage on small random weights: exact sparsity, and ratios that follow the stored bits."""
import numpy as np
import pytest

from benchmarks import storage as bench
from compress.osbc import magnitude_mask


def test_pruning_keeps_exactly_the_largest_weights_and_none_rounds_to_zero():
    w = np.random.default_rng(0).normal(size=(30, 40))
    w[0, 0] = 1e-9  # tiny but kept at 0 % sparsity: must not round to 0
    for sparsity in (0.0, 0.5, 0.97):
        layer = bench.pruned_layer(w, sparsity, 4)
        assert layer.nnz == round(w.size * (1 - sparsity))
        kept = layer.dense() != 0
        assert np.abs(w[kept]).min() >= np.abs(w[~kept]).max(initial=0)


def test_pruning_is_the_magnitude_method_s_ties_included():
    w = np.round(np.random.default_rng(2).normal(size=(30, 40)), 1)  # many equal |w| at every cut
    for sparsity in (0.3, 0.7):
        kept = bench.pruned_layer(w, sparsity, 4).dense() != 0
        assert np.array_equal(kept, magnitude_mask(w, w.size - round(w.size * (1 - sparsity))))


def test_point_reports_each_encoding_against_the_floor():
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(20, 50)), rng.normal(size=(5, 20))]
    r = bench.point(weights, 0.9)
    layers = [bench.pruned_layer(w, 0.9, 4) for w in weights]
    floor = sum(l.memory().floor_bits for l in layers)
    assert r["floor"] == pytest.approx(floor)
    assert r["ratio"]["dense"] == pytest.approx(sum(w.size * 4 for w in weights) / floor)
    assert r["ratio"]["auto"] == pytest.approx(r["auto_bits"] / floor)
    assert r["ratio"]["auto"] <= min(r["ratio"][e] for e in ("csr", "dense", "delta")) + 1e-12
    assert r["layers"].count("/") == 1
