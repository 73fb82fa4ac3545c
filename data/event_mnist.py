"""Event-MNIST: an event-camera recording of MNIST simulated the way N-MNIST was recorded.

N-MNIST (Orchard et al. 2015) moved an ATIS camera in three saccades in front of a monitor showing
each MNIST digit, so every digit sweeps a 34x34 pixel field along a triangle and each pixel emits
ON/OFF events when its log intensity has changed by a contrast threshold since its last event.
This module does the same in software (parameters in `Params`, documented in docs/event_mnist.md):

* the 28x28 digit is rendered with bilinear interpolation at sub-pixel offsets along the triangle
  (0,0) -> (3,6) -> (6,0) -> (0,0) (x, y in pixels), each saccade a smooth (cosine) velocity
  profile sampled at `substeps` points;
* each pixel keeps a reference log intensity `log(I + eps)`; when the current value differs by
  `k >= 1` thresholds the pixel emits k events of that polarity at once and moves its reference
  by k thresholds; thresholds vary per pixel (fixed-pattern mismatch, `mismatch` = relative std,
  one "sensor" per seed; ON and OFF share a pixel's threshold);
* optional refractory period (a pixel that fired stays silent for `refractory` substeps, its
  change keeps accumulating) and background noise (`noise` events per pixel per second of the
  300 ms recording, random polarity, independent of the signal).

Everything is deterministic from `Params.seed`: the sensor's mismatch from the seed, each
sample's noise from (seed, split, sample index), so a sample does not depend on which others are
simulated with it. Splits are MNIST's (60 000 / 10 000). Results are cached as compact arrays
(`EventSet` npz: uint16 address, uint16 substep, uint8 count) under `$OSBC_CACHE` or
`~/.cache/osbc-snn`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from console.progress import progress as progress_bar, step
from data.events import SPLITS, EventSet, _check_split

FIELD = 34
DIGIT = 28
SHAPE = (2, FIELD, FIELD)
N_INPUTS = 2 * FIELD * FIELD
SACCADES = ((0.0, 0.0), (3.0, 6.0), (6.0, 0.0), (0.0, 0.0))  # digit offset (x, y) at the saccade ends
RECORDING_S = 0.3  # three 100 ms saccades, as N-MNIST
_FORMAT = 1  # bump when the simulation changes so stale caches are not reused


@dataclass(frozen=True)
class Params:
    contrast: float = 0.4  # log-intensity change per event
    eps: float = 0.1  # log(I + eps): dark pixels have a finite log intensity (a monitor is never black)
    substeps: int = 40  # time samples per saccade; event times are substep indices
    mismatch: float = 0.05  # relative std of the per-pixel threshold (fixed pattern)
    refractory: int = 0  # substeps a pixel stays silent after firing
    noise: float = 0.0  # background events per pixel per second
    seed: int = 0

    def __post_init__(self):
        checks = {"contrast": self.contrast > 0, "eps": self.eps > 0, "substeps": self.substeps >= 2,
                  "mismatch": 0 <= self.mismatch < 0.5, "refractory": self.refractory >= 0,
                  "noise": self.noise >= 0}
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"Params.{name}: invalid value {getattr(self, name)!r}")

    @property
    def steps(self) -> int:
        return 3 * self.substeps

    def key(self) -> str:
        text = json.dumps({"format": _FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def path_offsets(params: Params) -> np.ndarray:
    """Digit offsets (x, y) float [3*substeps + 1, 2]: index 0 is the start, k is after substep k."""
    u = np.arange(1, params.substeps + 1) / params.substeps
    ease = (1 - np.cos(np.pi * u)) / 2
    points = [np.array(SACCADES[0])]
    for a, b in zip(SACCADES[:-1], SACCADES[1:]):
        points += list(np.array(a) + (np.array(b) - np.array(a)) * ease[:, None])
    return np.array(points)


def render(images: np.ndarray, ox: float, oy: float) -> np.ndarray:
    """Digits [B, 28, 28] placed at sub-pixel offset (ox, oy) in the 34x34 field, bilinear."""
    out = np.zeros((len(images), FIELD, FIELD), np.float32)
    ix, iy = int(np.floor(ox)), int(np.floor(oy))
    fx, fy = ox - ix, oy - iy
    for dx, wx in ((0, 1 - fx), (1, fx)):
        for dy, wy in ((0, 1 - fy), (1, fy)):
            if wx * wy > 1e-9:
                out[:, iy + dy:iy + dy + DIGIT, ix + dx:ix + dx + DIGIT] += np.float32(wx * wy) * images
    return out


def sensor_thresholds(params: Params) -> np.ndarray:
    """Per-pixel contrast thresholds [34, 34] of the simulated sensor of this seed (ON = OFF)."""
    rng = np.random.default_rng([params.seed, 0xC0FFEE])
    spread = rng.normal(1.0, params.mismatch, (FIELD, FIELD)) if params.mismatch else np.ones((FIELD, FIELD))
    return (params.contrast * np.clip(spread, 0.5, 1.5)).astype(np.float32)


def simulate(images: np.ndarray, params: Params = Params(), labels=None, ids=None, split: str = "test",
             chunk: int = 1000, progress: bool = False) -> EventSet:
    """Simulate the recording of `images` (float [N, 784] or [N, 28, 28] in [0, 1]).

    `ids` are the samples' indices in their split (default 0..N-1): with `split` they seed each
    sample's noise, so a sample's events do not depend on the batch it was simulated in.
    """
    images = np.asarray(images, np.float32).reshape(-1, DIGIT, DIGIT)
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError("images: intensities must lie in [0, 1]")
    _check_split(split)
    n = len(images)
    if n == 0:
        raise ValueError("images: empty")
    ids = np.arange(n) if ids is None else np.asarray(ids, np.int64)
    labels = np.full(n, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
    if len(ids) != n or len(labels) != n:
        raise ValueError("ids/labels: need one entry per image")
    offsets, theta = path_offsets(params), sensor_thresholds(params)
    with progress_bar(total=n, desc=f"event-mnist {split}: sensor", unit="image", disable=not progress) as bar:
        parts = []
        for lo in range(0, n, chunk):
            parts.append(_simulate_chunk(images[lo:lo + chunk], params, offsets, theta))
            bar.update(min(chunk, n - lo))
        events = EventSet.concat(parts)
        if params.noise:
            bar.set_description(f"event-mnist {split}: noise")
            events = _add_noise(events, params, ids, split)
    events.labels = labels
    return events


def _simulate_chunk(images, params: Params, offsets, theta) -> EventSet:
    """Each pixel's reference sits on the lattice `L0 + n*theta` (n integer, L0 the start): the
    number of events is then exact arithmetic on n, so returning to the start image returns n to
    0 exactly instead of up to rounding."""
    b = len(images)
    start = np.log(render(images, *offsets[0]) + params.eps)
    level = np.zeros(start.shape, np.int64)  # n: the reference's lattice index
    last = np.full(start.shape, -(params.refractory + 1), np.int64)
    found = []  # (sample, t, addr, count) per substep and polarity
    for k in range(1, len(offsets)):
        u = (np.log(render(images, *offsets[k]) + params.eps) - start) / theta
        on = np.maximum(np.floor(u).astype(np.int64) - level, 0)
        off = np.maximum(level - np.ceil(u).astype(np.int64), 0)
        if params.refractory:
            quiet = (k - last) > params.refractory
            on *= quiet
            off *= quiet
        level += on - off
        last[(on + off) > 0] = k
        for pol, cnt in ((0, off), (1, on)):
            s, y, x = np.nonzero(cnt)
            found.append((s, np.full(len(s), k - 1), pol * FIELD * FIELD + y * FIELD + x, cnt[s, y, x]))
    s, t, addr, cnt = (np.concatenate(c) for c in zip(*found))
    order = np.lexsort((addr, t, s))
    sizes = np.bincount(s, minlength=b)
    return EventSet(addr[order].astype(np.uint16), t[order].astype(np.uint16),
                    np.minimum(cnt[order], 255).astype(np.uint8),
                    np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                    np.full(b, params.steps, np.int64), np.full(b, -1, np.int64), SHAPE)


def _add_noise(events: EventSet, params: Params, ids, split: str) -> EventSet:
    mean = params.noise * RECORDING_S * FIELD * FIELD  # noise events per sample, random polarity
    per_sample = []
    for i, sid in enumerate(ids):
        rng = np.random.default_rng([params.seed, SPLITS.index(split), int(sid)])
        m = rng.poisson(mean)
        lo, hi = events.offsets[i], events.offsets[i + 1]
        addr = np.concatenate([events.addr[lo:hi], rng.integers(0, N_INPUTS, m).astype(np.uint16)])
        t = np.concatenate([events.t[lo:hi], rng.integers(0, params.steps, m).astype(np.uint16)])
        cnt = np.concatenate([events.count[lo:hi], np.ones(m, np.uint8)])
        order = np.lexsort((addr, t))
        per_sample.append((addr[order], t[order], cnt[order]))
    sizes = [len(a) for a, _, _ in per_sample]
    return EventSet(np.concatenate([a for a, _, _ in per_sample]), np.concatenate([t for _, t, _ in per_sample]),
                    np.concatenate([c for _, _, c in per_sample]),
                    np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                    events.duration, events.labels, SHAPE)


def cache_dir() -> Path:
    return Path(os.environ.get("OSBC_CACHE") or Path.home() / ".cache" / "osbc-snn")


def events(split: str, params: Params = Params(), progress: bool = True) -> EventSet:
    """The whole split (60 000 train / 10 000 test), simulated once and then read from the cache.

    The last two splits read stay in memory (the training split is ~1.4 GB unpacked and takes
    seconds to decompress); treat the arrays as read-only."""
    _check_split(split)
    return _events(split, params, cache_dir() / f"event-mnist-{split}-{params.key()}.npz", progress)


@functools.lru_cache(maxsize=2)
def _events(split: str, params: Params, path: Path, progress: bool) -> EventSet:
    if path.exists():
        with step(f"event-mnist {split}: reading {path}", disable=not progress):
            return EventSet.load(path)
    from data import load

    x, y = load("mnist", split)
    out = simulate(x, params, labels=y, split=split, progress=progress)
    with step(f"event-mnist {split}: writing {path} (once)", disable=not progress):
        out.save(path)
    return out


def spikes(split: str, steps: int = 20, limit: int | None = None, max_count: int | None = None,
           params: Params = Params()) -> tuple[np.ndarray, np.ndarray]:
    """(event counts [steps, N, 2312], labels int64 [N]) of the first `limit` samples of a split."""
    ev = events(split, params)
    index = slice(None) if limit is None else slice(0, int(limit))
    return ev.frames(steps, index, max_count=max_count), ev.labels[index].astype(np.int64)
