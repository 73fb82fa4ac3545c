"""Artifact round trip, atomic save, validation errors and the memory account."""
import math
import os

import numpy as np
import pytest

from sim import artifact as A
from sim.testing import random_artifact


@pytest.fixture
def art():
    return random_artifact(np.random.default_rng(3), [9, 7, 4], density=0.4, bias=True, input_max_count=2)


def test_round_trip_preserves_everything(tmp_path, art):
    back = A.load(A.save(art, tmp_path / "net.npz"))
    assert back.meta == art.meta and back.steps == art.steps and back.input_max_count == 2
    for a, b in zip(art.layers, back.layers):
        for name in ("ptr", "idx", "val", "theta", "bias", "leak_b", "scale"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert (a.w_bits, a.leak_f, a.reset, a.v_min, a.v_max) == (b.w_bits, b.leak_f, b.reset, b.v_min, b.v_max)


def test_dense_csr_round_trip(rng):
    w = rng.integers(-8, 8, (13, 11))
    w[rng.random(w.shape) < 0.7] = 0
    w[:, 3] = 0  # an input with an empty fan-out list
    layer = A.Layer.from_dense(w, w_bits=4, theta=5, leak_b=128)
    assert np.array_equal(layer.dense(), w)
    assert layer.nnz == np.count_nonzero(w)
    assert layer.ptr[4] == layer.ptr[3]
    # Rows of the CSR are presynaptic inputs: the fan-out of input j lists the neurons it drives.
    j = 5
    assert list(layer.idx[layer.ptr[j]:layer.ptr[j + 1]]) == list(np.flatnonzero(w[:, j]))


def test_memory_account():
    w = np.zeros((10, 20), int)
    w[np.arange(10), np.arange(10)] = 3
    m = A.Layer.from_dense(w, w_bits=4, theta=5, leak_b=128).memory()
    assert m.dense_bits == 10 * 20 * 4
    # 10 synapse words of index (10 neurons -> 4 bits) + value; 20 row words of offset within a
    # pair of rows (0..1 -> 1 bit) + length (at most 1 -> 1 bit), 10 coarse pointers (0..10 -> 4
    # bits): fewer than 20 absolute starts (20 x (4 + 1))
    assert m.csr_bits == 10 * (4 + 4) + 20 * (1 + 1) + 10 * 4
    assert m.entropy_bits == pytest.approx(math.log2(math.comb(200, 10)))
    assert m.floor_bits == pytest.approx(m.entropy_bits + 10 * 4)


def test_save_is_atomic(tmp_path, art, monkeypatch):
    path = A.save(art, tmp_path / "net.npz")
    before = path.read_bytes()

    def crash(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(A.np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        A.save(art, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["net.npz"]


def corrupt(tmp_path, art, **changes):
    path = A.save(art, tmp_path / "net.npz")
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            del data[k.replace("__", ".")]
        else:
            data[k.replace("__", ".")] = v
    np.savez(path, **data)
    return path


@pytest.mark.parametrize("changes, field", [
    ({"format": np.array("something-else")}, "format"),
    ({"version": np.array(99)}, "version"),
    ({"meta": np.array("{not json")}, "meta"),
    ({"l0__ptr": None}, "l0.ptr: missing"),
    ({"l0__ptr": np.array([0, 2, 1, 3, 3, 3, 3, 3, 3, 3])}, "l0.ptr"),
    ({"l0__idx": np.full(1, 99)}, "l0.idx"),
    ({"l1__val": None}, "l1.val"),
    ({"l0__w_bits": np.array(9)}, "l0.w_bits"),
    ({"l0__reset": np.array("none")}, "l0.reset"),
    ({"l0__leak_b": np.full(7, 300)}, "l0.leak_b"),
    ({"l0__theta": np.zeros(3, np.int64)}, "l0.theta"),
    ({"l0__scale": np.full(7, -1.0)}, "l0.scale"),
    ({"l1__shape": np.array([5, 4])}, "l1"),
    ({"l0__v_bound": np.array([0, 1])}, "l0.v_bound"),
    ({"l0__theta": np.full(7, 1.5)}, "l0.theta: expected a 1-D integer array"),
])
def test_validation_names_the_field(tmp_path, art, changes, field):
    path = corrupt(tmp_path, art, **changes)
    with pytest.raises(A.ArtifactError, match=field.replace(".", r"\.")):
        A.load(path)


def test_values_outside_the_bit_range(tmp_path, art):
    val = A.load(A.save(art, tmp_path / "a.npz")).layers[0].val.copy()
    val[0] = 8  # 4-bit range is [-8, 7]
    with pytest.raises(A.ArtifactError, match=r"l0\.val: weight outside"):
        A.load(corrupt(tmp_path, art, l0__val=val))


def test_duplicate_synapse_is_refused(tmp_path, art):
    layer = art.layers[0]
    row = int(np.argmax(np.diff(layer.ptr) >= 2))
    idx = layer.idx.copy()
    idx[layer.ptr[row] + 1] = idx[layer.ptr[row]]
    with pytest.raises(A.ArtifactError, match="strictly increasing"):
        A.load(corrupt(tmp_path, art, l0__idx=idx))


def test_foreign_and_missing_files(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(A.ArtifactError, match="not an .npz"):
        A.load(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", a=np.zeros(3))
    with pytest.raises(A.ArtifactError, match="format"):
        A.load(tmp_path / "y.npz")
    with pytest.raises(A.ArtifactError, match="no such file"):
        A.load(tmp_path / "none.npz")


def test_from_dense_refuses_non_integer_weights():
    with pytest.raises(A.ArtifactError, match="weights: not integer"):
        A.Layer.from_dense([[0.5]], w_bits=4, theta=1, leak_b=1)


def test_signed_bits():
    assert [A.signed_bits(*r) for r in [(0, 0), (-1, 0), (0, 1), (-8, 7), (-9, 7), (-8, 8), (-1300, 1055)]] \
        == [1, 1, 2, 4, 5, 5, 12]


def test_saved_file_gets_an_ordinary_mode_and_leaves_no_temporary(tmp_path, art):
    old = os.umask(0o022)
    try:
        path = A.save(art, tmp_path / "net.npz")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert os.listdir(tmp_path) == ["net.npz"]
