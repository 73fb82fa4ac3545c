"""Methods end to end: calibration, allocation, masks, artifacts, the CLI and its errors."""
import numpy as np
import pytest
import torch
from torch import nn

from compress import allocate, osbc
from compress.__main__ import main
from compress.calibrate import calibrate
from compress.pipeline import Compressor
from compress.snntorch_import import UnsupportedModel, build_model, float_layers
from sim.artifact import load


@pytest.fixture(scope="module")
def small():
    """A random 24-16-4 LIF net (beta 0.8) and rate-coded calibration spikes, both seeded."""
    torch.manual_seed(3)
    model = build_model([24, 16, 4], beta=0.8, threshold=0.5)
    counts = (np.random.default_rng(3).random((12, 48, 24)) < 0.3).astype(np.uint8)
    return model, float_layers(model), calibrate(model, counts, current=True, progress=False)


def pruned_loss(comp, sparsity):
    keeps = comp.masks(sparsity)
    return sum(comp.relative_loss(k, w) * comp.energy[k] for k, w in enumerate(comp.weights(keeps)))


def test_osbc_has_the_least_membrane_loss(small):
    _, layers, calib = small
    comps = {m: Compressor(layers, calib, m, progress=False) for m in ("osbc", "obc", "magnitude")}
    for s in (0.5, 0.7, 0.9, 0.97):
        loss = {m: pruned_loss(c, s) for m, c in comps.items()}
        assert loss["osbc"] <= loss["obc"] and loss["osbc"] < loss["magnitude"], (s, loss)


@pytest.mark.parametrize("allocation", ["lamp", "uniform"])
def test_masks_hit_the_allocated_counts(small, allocation):
    _, layers, calib = small
    comp = Compressor(layers, calib, "osbc", allocation=allocation, progress=False)
    weights = comp.start  # the dense weights less those of inputs that never fired
    for s in (0.0, 0.33, 0.8, 0.99):
        counts = allocate.prune_counts(weights, s, allocation)
        assert sum(counts) == round(s * sum(w.size for w in weights))
        assert [int((~k).sum()) for k in comp.masks(s)] == counts


def test_artifact_meta_and_quantised_weights(small):
    _, layers, calib = small
    art, reports = Compressor(layers, calib, "osbc", progress=False).compress(0.8, 3, steps=12, meta={"seed": 7})
    assert art.meta["method"] == "osbc" and art.meta["bits"] == 3 and art.meta["calib"] == 48
    assert art.meta["seed"] == 7 and len(art.meta["layer_sparsity"]) == 2
    for layer, r in zip(art.layers, reports):
        assert -4 <= layer.val.min() and layer.val.max() <= 3 and layer.w_bits == 3 and r.nnz == layer.nnz
    assert sum(r.nnz for r in reports) <= round(0.2 * (24 * 16 + 16 * 4))  # rounding may zero a few more


def test_rtn_does_not_prune(small):
    _, layers, calib = small
    comp = Compressor(layers, calib, "rtn", progress=False)
    with pytest.raises(ValueError, match="sparsity: the rtn method does not prune"):
        comp.masks(0.5)
    art, _ = comp.compress(0.0, 4, steps=12)
    assert art.layers[0].nnz > 0.9 * 24 * 16


def test_lamp_keeps_every_layer_alive(rng):
    weights = [rng.normal(size=(50, 40)), 0.01 * rng.normal(size=(3, 50))]
    counts = allocate.prune_counts(weights, 0.99)
    assert sum(counts) == round(0.99 * 2150) and all(c < w.size for c, w in zip(counts, weights))
    assert counts == allocate.prune_counts(weights, 0.99)
    with pytest.raises(ValueError, match="allocation: unknown rule"):
        allocate.prune_counts(weights, 0.5, "random")


def test_calibration_refuses_bad_input():
    model = build_model([4, 2])
    with pytest.raises(ValueError, match="calib: expected a non-empty"):
        calibrate(model, np.zeros((5, 0, 4), np.uint8), progress=False)
    with pytest.raises(ValueError, match="calib: inputs have 3 features"):
        calibrate(model, np.zeros((5, 2, 3), np.uint8), progress=False)
    with pytest.raises(UnsupportedModel, match="Conv2d"):
        calibrate(nn.Sequential(nn.Conv2d(1, 1, 1)), np.zeros((5, 2, 4), np.uint8), progress=False)


CLI = ["--dataset", "digits", "--calib", "32", "--sparsity", "0.8", "--no-eval"]


