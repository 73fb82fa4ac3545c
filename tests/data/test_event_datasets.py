"""Readers of the real event-camera formats on tiny files written here, and the EventSet binning.

The writers below follow the published layouts byte for byte (N-MNIST .bin, AEDAT 3.1, AEDAT4
with hand-built FlatBuffers); one golden N-MNIST record is spelled out in hex so that a layout
mistake shared by writer and reader cannot pass unnoticed.
"""
import struct

import numpy as np
import pytest

from data import events
from data.events import EventSet


# ------------------------------------------------------------------------------------ writers

def write_nmnist(path, t, x, y, p):
    rec = np.zeros((len(t), 5), np.uint8)
    rec[:, 0], rec[:, 1] = x, y
    rec[:, 2] = (np.asarray(p) << 7) | ((np.asarray(t) >> 16) & 0x7F)
    rec[:, 3], rec[:, 4] = (np.asarray(t) >> 8) & 0xFF, np.asarray(t) & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rec.tobytes())


def write_aedat3(path, packets):
    """packets: list of (type, [(t, x, y, p, valid)]); polarity packets use 8-byte events."""
    out = bytearray(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n")
    for etype, evs in packets:
        overflow = (evs[0][0] >> 31) if evs else 0
        out += struct.pack("<hhiiiiii", etype, 1, 8, 4, overflow, len(evs), len(evs), len(evs))
        for t, x, y, p, valid in evs:
            out += struct.pack("<Ii", (x << 17) | (y << 2) | (p << 1) | valid, t & 0x7FFFFFFF)
    path.write_bytes(bytes(out))


def flatbuffer(fields, identifier=b"\0\0\0\0"):
    """A FlatBuffer whose root table has `fields`: ("i32"|"i64", value), ("str", bytes),
    ("structs", bytes of the packed vector elements, count) or None (absent field)."""
    n = len(fields)
    vt_at = 8
    vt_size = 4 + 2 * n
    table_at = (vt_at + vt_size + 7) // 8 * 8  # 8-aligned table start
    inline, offsets, tail = bytearray(), [], []
    for f in fields:
        if f is None:
            offsets.append(0)
            continue
        kind, val = f[0], f[1]
        size = 8 if kind == "i64" else 4
        while (table_at + 4 + len(inline)) % size:
            inline += b"\0"
        offsets.append(4 + len(inline))
        if kind in ("i32", "i64"):
            inline += struct.pack("<i" if kind == "i32" else "<q", val)
        else:
            tail.append((len(inline), kind, f))
            inline += b"\0\0\0\0"  # uoffset patched below
    table = bytearray(struct.pack("<i", table_at - vt_at)) + inline
    buf = bytearray(struct.pack("<I", table_at) + identifier)
    buf += struct.pack(f"<HH{n}H", vt_size, len(table), *offsets)
    buf += b"\0" * (table_at - len(buf)) + table
    for pos, kind, f in tail:
        while (len(buf) + 4) % 8:  # vector elements 8-aligned
            buf += b"\0"
        field_at = table_at + 4 + pos
        struct.pack_into("<I", buf, field_at, len(buf) - field_at)
        if kind == "str":
            buf += struct.pack("<I", len(f[1])) + f[1] + b"\0"
        else:
            buf += struct.pack("<I", f[2]) + f[1]
    return bytes(buf)


def write_aedat4(path, packets, compression=0):
    """packets: list of (identifier, events (t, x, y, on) list)."""
    info = b'<dv version="2.0"><node name="outInfo" path="/outInfo/"></node></dv>'
    header = flatbuffer([("i32", compression), ("i64", -1), ("str", info)])
    out = bytearray(b"#!AER-DAT4.0\r\n") + struct.pack("<i", len(header)) + header
    for ident, evs in packets:
        elems = b"".join(struct.pack("<qhhB3x", t, x, y, on) for t, x, y, on in evs)
        fb = flatbuffer([("structs", elems, len(evs))], ident)
        body = struct.pack("<I", len(fb)) + fb
        out += struct.pack("<ii", 0, len(body)) + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))


