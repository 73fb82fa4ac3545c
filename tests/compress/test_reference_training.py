"""Reference-network training and the accuracy benchmark, on tiny budgets."""
import json

import numpy as np
import pytest
import torch

from benchmarks import accuracy
from compress import train_reference
from compress.snntorch_import import load_checkpoint
import data as datasets
from data import event_mnist as em


def test_train_mnist_tiny_checkpoint_is_half_and_records_training(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "m.pt"
    spec = train_reference.train("mnist", epochs=3, steps=6, limit=1024, out=out, test_limit=300)
    rec = spec["train"]
    assert rec["epochs"] == 3 and rec["train_samples"] == 1024 and rec["test_samples"] == 300
    assert rec["float_test_accuracy"] > 0.3  # well above chance (0.1) after 24 small batches
    model, saved = load_checkpoint(out)
    assert saved["train"] == rec and saved["reset"] == "zero" and saved["beta"] == 0.5
    assert all(v.dtype == torch.float16 for v in torch.load(out, weights_only=True)["state_dict"].values())
    with pytest.raises(ValueError, match="network"):
        train_reference.train("cifar", epochs=1, steps=4)


def test_event_mnist_data_uses_the_clipped_frames(monkeypatch):
    imgs = np.zeros((6, 784), np.float32)
    imgs[:, 300:400] = 1.0
    ev = em.simulate(imgs, em.Params(), labels=np.arange(6))
    monkeypatch.setattr(em, "events", lambda split, params: ev)
    enc = train_reference.encoding_for("event-mnist", steps=5, max_count=2)
    x, y, encode = datasets.samples(enc, "train", limit=4)
    assert list(x) == [0, 1, 2, 3] and list(y) == [0, 1, 2, 3]
    counts = encode(x[[1, 3]], seed=0)
    assert counts.shape == (5, 2, 2312) and counts.max() == 2
    np.testing.assert_array_equal(counts, ev.frames(5, [1, 3], max_count=2))


def test_plan_covers_the_grid_once():
    runs = accuracy.plan(["digits"], list(accuracy.METHODS), [0.5, 0.9], 4, [8, 4], [100, 10], [0, 1])
    by = lambda m: [r for r in runs if r["method"] == m]
    assert len(by("osbc")) == len(by("obc")) == 2 * 2 * (2 + 2)
    assert len(by("magnitude")) == 2 and all(r["sparsity"] > 0 for r in by("magnitude"))
    assert len(by("rtn")) == 2 and all(r["sparsity"] == 0 and r["calib"] == 0 for r in by("rtn"))
    assert len({accuracy.key(r) for r in runs}) == len(runs)


def test_smoke_run_writes_reports_and_resumes(tmp_path, monkeypatch):
    accuracy.main(["--smoke", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results["runs"]) == len(accuracy.plan(["digits"], list(accuracy.METHODS), [0.5, 0.9], 4, [4], [64], [0]))
    for r in results["runs"].values():
        assert r["achieved_sparsity"] >= r["sparsity"] - 0.01
        # 10 classes: chance is 0.1. Every point up to 50 % sparsity keeps the model working, and
        # at 90 % the second-order methods keep far more of it than magnitude pruning does.
        if r["sparsity"] <= 0.5:
            assert r["accuracy"] > 0.9, r
    at90 = {r["method"]: r["accuracy"] for r in results["runs"].values() if r["sparsity"] == 0.9}
    assert min(at90["osbc"], at90["obc"]) > at90["magnitude"] + 0.2, at90
    table = (tmp_path / "results.md").read_text()
    assert "| osbc |" in table and "| magnitude |" in table
    import matplotlib.image
    assert matplotlib.image.imread(tmp_path / "digits.png").ndim == 3  # a real image, not an empty file

    def boom(*a, **k):
        raise AssertionError("a finished run was computed again")

    monkeypatch.setattr(accuracy, "compress_points", boom)
    accuracy.main(["--smoke", "--out", str(tmp_path)])  # everything is in results.json already