def test_cli_same_seed_same_artifact(tmp_path, capsys):
    # the second run computes on the CPU with one thread: neither the device nor the threads change the result
    paths = [tmp_path / f"{i}.npz" for i in range(3)]
    for path, seed, extra in zip(paths, (0, 0, 1), ([], ["--device", "cpu", "--threads", "1"], [])):
        assert main(CLI + ["--seed", str(seed), "--out", str(path)] + extra) == 0
    out = capsys.readouterr().out
    assert "loss pruned" in out and "0.8000" in out
    a, b, c = (load(p) for p in paths)
    assert all(np.array_equal(x.dense(), y.dense()) and np.array_equal(x.theta, y.theta)
               for x, y in zip(a.layers, b.layers))
    assert a.meta == b.meta and a.meta["seed"] == 0 and c.meta["seed"] == 1
    assert any(not np.array_equal(x.dense(), y.dense()) for x, y in zip(a.layers, c.layers))


@pytest.mark.parametrize("args, message", [
    (["--sparsity", "1.0"], "sparsity: must be in [0, 1), got 1.0"),
    (["--sparsity", "-0.1"], "sparsity: must be in [0, 1)"),
    (["--bits", "1"], "bits: must be an integer in 2..8, got 1"),
    (["--bits", "9"], "bits: must be an integer in 2..8"),
    (["--calib", "0"], "calib: need at least one calibration sample"),
    (["--method", "rtn"], "the rtn method does not prune"),
    (["--dataset", "mnist"], "dataset: mnist has 784 inputs, the model takes 64"),
    (["--threads", "0"], "threads: must be >= 1, got 0"),
    pytest.param(["--device", "cuda"], "device: cuda is not available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")),
])
def test_cli_errors_are_one_line(tmp_path, capsys, args, message):
    assert main(CLI + ["--out", str(tmp_path / "x.npz")] + args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not (tmp_path / "x.npz").exists()


def test_cli_refuses_a_file_that_is_not_a_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(3)}, bad)
    assert main(CLI + ["--model", str(bad), "--out", str(tmp_path / "x.npz")]) == 2
    assert "not a checkpoint" in capsys.readouterr().err


def test_digits_osbc_beats_magnitude_on_the_integer_model():
    from compress.snntorch_import import CHECKPOINT_DEFAULT, load_checkpoint
    import data as datasets
    from sim import reference

    model, spec = load_checkpoint(CHECKPOINT_DEFAULT)
    enc = spec["encoding"]
    calib = calibrate(model, datasets.calibration_counts(enc, 128, 0), progress=False)
    x, y = datasets.load("digits", "test")
    test = datasets.encode(x, enc["code"], enc["steps"], enc["seed"])
    acc = {}
    for method in ("osbc", "magnitude"):
        art, _ = Compressor(float_layers(model), calib, method, progress=False).compress(0.9, 4, steps=enc["steps"])
        acc[method] = float(np.mean(reference.run(art, test).classes == y))
    assert acc["osbc"] > acc["magnitude"] + 0.2 and acc["osbc"] > 0.85, acc


def test_rounding_methods_never_lose_to_the_max_rule(small):
    # rtn and magnitude pick each row's scale on the membrane Hessian, the one their loss is measured on;
    # the max rule max|w| / (2^(b-1) - 1) is the old symmetric grid's, which clips nothing
    _, layers, calib = small
    for method, sparsity in (("rtn", 0.0), ("magnitude", 0.6)):
        comp = Compressor(layers, calib, method, progress=False)
        keeps = comp.masks(sparsity)
        weights = comp.weights(keeps)
        for bits in (2, 3, 4):
            new = old = 0.0
            for k, ((q, scale), w) in enumerate(zip(comp.quantise(weights, keeps, bits), weights)):
                max_rule = osbc.max_scales(w, bits)
                new += comp.relative_loss(k, q * scale[:, None])
                old += comp.relative_loss(k, osbc.rtn(w, max_rule, osbc.grid_max(bits)) * max_rule[:, None])
            assert new <= old * (1 + 1e-12), (method, bits)
            assert bits > 2 or new < 0.9 * old, (method, new, old)  # at 2 bits clipping pays clearly


def test_dense_readout_needs_no_traces(small, monkeypatch):
    _, layers, calib = small
    comp = Compressor(layers, calib, "osbc", progress=False)
    monkeypatch.setattr(osbc, "obs_trace", lambda *a, **k: pytest.fail("dense GPTQ computed the OBS traces"))
    assert all(keep.all() for keep in comp.masks(0.0))
    art, reports = comp.compress(0.0, 4, steps=12)
    assert len(art.layers) == 2 and all(r.loss_pruned < 1e-12 and 0 < r.loss_quantised < 0.05 for r in reports)


def test_traces_are_computed_once_on_request(small, monkeypatch):
    _, layers, calib = small
    comp = Compressor(layers, calib, "osbc", progress=False)
    calls = []
    trace = osbc.obs_trace
    monkeypatch.setattr(osbc, "obs_trace", lambda *a, **k: calls.append(1) or trace(*a, **k))
    traces = comp.compute_traces()
    assert len(calls) == len(layers) and [t.order.shape for t in traces] == [fl.weight.shape for fl in layers]
    assert comp.compute_traces() is traces and comp.traces is traces and len(calls) == len(layers)
    assert Compressor(layers, calib, "magnitude", progress=False).compute_traces() is None