def random_events(rng, n, w, h, t_max=100_000):
    t = np.sort(rng.integers(0, t_max, n))
    return t, rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 2, n)


# --------------------------------------------------------------------------------- EventSet

def test_frames_bins_counts_and_clipping():
    ev = events.from_samples([(np.array([100, 104, 105, 109, 109]), np.array([1, 1, 0, 2, 2]),
                               np.array([0, 0, 1, 1, 1]), np.array([1, 1, 0, 1, 1]))], [3], (2, 2, 3))
    f = ev.frames(2)
    assert f.shape == (2, 1, 12)
    # duration 10: t 0 and 4 -> bin 0, t 5 and 9 -> bin 1; address p*6 + y*3 + x
    assert f[0, 0, 6 + 1] == 2 and f[1, 0, 0 + 3 + 0] == 1 and f[1, 0, 6 + 3 + 2] == 2
    assert f.sum() == 5
    assert ev.frames(2, max_count=1)[1, 0, 11] == 1


def test_subset_concat_save_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    samples = [random_events(rng, n, 34, 34) for n in (5, 0, 7, 3)]
    ev = events.from_samples(samples, [0, 1, 2, 3], (2, 34, 34))
    sub = ev.subset([2, 0])
    assert list(sub.labels) == [2, 0]
    np.testing.assert_array_equal(sub.frames(4), ev.frames(4)[:, [2, 0]])
    both = EventSet.concat([ev.subset(slice(0, 2)), ev.subset(slice(2, 4))])
    np.testing.assert_array_equal(both.frames(3), ev.frames(3))
    ev.save(tmp_path / "c" / "ev.npz")
    np.testing.assert_array_equal(EventSet.load(tmp_path / "c" / "ev.npz").frames(5, chunk=1), ev.frames(5))


def test_eventset_and_frames_errors():
    ev = events.from_samples([random_events(np.random.default_rng(1), 4, 4, 4)], [0], (2, 4, 4))
    with pytest.raises(ValueError, match="steps"):
        ev.frames(0)
    with pytest.raises(ValueError, match="max_count"):
        ev.frames(3, max_count=0)
    with pytest.raises(ValueError, match="outside"):
        events.from_samples([(np.array([0]), np.array([4]), np.array([0]), np.array([0]))], [0], (2, 4, 4))
    with pytest.raises(ValueError, match="downsample"):
        events.from_samples([], [], (2, 4, 4), downsample=3)


# ---------------------------------------------------------------------------------- N-MNIST

def test_nmnist_golden_record(tmp_path):
    path = tmp_path / "one.bin"
    path.write_bytes(bytes.fromhex("0507810203" "21000000ff"))
    t, x, y, p = events.read_nmnist_bin(path)
    assert list(t) == [0x010203, 0xFF] and list(x) == [5, 0x21] and list(y) == [7, 0] and list(p) == [1, 0]


def test_nmnist_folder(tmp_path):
    rng = np.random.default_rng(2)
    written = {}
    for split, digits in (("Train", (0, 3, 9)), ("Test", (1,))):
        for d in digits:
            for i in range(2):
                t, x, y, p = random_events(rng, 20 + i, 34, 34)
                write_nmnist(tmp_path / split / str(d) / f"{i:05d}.bin", t, x, y, p)
                written[(split, d, i)] = (t, x, y, p)
    train = events.load_nmnist(tmp_path, "train")
    assert list(train.labels) == [0, 0, 3, 3, 9, 9] and train.shape == (2, 34, 34)
    t, x, y, p = written[("Train", 3, 1)]
    counts = train.frames(1)[0, 3]
    assert counts.sum() == len(t)
    np.testing.assert_array_equal(counts, np.bincount(p * 1156 + y * 34 + x, minlength=2312))
    assert len(events.load_nmnist(tmp_path, "test")) == 2
    assert list(events.load_nmnist(tmp_path, "train", limit=2).labels) == [0, 9]
    with pytest.raises(ValueError, match="split"):
        events.load_nmnist(tmp_path, "val")
    with pytest.raises(FileNotFoundError, match="Train"):
        events.load_nmnist(tmp_path / "missing", "train")
    (tmp_path / "bad.bin").write_bytes(b"123")
    with pytest.raises(ValueError, match="multiple of 5"):
        events.read_nmnist_bin(tmp_path / "bad.bin")


