"""Offline datasets and the deterministic spike codes."""
import gzip

import numpy as np
import pytest

import data as datasets


def test_digits_split_is_fixed_and_normalised():
    x_tr, y_tr = datasets.load("digits", "train")
    x_te, y_te = datasets.load("digits", "test")
    assert x_tr.shape == (1347, 64) and x_te.shape == (450, 64)
    assert 0 <= x_tr.min() and x_tr.max() == 1.0
    assert np.array_equal(datasets.load("digits", "test")[1], y_te)
    assert set(np.unique(y_tr)) == set(range(10))


def test_mnist_from_the_idx_files():
    x, y = datasets.load("mnist", "test")
    assert x.shape == (10000, 784) and y.shape == (10000,)
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the canonical first test labels


def test_idx_reader_rejects_other_files(tmp_path):
    p = tmp_path / "bad.gz"
    with gzip.open(p, "wb") as f:
        f.write(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        datasets.read_idx(p)


def test_rate_code_is_seeded_and_follows_intensity():
    x = np.array([[0.0, 0.25, 1.0]], np.float32)
    a = datasets.encode(x, "rate", 4000, seed=1)
    assert np.array_equal(a, datasets.encode(x, "rate", 4000, seed=1))
    assert not np.array_equal(a, datasets.encode(x, "rate", 4000, seed=2))
    rates = a.mean(axis=0)[0]
    assert rates[0] == 0 and rates[2] == 1 and abs(rates[1] - 0.25) < 0.03


def test_latency_code_fires_once_brighter_first():
    x = np.array([[0.0, 0.5, 1.0]], np.float32)
    c = datasets.encode(x, "latency", 11)
    assert c.sum(axis=0).tolist() == [[0, 1, 1]]
    assert np.argmax(c[:, 0, 2]) == 0 and np.argmax(c[:, 0, 1]) == 5


@pytest.mark.parametrize("call, match", [
    (lambda: datasets.load("cifar"), "dataset: unknown"),
    (lambda: datasets.load("digits", "val"), "split"),
    (lambda: datasets.encode(np.zeros((1, 2)), "burst", 3), "code: unknown"),
    (lambda: datasets.encode(np.zeros((1, 2)), "rate", 0), "steps"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_event_mnist_goes_through_spikes_for(monkeypatch):
    from sim.artifact import Artifact, Layer
    from data import event_mnist as em

    imgs = np.zeros((3, 784), np.float32)
    imgs[:, 200:500] = 1.0
    ev = em.simulate(imgs, em.Params(), labels=np.array([4, 5, 6]))
    monkeypatch.setattr(em, "events", lambda split, params: ev)
    layer = Layer.from_dense(np.ones((10, 2312), int), w_bits=4, theta=5, leak_b=128)
    art = Artifact.create([layer], input_max_count=2, steps=6,
                          meta={"encoding": {"dataset": "event-mnist", "code": "events", "steps": 6, "max_count": 2}})
    counts, y = datasets.spikes_for(art, limit=2)
    assert counts.shape == (6, 2, 2312) and 0 < counts.max() <= 2 and y.tolist() == [4, 5]
    np.testing.assert_array_equal(counts, ev.frames(6, [0, 1], max_count=2))
    with pytest.raises(ValueError, match="event-mnist is recorded as events"):
        datasets.load("event-mnist")
