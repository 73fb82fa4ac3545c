"""The event-camera simulation of MNIST: physics sanity, options and determinism, on a few images."""
import numpy as np
import pytest

from data import event_mnist as em


def square(n=1, lo=8, hi=20):
    img = np.zeros((n, 28, 28), np.float32)
    img[:, lo:hi, lo:hi] = 1.0
    return img


def per_pixel(ev, pol):
    sel = ev.addr // (34 * 34) == pol
    return np.bincount(ev.addr[sel] % (34 * 34), weights=ev.count[sel], minlength=34 * 34)


def test_path_is_a_closed_triangle_of_three_saccades():
    p = em.Params(substeps=10)
    path = em.path_offsets(p)
    assert path.shape == (31, 2)
    np.testing.assert_allclose(path[[0, 10, 20, 30]], np.array(em.SACCADES))
    assert path.min() >= 0 and path.max() <= 34 - 28


def test_events_follow_edges_and_balance_on_a_closed_path():
    p = em.Params(mismatch=0.0)
    ev = em.simulate(square(), p)
    assert ev.shape == (2, 34, 34) and ev.duration[0] == p.steps
    # the path returns to its start, so with equal thresholds every pixel's ON and OFF events cancel
    np.testing.assert_array_equal(per_pixel(ev, 1), per_pixel(ev, 0))
    assert ev.count.sum() > 100
    # saccade 1 moves the square right and down: ON events lead (bottom-right), OFF events trail
    first = ev.t < p.substeps
    x, y = ev.addr % 34, ev.addr % 1156 // 34
    on, off = first & (ev.addr >= 1156), first & (ev.addr < 1156)
    for coord, gap in ((x, 2), (y, 6)):  # the move is (3, 6) px: edges 4 and 8 px apart on average
        assert np.average(coord[on], weights=ev.count[on]) > np.average(coord[off], weights=ev.count[off]) + gap
    # pixels that never see an edge stay silent: the field's corners and the square's inside
    silent = np.zeros((34, 34), bool)
    silent[:4, -4:] = silent[14:20, 14:20] = True
    assert per_pixel(ev, 1).reshape(34, 34)[silent].sum() == 0


def test_blank_image_is_silent_and_noise_has_the_asked_rate():
    blank = np.zeros((3, 784), np.float32)
    assert em.simulate(blank).count.sum() == 0
    noisy = em.simulate(blank, em.Params(noise=20.0))
    expected = 20.0 * em.RECORDING_S * 34 * 34
    assert abs(noisy.count.sum() / 3 - expected) < 5 * np.sqrt(expected)


def test_contrast_sets_the_event_count():
    img = square()
    assert em.simulate(img, em.Params(contrast=0.2)).count.sum() > 1.6 * em.simulate(img, em.Params(contrast=0.4)).count.sum()


def test_refractory_period_is_respected():
    ev = em.simulate(square(), em.Params(refractory=3))
    pixel = ev.addr.astype(np.int64) % 1156
    order = np.lexsort((ev.t, pixel))
    same = np.diff(pixel[order]) == 0
    assert same.any() and np.all(np.diff(ev.t[order].astype(np.int64))[same] > 3)


def test_deterministic_and_independent_of_batching():
    rng = np.random.default_rng(0)
    imgs = rng.random((4, 784)).astype(np.float32) * (rng.random((4, 784)) > 0.7)
    p = em.Params(noise=5.0, seed=7)
    a = em.simulate(imgs, p, labels=[1, 2, 3, 4])
    np.testing.assert_array_equal(a.frames(20), em.simulate(imgs, p, labels=[1, 2, 3, 4]).frames(20))
    part = em.simulate(imgs[2:], p, ids=[2, 3], chunk=1)
    np.testing.assert_array_equal(part.frames(20), a.frames(20)[:, 2:])
    assert list(a.labels) == [1, 2, 3, 4]
    assert not np.array_equal(em.simulate(imgs, em.Params(noise=5.0, seed=8)).frames(20), a.frames(20))


def test_cache_roundtrip(tmp_path, monkeypatch):
    import data

    monkeypatch.setenv("OSBC_CACHE", str(tmp_path))
    imgs = np.concatenate([square(3).reshape(3, 784), np.zeros((2, 784), np.float32)])
    calls = []
    monkeypatch.setattr(data, "load", lambda name, split: calls.append(name) or (imgs, np.arange(5)))
    p = em.Params(substeps=8)
    first = em.events("test", p, progress=False)
    assert calls == ["mnist"] and len(list(tmp_path.glob("event-mnist-test-*.npz"))) == 1
    em._events.cache_clear()  # drop the in-memory copy: the next call must read the file
    again = em.events("test", p, progress=False)
    assert calls == ["mnist"] and again is not first  # read from the disk cache, not simulated again
    np.testing.assert_array_equal(again.frames(3), first.frames(3))
    counts, y = em.spikes("test", steps=6, limit=4, max_count=2, params=p)
    assert counts.shape == (6, 4, 2312) and counts.dtype == np.uint8 and counts.max() == 2
    assert counts[:, 3].sum() == 0 and counts[:, 0].sum() > 0
    np.testing.assert_array_equal(y, np.arange(4))


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="contrast"):
        em.Params(contrast=0)
    with pytest.raises(ValueError, match="substeps"):
        em.Params(substeps=1)
    with pytest.raises(ValueError, match="images"):
        em.simulate(np.full((1, 784), 2.0))
    with pytest.raises(ValueError, match="split"):
        em.simulate(square(), split="val")