# --------------------------------------------------------------------------- DVS128-Gesture

def test_dvs_gesture(tmp_path):
    evs = [(1_000, 5, 6, 1, 1), (2_000, 127, 0, 0, 1), (2_500, 7, 7, 1, 0),  # last one invalid
           (6_000, 64, 64, 1, 1), (7_000, 65, 66, 0, 1), ((1 << 31) + 10, 1, 1, 1, 1)]
    write_aedat3(tmp_path / "user24_led.aedat", [(1, evs[:3]), (0, []), (1, evs[3:5]), (1, evs[5:])])
    (tmp_path / "user24_led_labels.csv").write_text("class,startTime_usec,endTime_usec\n"
                                                     "3,500,3000\n11,5000,8000\n")
    (tmp_path / "trials_to_test.txt").write_text("user24_led.aedat\n")
    t, x, y, p = events.read_aedat3(tmp_path / "user24_led.aedat")
    assert list(t) == [1_000, 2_000, 6_000, 7_000, (1 << 31) + 10] and list(x) == [5, 127, 64, 65, 1]
    ds = events.load_dvs_gesture(tmp_path, "test", downsample=4)
    assert list(ds.labels) == [2, 10] and ds.shape == (2, 32, 32)
    f = ds.frames(1)[0]
    assert f[0, 1 * 1024 + 1 * 32 + 1] == 1 and f[0, 0 * 1024 + 0 * 32 + 31] == 1 and f[0].sum() == 2
    assert f[1, 1 * 1024 + 16 * 32 + 16] == 1 and f[1, 0 * 1024 + 16 * 32 + 16] == 1 and f[1].sum() == 2
    with pytest.raises(FileNotFoundError, match="trials_to_train"):
        events.load_dvs_gesture(tmp_path, "train")
    (tmp_path / "bad.aedat").write_bytes(b"#!AER-DAT2.0\r\n")
    with pytest.raises(ValueError, match="AEDAT 3.1"):
        events.read_aedat3(tmp_path / "bad.aedat")


# ------------------------------------------------------------------------------ CIFAR10-DVS

def test_aedat4_python_reader(tmp_path):
    a = [(10, 1, 2, 1), (20, 127, 3, 0)]
    b = [(30, 0, 127, 1)]
    write_aedat4(tmp_path / "x.aedat4", [(b"EVTS", a), (b"IMUS", [(0, 0, 0, 0)]), (b"EVTS", b)])
    t, x, y, p = events.read_aedat4(tmp_path / "x.aedat4", backend="python")
    assert list(t) == [10, 20, 30] and list(x) == [1, 127, 0] and list(y) == [2, 3, 127] and list(p) == [1, 0, 1]
    write_aedat4(tmp_path / "z.aedat4", [(b"EVTS", a)], compression=3)
    try:
        import zstandard  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="aedat"):
            events.read_aedat4(tmp_path / "z.aedat4", backend="python")
    with pytest.raises(ValueError, match="backend"):
        events.read_aedat4(tmp_path / "x.aedat4", backend="tonic")


def test_cifar10_dvs_split(tmp_path):
    rng = np.random.default_rng(3)
    for cls in events.CIFAR10_CLASSES:
        for i in range(4):
            t, x, y, p = random_events(rng, 6, 128, 128)
            write_aedat4(tmp_path / cls / f"cifar10_{cls}_{i}.aedat4", [(b"EVTS", list(zip(t, x, y, p)))])
    train = events.load_cifar10_dvs(tmp_path, "train", train_fraction=0.75, backend="python")
    test = events.load_cifar10_dvs(tmp_path, "test", train_fraction=0.75, backend="python")
    assert len(train) == 30 and len(test) == 10
    assert list(test.labels) == list(range(10)) and train.shape == (2, 32, 32)
    assert train.frames(2).sum() == 30 * 6
    with pytest.raises(ValueError, match="train_fraction"):
        events.load_cifar10_dvs(tmp_path, "train", train_fraction=1.0)
