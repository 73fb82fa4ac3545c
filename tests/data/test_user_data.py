"""`--data FILE.npz`: spike counts or event lists with labels and a split, checked field by field."""
import zipfile

import numpy as np
import pytest

from data import user
from sim.__main__ import main as sim_main
from sim.artifact import save
from sim.testing import random_artifact


def counts_file(tmp_path, rng, n=12, t=6, n_in=5, **extra):
    counts = rng.integers(0, 3, (n, t, n_in))
    labels = rng.integers(0, 4, n)
    np.savez(tmp_path / "d.npz", counts=counts, labels=labels, **extra)
    return tmp_path / "d.npz", counts, labels


def test_counts_split_and_steps(tmp_path, rng):
    test = np.arange(12) % 3 == 0
    path, counts, labels = counts_file(tmp_path, rng, test=test)
    d = user.load(path)
    x, y = d.spikes("test")
    assert x.shape == (6, 4, 5) and np.array_equal(x, counts[test].transpose(1, 0, 2)) and np.array_equal(y, labels[test])
    x, _ = d.spikes("test", steps=4, limit=2)
    assert np.array_equal(x, counts[test][:2, :4].transpose(1, 0, 2))
    cal = d.calibration(5, seed=1)
    train = counts[~test].transpose(1, 0, 2)
    assert cal.shape == (6, 5, 5) and all(any(np.array_equal(c, s) for s in train.transpose(1, 0, 2))
                                          for c in cal.transpose(1, 0, 2))
    assert np.array_equal(cal, d.calibration(5, seed=1)) and d.max_count == counts.max()
    with pytest.raises(ValueError, match="steps: the data holds 6 steps per sample; --steps can only shorten it"):
        d.spikes("test", steps=7)


def test_without_a_split_every_sample_serves_both(tmp_path, rng):
    path, counts, _ = counts_file(tmp_path, rng)
    d = user.load(path)
    assert np.array_equal(d.spikes("test")[0], counts.transpose(1, 0, 2)) and d.calibration(100, 0).shape[1] == 12


def test_event_lists_equal_the_counts_they_describe(tmp_path, rng):
    _, counts, labels = counts_file(tmp_path, rng)
    events = np.repeat(np.argwhere(counts), counts[counts > 0], axis=0)  # one row per event
    np.savez(tmp_path / "e.npz", events=rng.permutation(events), n_in=5, steps=6, labels=labels)
    assert np.array_equal(user.load(tmp_path / "e.npz").counts, counts)


@pytest.mark.parametrize("arrays, message", [
    ({"counts": np.zeros((2, 3, 4), np.uint8)}, "labels: missing"),
    ({"labels": np.zeros(2, int)}, "needs counts [N, T, n_in] or events"),
    ({"labels": np.zeros(2, int), "counts": np.zeros((3, 3, 4), np.uint8)}, "counts: expected [N = 2"),
    ({"labels": np.zeros(2, int), "counts": np.zeros((2, 3, 4))}, "counts: expected 3-D integer data, got float64"),
    ({"labels": np.zeros(2, int), "counts": np.full((2, 3, 4), 256)}, "counts: events per input and step must lie in 0..255"),
    ({"labels": np.zeros(2, int), "counts": np.full((2, 3, 4), -1)}, "counts: events per input and step"),
    ({"labels": -np.ones(2, int), "counts": np.zeros((2, 3, 4), np.uint8)}, "labels: expected at least one sample"),
    ({"labels": np.zeros(2, int), "counts": np.zeros((2, 3, 4), np.uint8), "test": np.zeros(2, int)}, "test: expected bool [2]"),
    ({"labels": np.zeros(2, int), "events": np.array([[0, 0, 9]]), "n_in": 4}, "events: input outside 0..3"),
    ({"labels": np.zeros(2, int), "events": np.array([[0, 0, 0]])}, "n_in: missing"),
    ({"labels": np.zeros(2, int), "events": np.array([[0, 0, 0]]), "n_in": 1 << 30, "steps": 100},
     "2 x 100 x 1073741824 counts exceed the 2147483648 this tool holds"),
])
def test_malformed_files_are_refused_naming_the_field(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=f"bad.npz: {message}".replace("[", r"\[").replace("(", r"\(")):
        user.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("damage", ["truncate", "flip", "random", "empty", "single array"])
def test_unreadable_files_are_value_errors(tmp_path, rng, damage):
    path, _, _ = counts_file(tmp_path, rng, n=40, t=20, n_in=30)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[:len(raw) // 2]
    elif damage == "flip":
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("counts.npy")
        raw[info.header_offset + 200] ^= 0xFF
    elif damage == "random":
        raw = rng.bytes(2000)
    elif damage == "empty":
        raw = b""
    if damage == "single array":
        np.save(path.with_suffix(".npy"), np.zeros(3))
        path = path.with_suffix(".npy")
    else:
        path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=str(path.name)):
        user.load(path)


def test_sim_eval_takes_a_data_file(tmp_path, rng, capsys):
    art = random_artifact(rng, [5, 8, 4], steps=6, input_max_count=2)
    save(art, tmp_path / "a.npz")
    path, counts, labels = counts_file(tmp_path, rng, n=30, t=6, n_in=5)
    np.savez(path, counts=np.minimum(counts, 2), labels=labels)
    assert sim_main(["eval", str(tmp_path / "a.npz"), "--data", str(path)]) == 0
    assert f"{path}: integer accuracy" in capsys.readouterr().out
    # An artifact that names neither a dataset nor a data file: one line saying what to pass.
    assert sim_main(["eval", str(tmp_path / "a.npz")]) == 2
    assert capsys.readouterr().err.strip() == "error: data: the artifact names no dataset; pass --dataset or --data FILE.npz"
