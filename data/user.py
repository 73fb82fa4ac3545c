"""Your own data: spike counts or event lists in one `.npz` file (`--data FILE.npz`).

    labels   int [N]              class of every sample (>= 0)
    counts   int [N, T, n_in]     events per input and step (0..255), or instead:
    events   int [E, 3]           one row (sample, step, input) per event, with
    n_in     int scalar           the number of inputs, and
    steps    int scalar           T (optional with events: default last step + 1)
    test     bool [N]             optional: True for test samples, False for training samples;
                                  without it every sample serves calibration and evaluation

Calibration draws from the training samples (`--calib` of them, chosen by `--seed`), evaluation
runs on the test samples in file order. `steps` (`--steps`) may only shorten the recorded T.
See docs/own-model.md for an example that writes such a file.
"""
from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.artifact import MAX_INPUT_COUNT, MAX_STEPS

MAX_COUNTS = 1 << 31  # N·T·n_in entries held in memory at once (2 GiB of uint8)
SPLITS = ("train", "test")


@dataclass(frozen=True)
class UserData:
    counts: np.ndarray  # uint8 [N, T, n_in]
    labels: np.ndarray  # int64 [N]
    test: np.ndarray | None  # bool [N]

    @property
    def steps(self) -> int:
        return self.counts.shape[1]

    @property
    def max_count(self) -> int:
        return max(1, int(self.counts.max(initial=0)))

    def split(self, split: str) -> np.ndarray:
        """Indices of a split's samples, in file order."""
        if split not in SPLITS:
            raise ValueError(f"split: must be train or test, got {split!r}")
        if self.test is None:
            return np.arange(len(self.labels))
        return np.flatnonzero(self.test if split == "test" else ~self.test)

    def spikes(self, split: str, steps: int | None = None, limit: int | None = None):
        """(counts uint8 [T, N, n_in], labels [N]) of a split's first `limit` samples."""
        idx = self.split(split)[:limit]
        if idx.size == 0:
            raise ValueError(f"data: the file has no {split} samples")
        return np.ascontiguousarray(self._steps(steps)[idx].transpose(1, 0, 2)), self.labels[idx]

    def calibration(self, n: int, seed: int, steps: int | None = None) -> np.ndarray:
        """Counts [T, n, n_in] of n training samples chosen by `seed`."""
        if n < 1:
            raise ValueError(f"calib: need at least one calibration sample, got {n}")
        idx = self.split("train")
        if idx.size == 0:
            raise ValueError("data: the file has no training samples to calibrate on")
        pick = np.sort(np.random.default_rng(seed).choice(idx, size=min(n, idx.size), replace=False))
        return np.ascontiguousarray(self._steps(steps)[pick].transpose(1, 0, 2))

    def _steps(self, steps: int | None) -> np.ndarray:
        if steps is None or steps == self.steps:
            return self.counts
        if not 1 <= steps <= self.steps:
            raise ValueError(f"steps: the data holds {self.steps} steps per sample; --steps can only shorten it, "
                             f"got {steps}")
        return self.counts[:, :steps]


def _array(z, name: str, where: Path) -> np.ndarray:
    try:
        return z[name]
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, MemoryError) as e:
        raise ValueError(f"{where}: {name}: unreadable ({type(e).__name__}: {e})") from None


def _member(z, name: str, where: Path, ndim: int | None, required: bool = True):
    if name not in z.files:
        if required:
            raise ValueError(f"{where}: {name}: missing (docs/own-model.md describes the format)")
        return None
    a = _array(z, name, where)
    if a.dtype.kind not in "iub" or (ndim is not None and a.ndim != ndim):
        raise ValueError(f"{where}: {name}: expected {ndim}-D integer data, got {a.dtype} of shape {a.shape}")
    return a


def _counts_from_events(z, where: Path, n: int) -> np.ndarray:
    events = _member(z, "events", where, 2)
    n_in = _member(z, "n_in", where, 0)
    steps = _member(z, "steps", where, 0, required=False)
    if events.shape[1:] != (3,):
        raise ValueError(f"{where}: events: expected rows (sample, step, input), got shape {events.shape}")
    events = events.astype(np.int64)
    t = int(steps) if steps is not None else int(events[:, 1].max(initial=-1)) + 1
    n_in = int(n_in)
    if not 1 <= t <= MAX_STEPS or n_in < 1:
        raise ValueError(f"{where}: steps and n_in must be >= 1 (steps <= {MAX_STEPS}), got {t}, {n_in}")
    if n * t * n_in > MAX_COUNTS:
        raise ValueError(f"{where}: {n} x {t} x {n_in} counts exceed the {MAX_COUNTS} this tool holds in memory")
    for col, name, hi in ((0, "sample", n), (1, "step", t), (2, "input", n_in)):
        if events.size and (events[:, col].min() < 0 or events[:, col].max() >= hi):
            raise ValueError(f"{where}: events: {name} outside 0..{hi - 1}")
    counts = np.zeros((n, t, n_in), np.int64)
    np.add.at(counts, (events[:, 0], events[:, 1], events[:, 2]), 1)
    return counts


def load(path) -> UserData:
    """Read and check a user data file; every problem is a ValueError naming the file and field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such data file")
    try:
        z = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, MemoryError) as e:
        raise ValueError(f"{path}: not a readable .npz data file ({type(e).__name__}: {e})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single array, not an .npz with labels and counts or events")
    with z:
        labels = _member(z, "labels", path, 1)
        n = len(labels)
        if "counts" in z.files:
            counts = _member(z, "counts", path, 3)
            if not 1 <= counts.shape[1] <= MAX_STEPS or counts.shape[2] < 1 or counts.shape[0] != n:
                raise ValueError(f"{path}: counts: expected [N = {n}, T in 1..{MAX_STEPS}, n_in >= 1], "
                                 f"got shape {counts.shape}")
        elif "events" in z.files:
            counts = _counts_from_events(z, path, n)
        else:
            raise ValueError(f"{path}: needs counts [N, T, n_in] or events [E, 3] (docs/own-model.md)")
        test = _array(z, "test", path) if "test" in z.files else None
    if n == 0 or labels.min() < 0:
        raise ValueError(f"{path}: labels: expected at least one sample and classes >= 0")
    if counts.size and (counts.min() < 0 or counts.max() > MAX_INPUT_COUNT):
        raise ValueError(f"{path}: counts: events per input and step must lie in 0..{MAX_INPUT_COUNT}, "
                         f"got {counts.min()}..{counts.max()}")
    if test is not None and (test.dtype != bool or test.shape != (n,)):
        raise ValueError(f"{path}: test: expected bool [{n}], got {test.dtype} of shape {test.shape}")
    return UserData(counts.astype(np.uint8), labels.astype(np.int64), test)


def spikes_for(art, data, split: str = "test", steps: int | None = None, limit: int | None = None):
    """(counts [T, N, n_in], labels) of a user file for an artifact: `data`, or the file the
    artifact was compressed with (meta["data"]) when `data` is None."""
    if data is None:
        data = file_of(art.meta)
    return load(data).spikes(split, steps, limit)


def file_of(meta: dict) -> str:
    """The data file an artifact's or checkpoint's metadata names; a ValueError if it names none."""
    f = meta.get("data", {}).get("file") if isinstance(meta.get("data"), dict) else None
    if not isinstance(f, str):
        raise ValueError("data: the artifact names no dataset; pass --dataset or --data FILE.npz")
    return f
