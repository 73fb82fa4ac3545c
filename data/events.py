"""Event-camera datasets as event-count frames: the container and the readers for the real formats.

Users keep N-MNIST, DVS128-Gesture and CIFAR10-DVS on disk (nothing is downloaded here). Every
reader returns an `EventSet`: the events of many samples in flat arrays (one sample after the
other, `offsets` marks the boundaries), cut into `T` equal time bins on demand by
`EventSet.frames`, which yields counts `[T, B, C*H*W]` with the address `p*H*W + y*W + x`
(polarity channel 0 = OFF, 1 = ON), the input layout of the fully connected reference networks.

Formats (all little-endian unless said otherwise):
* N-MNIST `.bin`: 5 bytes per event, `x, y, p<<7 | t[22:16], t[15:8], t[7:0]` (t in µs);
  `Train/<digit>/*.bin` and `Test/<digit>/*.bin` are the paper's 60 000 / 10 000 split.
* DVS128-Gesture: AEDAT 3.1 recordings `userNN_<lighting>.aedat` with `..._labels.csv`
  (`class,startTime_usec,endTime_usec`); `trials_to_train.txt` / `trials_to_test.txt` list the
  recordings of each split (users 1-23 / 24-29). Each labelled interval is one sample.
* CIFAR10-DVS: one folder per class with one AEDAT4 file per sample; there is no official split,
  the customary one (used here) is the first 90 % of each class's files in name order for
  training and the last 10 % for testing.

AEDAT4 is decoded by the optional `aedat` package when it is installed; otherwise by the small
pure-Python FlatBuffers reader below, which handles uncompressed files and LZ4/Zstd ones when
`lz4` / `zstandard` are importable.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "test")


@dataclass
class EventSet:
    """Events of `len(offsets) - 1` samples; sample i is `[offsets[i], offsets[i+1])`.

    `t` is the time since the sample's start (any integer unit), `duration[i]` the sample's
    length in that unit (every t < duration), `addr` the flat input address `p*H*W + y*W + x`,
    `count` how many events that entry stands for (simulators merge coincident events).
    """

    addr: np.ndarray
    t: np.ndarray
    count: np.ndarray
    offsets: np.ndarray
    duration: np.ndarray
    labels: np.ndarray
    shape: tuple[int, int, int]  # (polarities, height, width)

    def __post_init__(self):
        n = len(self.offsets) - 1
        if n < 0 or self.offsets[0] != 0 or self.offsets[-1] != len(self.addr):
            raise ValueError("EventSet.offsets: must start at 0 and end at the number of events")
        if not (len(self.addr) == len(self.t) == len(self.count)):
            raise ValueError("EventSet: addr, t and count must have the same length")
        if len(self.labels) != n or len(self.duration) != n:
            raise ValueError("EventSet: labels and duration need one entry per sample")
        if len(self.addr) and int(self.addr.max()) >= self.n_inputs:
            raise ValueError(f"EventSet.addr: address {int(self.addr.max())} outside {self.shape}")

    @property
    def n_inputs(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def subset(self, index) -> "EventSet":
        """The samples `index` (an int array or a slice), in that order."""
        index = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index, np.int64)
        starts, ends = self.offsets[index], self.offsets[index + 1]
        sizes = ends - starts
        take = np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(sizes.sum())
        return EventSet(self.addr[take], self.t[take], self.count[take],
                        np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                        self.duration[index], self.labels[index], self.shape)

    def frames(self, steps: int, index=None, max_count: int | None = None, chunk: int = 512) -> np.ndarray:
        """Event counts `[steps, B, n_inputs]`: uint8 when `max_count` <= 255, else uint16.

        Each sample's duration is cut into `steps` equal bins; `max_count` clips the count per
        input per step (the artifact's `input_max_count`). Built `chunk` samples at a time so
        the float64 bincount never needs more than a chunk's worth of memory.
        """
        if steps < 1:
            raise ValueError(f"steps: must be >= 1, got {steps}")
        if max_count is not None and max_count < 1:
            raise ValueError(f"max_count: must be >= 1 or None, got {max_count}")
        index = np.arange(len(self)) if index is None else np.arange(len(self))[index]
        dtype = np.uint8 if max_count is not None and max_count <= 255 else np.uint16
        out = np.empty((steps, len(index), self.n_inputs), dtype)
        for lo in range(0, len(index), chunk):
            sub = self.subset(index[lo:lo + chunk])
            b = np.repeat(np.arange(len(sub)), np.diff(sub.offsets))
            step = (sub.t.astype(np.int64) * steps) // sub.duration[b].astype(np.int64)
            flat = (step * len(sub) + b) * self.n_inputs + sub.addr
            counts = np.bincount(flat, weights=sub.count, minlength=steps * len(sub) * self.n_inputs)
            if max_count is not None:
                np.minimum(counts, max_count, out=counts)
            if counts.max(initial=0) > np.iinfo(dtype).max:
                raise ValueError(f"frames: a count exceeds {np.iinfo(dtype).max}; pass max_count or more steps")
            out[:, lo:lo + len(sub)] = counts.reshape(steps, len(sub), self.n_inputs)
        return out

    @staticmethod
    def concat(parts: list["EventSet"]) -> "EventSet":
        if not parts:
            raise ValueError("EventSet.concat: no parts")
        sizes = np.concatenate([np.diff(p.offsets) for p in parts])
        return EventSet(np.concatenate([p.addr for p in parts]), np.concatenate([p.t for p in parts]),
                        np.concatenate([p.count for p in parts]),
                        np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                        np.concatenate([p.duration for p in parts]), np.concatenate([p.labels for p in parts]),
                        parts[0].shape)

    def save(self, path) -> None:
        """Compressed npz, written atomically (tmp file + rename) so a killed run leaves no half cache."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
        np.savez_compressed(tmp, addr=self.addr, t=self.t, count=self.count, offsets=self.offsets,
                            duration=self.duration, labels=self.labels, shape=np.array(self.shape))
        os.replace(tmp, path)

    @staticmethod
    def load(path) -> "EventSet":
        with np.load(path) as z:
            return EventSet(z["addr"], z["t"], z["count"], z["offsets"], z["duration"], z["labels"],
                            tuple(int(v) for v in z["shape"]))


def from_samples(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], labels,
                 shape: tuple[int, int, int], downsample: int = 1) -> EventSet:
    """Pack per-sample `(t, x, y, p)` arrays (absolute times) into an EventSet.

    `downsample` divides x and y (DVS128 at 128x128 is commonly pooled to 32x32); `shape` is the
    sensor's (polarities, height, width) before that.
    """
    if downsample < 1 or shape[1] % downsample or shape[2] % downsample:
        raise ValueError(f"downsample: must divide the sensor size {shape[1:]}, got {downsample}")
    c, h, w = shape[0], shape[1] // downsample, shape[2] // downsample
    addrs, times, durations = [], [], []
    for t, x, y, p in samples:
        t = np.asarray(t, np.int64)
        t0 = int(t.min()) if len(t) else 0
        times.append((t - t0).astype(np.uint32))
        durations.append(int(t.max()) - t0 + 1 if len(t) else 1)
        x, y = np.asarray(x, np.int64) // downsample, np.asarray(y, np.int64) // downsample
        if len(x) and (x.max() >= w or y.max() >= h or x.min() < 0 or y.min() < 0):
            raise ValueError(f"events: x/y outside the {shape[2]}x{shape[1]} sensor")
        addrs.append((np.asarray(p, np.int64) * h * w + y * w + x).astype(np.uint32))
    sizes = [len(a) for a in addrs]
    addr = np.concatenate(addrs) if addrs else np.zeros(0, np.uint32)
    return EventSet(addr, np.concatenate(times) if times else np.zeros(0, np.uint32),
                    np.ones(len(addr), np.uint8), np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                    np.array(durations, np.int64), np.asarray(labels, np.int64), (c, h, w))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {SPLITS}, got {split!r}")


def _limit_files(files: list, limit: int | None) -> list:
    """Every k-th file so that a limit keeps all classes (the file lists are sorted by class)."""
    if limit is None or limit >= len(files):
        return files
    if limit < 1:
        raise ValueError(f"limit: must be >= 1, got {limit}")
    return [files[i] for i in np.linspace(0, len(files) - 1, limit).round().astype(int)]


# ---------------------------------------------------------------------------------------- N-MNIST

NMNIST_SHAPE = (2, 34, 34)


def read_nmnist_bin(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t µs, x, y, p) of one N-MNIST `.bin` file."""
    raw = np.fromfile(path, np.uint8)
    if len(raw) % 5:
        raise ValueError(f"{path}: N-MNIST .bin length {len(raw)} is not a multiple of 5 bytes")
    ev = raw.reshape(-1, 5).astype(np.int64)
    t = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    return t, ev[:, 0], ev[:, 1], ev[:, 2] >> 7


def load_nmnist(root, split: str, limit: int | None = None) -> EventSet:
    """N-MNIST from `root/Train|Test/<digit>/*.bin` (the paper's split)."""
    _check_split(split)
    folder = Path(root) / split.capitalize()
    if not folder.is_dir():
        raise FileNotFoundError(f"N-MNIST root: {folder} does not exist (expected Train/ and Test/)")
    files = _limit_files(sorted(folder.glob("[0-9]/*.bin")), limit)
    if not files:
        raise FileNotFoundError(f"N-MNIST root: no <digit>/*.bin files under {folder}")
    return from_samples([read_nmnist_bin(f) for f in files], [int(f.parent.name) for f in files], NMNIST_SHAPE)


# ----------------------------------------------------------------------------- DVS128-Gesture

GESTURE_SENSOR = (2, 128, 128)
_AEDAT3_HEADER = struct.Struct("<hhiiiiii")  # type, source, size, tsOffset, tsOverflow, capacity, number, valid
_POLARITY_EVENT = 1


def read_aedat3(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t µs, x, y, p) of the valid polarity events of an AEDAT 3.1 file (other packets skipped)."""
    data = Path(path).read_bytes()
    end = data.find(b"#!END-HEADER\r\n")
    if not data.startswith(b"#!AER-DAT3") or end < 0:
        raise ValueError(f"{path}: not an AEDAT 3.1 file (header '#!AER-DAT3.1' ... '#!END-HEADER')")
    pos, chunks = end + len(b"#!END-HEADER\r\n"), []
    while pos + _AEDAT3_HEADER.size <= len(data):
        etype, _, esize, _, overflow, _, number, _ = _AEDAT3_HEADER.unpack_from(data, pos)
        pos += _AEDAT3_HEADER.size
        body = data[pos:pos + esize * number]
        if len(body) < esize * number:
            raise ValueError(f"{path}: truncated AEDAT 3.1 packet at byte {pos}")
        pos += esize * number
        if etype == _POLARITY_EVENT:
            ev = np.frombuffer(body, np.uint32).reshape(number, esize // 4)
            word, ts = ev[:, 0].astype(np.int64), ev[:, 1].astype(np.int64) | (overflow << 31)
            valid = (word & 1) == 1
            chunks.append((ts[valid], (word[valid] >> 17) & 0x7FFF, (word[valid] >> 2) & 0x7FFF,
                           (word[valid] >> 1) & 1))
    if not chunks:
        return tuple(np.zeros(0, np.int64) for _ in range(4))
    return tuple(np.concatenate(c) for c in zip(*chunks))


def load_dvs_gesture(root, split: str, downsample: int = 4, limit: int | None = None) -> EventSet:
    """DVS128-Gesture from `root` (the DvsGesture folder), 11 classes, 128x128 / `downsample`."""
    _check_split(split)
    root = Path(root)
    listing = root / f"trials_to_{split}.txt"
    if not listing.is_file():
        raise FileNotFoundError(f"DVS128-Gesture root: {listing} does not exist")
    samples, labels = [], []
    for name in listing.read_text().split():
        t, x, y, p = read_aedat3(root / name)
        table = np.loadtxt(root / name.replace(".aedat", "_labels.csv"), delimiter=",", skiprows=1,
                           dtype=np.int64, ndmin=2)
        for cls, start, stop in table:
            keep = (t >= start) & (t < stop)
            samples.append((t[keep], x[keep], y[keep], p[keep]))
            labels.append(cls - 1)
    keep = _limit_files(list(range(len(samples))), limit)
    return from_samples([samples[i] for i in keep], [labels[i] for i in keep], GESTURE_SENSOR, downsample)


# -------------------------------------------------------------------------------- CIFAR10-DVS

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_DVS_SENSOR = (2, 128, 128)
_AEDAT4_MAGIC = b"#!AER-DAT4.0\r\n"


def _fb_table(buf: bytes, pos: int) -> tuple[int, list[int]]:
    """Table position and its field offsets (0 = absent) from a FlatBuffers table at `pos`."""
    vtable = pos - struct.unpack_from("<i", buf, pos)[0]
    vsize = struct.unpack_from("<H", buf, vtable)[0]
    return pos, list(struct.unpack_from(f"<{(vsize - 4) // 2}H", buf, vtable + 4))


def _fb_field(buf: bytes, table: tuple[int, list[int]], i: int, fmt: str, default):
    pos, fields = table
    if i >= len(fields) or fields[i] == 0:
        return default
    return struct.unpack_from(fmt, buf, pos + fields[i])[0]


def _fb_vector(buf: bytes, table: tuple[int, list[int]], i: int) -> tuple[int, int]:
    """(start, length) of the vector in field i."""
    pos, fields = table
    if i >= len(fields) or fields[i] == 0:
        return 0, 0
    at = pos + fields[i]
    start = at + struct.unpack_from("<I", buf, at)[0]
    return start + 4, struct.unpack_from("<I", buf, start)[0]


def _decompressor(compression: int, path):
    if compression == 0:
        return lambda body: body
    try:
        if compression in (1, 2):
            import lz4.frame
            return lz4.frame.decompress
        if compression in (3, 4):
            import zstandard
            return lambda body: zstandard.ZstdDecompressor().decompressobj().decompress(body)
    except ImportError:
        pass
    raise ValueError(f"{path}: AEDAT4 compression {compression} needs the optional 'aedat' package "
                     "(pip install aedat), or lz4 / zstandard")


_AEDAT4_EVENT = np.dtype([("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("on", "u1"), ("pad", "V3")])


def _read_aedat4_python(path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = Path(path).read_bytes()
    if not data.startswith(_AEDAT4_MAGIC):
        raise ValueError(f"{path}: not an AEDAT4 file (magic '#!AER-DAT4.0')")
    pos = len(_AEDAT4_MAGIC)
    (size,) = struct.unpack_from("<i", data, pos)
    header = data[pos + 4:pos + 4 + size]
    table = _fb_table(header, struct.unpack_from("<I", header, 0)[0])
    decompress = _decompressor(_fb_field(header, table, 0, "<i", 0), path)
    data_table = _fb_field(header, table, 1, "<q", -1)  # the packet index DV appends after the packets
    end = data_table if data_table >= 0 else len(data)
    pos += 4 + size
    chunks = []
    while pos + 8 <= end:
        _, size = struct.unpack_from("<ii", data, pos)
        body = decompress(data[pos + 8:pos + 8 + size])
        pos += 8 + size
        # size-prefixed FlatBuffer: [u32 size][u32 root offset][4-byte identifier]...
        if body[8:12] != b"EVTS":
            continue
        fb = body[4:]
        start, n = _fb_vector(fb, _fb_table(fb, struct.unpack_from("<I", fb, 0)[0]), 0)
        ev = np.frombuffer(fb, _AEDAT4_EVENT, count=n, offset=start)
        chunks.append((ev["t"].astype(np.int64), ev["x"].astype(np.int64), ev["y"].astype(np.int64),
                       ev["on"].astype(np.int64)))
    if pos > end:
        raise ValueError(f"{path}: truncated AEDAT4 packet before byte {end}")
    if not chunks:
        return tuple(np.zeros(0, np.int64) for _ in range(4))
    return tuple(np.concatenate(c) for c in zip(*chunks))


def _read_aedat4_package(path):
    import aedat  # optional, MIT/Apache; only its Decoder is used
    chunks = [(p["events"]["t"], p["events"]["x"], p["events"]["y"], p["events"]["on"])
              for p in aedat.Decoder(str(path)) if "events" in p]
    if not chunks:
        return tuple(np.zeros(0, np.int64) for _ in range(4))
    return tuple(np.concatenate(c).astype(np.int64) for c in zip(*chunks))


def read_aedat4(path, backend: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t µs, x, y, p) of the polarity events of an AEDAT4 file.

    backend: "aedat" (the optional package), "python" (built in), "auto" (aedat when importable).
    """
    if backend not in ("auto", "aedat", "python"):
        raise ValueError(f"backend: must be auto|aedat|python, got {backend!r}")
    if backend == "auto":
        try:
            import aedat  # noqa: F401
            backend = "aedat"
        except ImportError:
            backend = "python"
    return _read_aedat4_package(path) if backend == "aedat" else _read_aedat4_python(path)


def load_cifar10_dvs(root, split: str, downsample: int = 4, limit: int | None = None,
                     train_fraction: float = 0.9, backend: str = "auto") -> EventSet:
    """CIFAR10-DVS from `root/<class>/*.aedat4`; per class the first `train_fraction` of the
    files (name order) are the training split, the rest the test split."""
    _check_split(split)
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction: must lie in (0, 1), got {train_fraction}")
    files, labels = [], []
    for label, cls in enumerate(CIFAR10_CLASSES):
        names = sorted((Path(root) / cls).glob("*.aedat4"))
        cut = int(round(len(names) * train_fraction))
        chosen = names[:cut] if split == "train" else names[cut:]
        files += chosen
        labels += [label] * len(chosen)
    if not files:
        raise FileNotFoundError(f"CIFAR10-DVS root: no <class>/*.aedat4 files under {root} for {split}")
    keep = _limit_files(list(range(len(files))), limit)
    return from_samples([read_aedat4(files[i], backend) for i in keep], [labels[i] for i in keep],
                        CIFAR10_DVS_SENSOR, downsample)
