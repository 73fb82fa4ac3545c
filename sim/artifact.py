"""The versioned compressed-model artifact: fan-out CSR weights and integer LIF parameters.

This file is the only interface between `compress/` (which writes artifacts) and `sim/` / `hw/`
(which read them). See docs/artifact.md for the format and the membrane-bound argument.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from data.encoding import Encoding

FORMAT = "snn-csr-artifact"
VERSION = 1
RESETS = ("subtract", "zero")

# Limits of the format, checked on load before anything is allocated or computed: generous for any
# supported board, small enough that the reference can hold every layer and never overflows int64.
MAX_LAYERS = 64
MAX_NEURONS = 1 << 16  # inputs and outputs per layer
MAX_SYNAPSES = 1 << 24  # non-zero weights per layer
MAX_DENSE = 1 << 25  # n_in·n_out per layer: the reference holds each layer dense in float64
MAX_STEPS = 1 << 14  # time steps; the membrane bound is iterated once per step
MAX_INPUT_COUNT = 255  # events per input address per step (the encoders emit uint8 counts)
PARAM_BITS = 32  # theta and bias: the hardware's membranes are at most 32 bits wide
# The proven membrane bound must fit this many signed bits: the leak multiplies V by b <= 2^16 in
# int64, and every current (|I| < 2^33 by the limits above) stays exact in float64.
MAX_V_BITS = 48
MAX_META_CHARS = 1 << 20


class ArtifactError(ValueError):
    """A file that is not a valid artifact; the message names the offending field."""


def default_path() -> Path:
    """The bundled default model (RTN 4-bit digits network)."""
    return Path(__file__).parent / "models" / "digits.npz"


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in [lo, hi]."""
    return max(int(hi).bit_length(), int(-lo - 1).bit_length() if lo < 0 else 0) + 1


def unsigned_bits(n: int) -> int:
    """Unsigned bits to hold 0..n (at least 1): every address, index and pointer width."""
    return max(1, int(n).bit_length())


def check_w_bits(bits, name: str = "bits") -> int:
    """The weight widths the format (and so the hardware) supports: an integer in 2..8."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 8:
        raise ValueError(f"{name}: must be an integer in 2..8, got {bits}")
    return int(bits)


def leak(v: np.ndarray | int, b, f: int):
    """L(V) = floor(b·V / 2^F): the arithmetic right shift floors for negative V too."""
    return (b * v) >> f


@dataclass(frozen=True)
class MemoryAccount:
    """Weight memory of one layer in bits as the chip stores it (sim/storage.py: word widths, row
    memory and padding included), per encoding, beside the information floor."""

    stored: dict[str, int]  # stored bits per encoding (sim.storage.ENCODINGS)
    encoding: str  # the generator's automatic choice: the fewest stored bits
    value_bits: int  # nnz·w_bits
    entropy_bits: float  # log2 C(n_in·n_out, nnz): the least any encoding of which synapses survive takes

    @property
    def stored_bits(self) -> int:
        """What the chip stores with the automatic choice: the "weight memory" of every report."""
        return self.stored[self.encoding]

    @property
    def dense_bits(self) -> int:
        return self.stored["dense"]

    @property
    def csr_bits(self) -> int:
        return self.stored["csr"]

    @property
    def floor_bits(self) -> float:
        """The information floor: positions (`entropy_bits`) + values."""
        return self.entropy_bits + self.value_bits

    @property
    def ratio(self) -> float:
        """Stored bits / floor (inf for a layer without synapses, whose floor is 0)."""
        return self.stored_bits / self.floor_bits if self.floor_bits else math.inf

    def as_dict(self) -> dict:
        """The figures every report prints (JSON and CSV friendly)."""
        return {"encoding": self.encoding, "stored_bits": self.stored_bits,
                **{f"{name}_bits": bits for name, bits in self.stored.items()},
                "value_bits": self.value_bits, "entropy_bits": round(self.entropy_bits),
                "floor_bits": round(self.floor_bits), "ratio": round(self.ratio, 3)}


def memory_total(accounts: list[MemoryAccount]) -> dict:
    """`MemoryAccount.as_dict` of a whole model: bits summed, the encodings joined by '/', the ratio
    of the sums."""
    rows = [m.as_dict() for m in accounts]
    total = {k: sum(r[k] for r in rows) for k in rows[0] if k.endswith("_bits")}
    floor = sum(m.floor_bits for m in accounts)
    return {"encoding": "/".join(r["encoding"] for r in rows), **total,
            "ratio": round(total["stored_bits"] / floor, 3) if floor else math.inf}


@dataclass(frozen=True, eq=False)
class Layer:
    """One fully connected LIF layer: fan-out CSR (rows = presynaptic inputs) plus neuron constants."""

    n_in: int
    n_out: int
    ptr: np.ndarray
    idx: np.ndarray
    val: np.ndarray
    w_bits: int
    theta: np.ndarray
    bias: np.ndarray
    leak_b: np.ndarray
    leak_f: int
    reset: str
    scale: np.ndarray
    max_count: int = 1
    v_min: int = 0
    v_max: int = 0

    @classmethod
    def from_dense(cls, w_int, *, w_bits: int, theta, bias=None, leak_b, leak_f: int = 8,
                   reset: str = "subtract", scale=None) -> "Layer":
        w = np.asarray(w_int)
        if w.ndim != 2:
            raise ArtifactError(f"weights: expected a 2-D [n_out, n_in] matrix, got shape {w.shape}")
        w = _integers(w, "weights", 1 << 62)
        n_out, n_in = w.shape
        cols, rows = np.nonzero(w.T)  # transpose: CSR rows are the presynaptic inputs
        ptr = np.zeros(n_in + 1, np.int64)
        np.cumsum(np.bincount(cols, minlength=n_in), out=ptr[1:])

        def ints(x, name):
            return _integers(np.broadcast_to(np.asarray(x), (n_out,)), name, 1 << 62)

        layer = cls(n_in=n_in, n_out=n_out, ptr=ptr, idx=rows.astype(np.int64),
                    val=w.T[cols, rows], w_bits=int(w_bits),
                    theta=ints(theta, "theta"), bias=ints(0 if bias is None else bias, "bias"),
                    leak_b=ints(leak_b, "leak_b"), leak_f=int(leak_f), reset=reset,
                    scale=np.broadcast_to(np.asarray(1.0 if scale is None else scale, np.float64), (n_out,)).copy())
        layer.check("layer")
        return layer

    @property
    def nnz(self) -> int:
        return int(self.ptr[-1])

    def dense(self) -> np.ndarray:
        w = np.zeros((self.n_out, self.n_in), np.int64)
        rows = np.repeat(np.arange(self.n_in), np.diff(self.ptr))
        w[self.idx, rows] = self.val
        return w

    @property
    def v_width(self) -> int:
        return signed_bits(self.v_min, self.v_max)

    def current_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per neuron [I_min, I_max] over all inputs with up to `max_count` events per address."""
        pos = np.zeros(self.n_out, np.int64)
        neg = np.zeros(self.n_out, np.int64)
        np.add.at(pos, self.idx, np.maximum(self.val, 0))
        np.add.at(neg, self.idx, np.minimum(self.val, 0))
        return neg * self.max_count + self.bias, pos * self.max_count + self.bias

    def memory(self) -> MemoryAccount:
        from . import storage  # storage imports this module

        stored = storage.stored_bits(self)
        return MemoryAccount(stored=stored, encoding=storage.cheapest(stored),
                             value_bits=self.nnz * self.w_bits,
                             entropy_bits=storage.floor_bits(self) - self.nnz * self.w_bits)

    def check(self, where: str) -> None:
        """Validate sizes, ranges and the CSR structure; raise ArtifactError naming the field."""
        def fail(name, msg):
            raise ArtifactError(f"{where}.{name}: {msg}")

        if self.n_in < 1 or self.n_out < 1:
            fail("shape", f"n_in and n_out must be >= 1, got {self.n_in}, {self.n_out}")
        if max(self.n_in, self.n_out) > MAX_NEURONS or self.n_in * self.n_out > MAX_DENSE:
            fail("shape", f"{self.n_in}x{self.n_out} exceeds the format's limits ({MAX_NEURONS} neurons, "
                          f"{MAX_DENSE} weights per layer)")
        if not 2 <= self.w_bits <= 8:
            fail("w_bits", f"must be in 2..8, got {self.w_bits}")
        if self.reset not in RESETS:
            fail("reset", f"must be one of {RESETS}, got {self.reset!r}")
        if not 0 <= self.leak_f <= 16:
            fail("leak_f", f"must be in 0..16, got {self.leak_f}")
        for name, n in (("ptr", self.n_in + 1), ("theta", self.n_out), ("bias", self.n_out),
                        ("leak_b", self.n_out), ("scale", self.n_out)):
            a = getattr(self, name)
            if a.ndim != 1 or a.shape[0] != n:
                fail(name, f"expected {n} entries, got shape {a.shape}")
        if self.ptr[0] != 0 or np.any(np.diff(self.ptr) < 0):
            fail("ptr", "must start at 0 and be non-decreasing")
        nnz = int(self.ptr[-1])
        if nnz > MAX_SYNAPSES:
            fail("ptr", f"{nnz} synapses exceed the format's {MAX_SYNAPSES} per layer")
        for name in ("idx", "val"):
            a = getattr(self, name)
            if a.ndim != 1 or a.shape[0] != nnz:
                fail(name, f"expected ptr[-1] = {nnz} entries, got shape {a.shape}")
        if nnz and (self.idx.min() < 0 or self.idx.max() >= self.n_out):
            fail("idx", f"postsynaptic index out of range 0..{self.n_out - 1}")
        starts = np.zeros(nnz, bool)
        starts[self.ptr[:-1][np.diff(self.ptr) > 0]] = True
        if nnz and np.any((np.diff(self.idx) <= 0) & ~starts[1:]):
            fail("idx", "indices inside a row must be strictly increasing (no duplicate synapse)")
        lo, hi = -(1 << (self.w_bits - 1)), (1 << (self.w_bits - 1)) - 1
        if nnz and (self.val.min() < lo or self.val.max() > hi):
            fail("val", f"weight outside the signed {self.w_bits}-bit range [{lo}, {hi}]")
        lo, hi = -(1 << (PARAM_BITS - 1)), (1 << (PARAM_BITS - 1)) - 1
        for name in ("theta", "bias"):
            a = getattr(self, name)
            if a.min() < lo or a.max() > hi:
                fail(name, f"outside the signed {PARAM_BITS}-bit range [{lo}, {hi}] (the hardware's "
                           f"membrane width), got [{a.min()}, {a.max()}]")
        if np.any(self.leak_b < 0) or np.any(self.leak_b > (1 << self.leak_f)):
            fail("leak_b", f"must lie in [0, 2^leak_f = {1 << self.leak_f}] (0 <= beta <= 1)")
        if not np.all(np.isfinite(self.scale)) or np.any(self.scale <= 0):
            fail("scale", "must be finite and positive")
        if not 1 <= self.max_count <= MAX_INPUT_COUNT:
            fail("max_count", f"must be in 1..{MAX_INPUT_COUNT}, got {self.max_count}")


def _integers(a: np.ndarray, name: str, limit: int) -> np.ndarray:
    """int64 copy of integer-valued `a`; NaN, infinities and magnitudes beyond `limit` refused."""
    if a.dtype.kind not in "biuf":
        raise ArtifactError(f"{name}: expected numbers, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            raise ArtifactError(f"{name}: not finite (NaN or infinity)")
        if not np.array_equal(a, np.round(a)):
            raise ArtifactError(f"{name}: not integer-valued")
    if a.size and (a.min() < -limit or a.max() > limit):
        raise ArtifactError(f"{name}: magnitude beyond 2^{limit.bit_length() - 1}")
    return a.astype(np.int64)



def membrane_bound(layer: Layer, steps: int, where: str = "layer") -> tuple[int, int, bool]:
    """Proven [v_min, v_max] of the membrane over `steps` steps from V=0 (docs/artifact.md).

    Returns (v_min, v_max, converged); converged means the interval reached a fixed point, so the
    bound holds for any number of steps. An interval that leaves MAX_V_BITS signed bits is refused
    at once, so every value here stays far inside int64 (|b·V| < 2^63).
    """
    if not 1 <= steps <= MAX_STEPS:
        raise ArtifactError(f"steps: must be in 1..{MAX_STEPS}, got {steps}")
    limit = 1 << (MAX_V_BITS - 1)
    i_min, i_max = layer.current_range()
    b, f, th = layer.leak_b, layer.leak_f, layer.theta
    lo = np.zeros(layer.n_out, np.int64)
    hi = np.zeros(layer.n_out, np.int64)
    v_min, v_max = 0, 0
    for _ in range(steps):
        new_lo = leak(lo, b, f) + i_min
        new_hi = leak(np.minimum(hi, th), b, f) + i_max
        fires = hi > th
        if layer.reset == "subtract":
            r_lo = leak(np.maximum(lo, th + 1), b, f) + i_min - th
            r_hi = leak(hi, b, f) + i_max - th
        else:
            r_lo, r_hi = i_min, i_max
        new_lo = np.where(fires, np.minimum(new_lo, r_lo), new_lo)
        new_hi = np.where(fires, np.maximum(new_hi, r_hi), new_hi)
        # Keep V(0) = 0 inside the hull so the bound covers every step, not just the last.
        new_lo, new_hi = np.minimum(new_lo, lo), np.maximum(new_hi, hi)
        if np.array_equal(new_lo, lo) and np.array_equal(new_hi, hi):
            return int(lo.min()), int(hi.max()), True
        lo, hi = new_lo, new_hi
        v_min, v_max = int(lo.min()), int(hi.max())
        if v_min < -limit or v_max >= limit:
            raise ArtifactError(f"{where}.v_bound: the membrane bound [{v_min}, {v_max}] needs more than "
                                f"{MAX_V_BITS} bits; lower the weights, thresholds or steps, or use a leak < 1")
    return v_min, v_max, False


@dataclass(frozen=True, eq=False)
class Artifact:
    layers: tuple[Layer, ...]
    input_max_count: int
    steps: int
    meta: dict
    bound_steps: tuple[int | None, ...]

    @classmethod
    def create(cls, layers, *, input_max_count: int = 1, steps: int, meta: dict | None = None) -> "Artifact":
        """Assemble layers, assign event multiplicities and derive every membrane bound."""
        if not 1 <= steps <= MAX_STEPS:
            raise ArtifactError(f"steps: must be in 1..{MAX_STEPS}, got {steps}")
        if not 1 <= input_max_count <= MAX_INPUT_COUNT:
            raise ArtifactError(f"input_max_count: must be in 1..{MAX_INPUT_COUNT}, got {input_max_count}")
        if not 1 <= len(layers) <= MAX_LAYERS:
            raise ArtifactError(f"n_layers: must be in 1..{MAX_LAYERS}, got {len(layers)}")
        bounded, bound_steps = [], []
        for k, layer in enumerate(layers):
            layer = dataclasses.replace(layer, max_count=input_max_count if k == 0 else 1)
            layer.check(f"l{k}")  # ranges first: the bound below relies on them
            v_min, v_max, converged = membrane_bound(layer, steps, f"l{k}")
            bounded.append(dataclasses.replace(layer, v_min=v_min, v_max=v_max))
            bound_steps.append(None if converged else steps)
        art = cls(tuple(bounded), int(input_max_count), int(steps), dict(meta or {}), tuple(bound_steps))
        art.check()
        return art

    def check(self) -> None:
        if not self.layers:
            raise ArtifactError("n_layers: an artifact needs at least one layer")
        for k, layer in enumerate(self.layers):
            layer.check(f"l{k}")
            if k and layer.n_in != self.layers[k - 1].n_out:
                raise ArtifactError(f"l{k}.shape: n_in = {layer.n_in} but layer {k - 1} has "
                                    f"n_out = {self.layers[k - 1].n_out}")
        try:
            json.dumps(self.meta)
        except (TypeError, ValueError, RecursionError) as e:
            raise ArtifactError(f"meta: not JSON-serialisable ({e})") from None
        if "encoding" in self.meta:
            self.encoding  # raises ArtifactError when meta["encoding"] is malformed

    @property
    def encoding(self) -> "Encoding | None":
        """How the model's inputs are encoded (meta["encoding"]), None when the artifact says nothing."""
        from data.encoding import Encoding

        if "encoding" not in self.meta:
            return None
        try:
            return Encoding.from_meta(self.meta["encoding"])
        except ValueError as e:
            raise ArtifactError(f"meta.{e}") from None

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out

    def summary(self) -> str:
        lines = [f"artifact v{VERSION}: {' -> '.join([str(self.n_in)] + [str(l.n_out) for l in self.layers])}, "
                 f"T = {self.steps}, method = {self.meta.get('method', '?')}"]
        for k, l in enumerate(self.layers):
            m = l.memory()
            lines.append(f"  l{k}: {l.n_in}x{l.n_out} nnz={l.nnz} ({1 - l.nnz / (l.n_in * l.n_out):.1%} sparse) "
                         f"w{l.w_bits} reset={l.reset} V in [{l.v_min}, {l.v_max}] ({l.v_width} b)")
            lines.append(f"      weights: {m.stored_bits} b stored as {m.encoding} "
                         f"({', '.join(f'{e} {b}' for e, b in m.stored.items())}); floor {m.floor_bits:.0f} b "
                         f"= positions {m.entropy_bits:.0f} + values {m.value_bits}; {m.ratio:.2f}x the floor")
        return "\n".join(lines)


_LAYER_ARRAYS = ("ptr", "idx", "val", "theta", "bias", "leak_b")


def save(art: Artifact, path) -> Path:
    """Write atomically: a crash leaves either the old file or the new one, never half of one."""
    art.check()
    path = Path(path)
    data = {"format": np.array(FORMAT), "version": np.array(VERSION), "meta": np.array(json.dumps(art.meta, sort_keys=True)),
            "input_max_count": np.array(art.input_max_count), "steps": np.array(art.steps),
            "n_layers": np.array(len(art.layers))}
    for k, l in enumerate(art.layers):
        for name in _LAYER_ARRAYS:
            data[f"l{k}.{name}"] = np.asarray(getattr(l, name), np.int64)
        data[f"l{k}.scale"] = np.asarray(l.scale, np.float64)
        data[f"l{k}.shape"] = np.array([l.n_in, l.n_out], np.int64)
        data[f"l{k}.w_bits"] = np.array(l.w_bits)
        data[f"l{k}.leak_f"] = np.array(l.leak_f)
        data[f"l{k}.reset"] = np.array(l.reset)
        data[f"l{k}.v_bound"] = np.array([l.v_min, l.v_max], np.int64)
    atomic_write(path, lambda fh: np.savez_compressed(fh, **data))
    return path


TMP_SUFFIX = ".tmp"  # temporary files are named .<name>.<random>.tmp beside their target


def atomic_write(path, write) -> None:
    """Replace `path` with what `write(binary file)` writes, in one step: a crash leaves the old
    file or the new one, never half of one; the file gets the mode an ordinary new file gets
    (mkstemp's temporary is 0600, and os.replace would keep that)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)  # the only way to read it; set straight back
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class _Archive:
    """The .npy members of an .npz, each read only after its header's shape passed the size check."""

    def __init__(self, zf: zipfile.ZipFile, path: Path):
        self.zf, self.path = zf, path
        self.members = {}
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                raise ArtifactError(f"{path}: not an artifact (member {info.filename!r} is not an .npy array)")
            self.members[info.filename[:-4]] = info

    def read(self, key: str, max_entries: int) -> np.ndarray:
        if key not in self.members:
            raise ArtifactError(f"{key}: missing from {self.path.name}")
        with self.zf.open(self.members[key]) as fh:
            version = np.lib.format.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise ArtifactError(f"{key}: unsupported .npy version {version}")
            header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = header(fh)
            if dtype.hasobject or dtype.itemsize == 0 or any(n < 0 for n in shape):
                raise ArtifactError(f"{key}: not a plain array ({dtype} {shape})")
            entries = math.prod(shape)
            if entries > max_entries or (dtype.kind == "U" and dtype.itemsize > 4 * MAX_META_CHARS):
                raise ArtifactError(f"{key}: declares {dtype} {shape}, larger than the format allows")
            raw = fh.read(entries * dtype.itemsize)
        if len(raw) != entries * dtype.itemsize:
            raise ArtifactError(f"{key}: truncated")
        return np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran else "C")

    def get(self, key: str, kind: str, max_entries: int = 1):
        a = self.read(key, max_entries)
        if kind == "str":
            if a.dtype.kind != "U" or a.ndim:
                raise ArtifactError(f"{key}: expected a string")
            return str(a)
        if kind == "int":
            if a.dtype.kind not in "iu" or a.ndim:
                raise ArtifactError(f"{key}: expected an integer scalar")
            return int(a)
        if kind == "int[]":
            if a.dtype.kind not in "iu" or a.ndim != 1:
                raise ArtifactError(f"{key}: expected a 1-D integer array, got {a.dtype} {a.shape}")
            if a.size and int(a.max()) > np.iinfo(np.int64).max:
                raise ArtifactError(f"{key}: values beyond the int64 range")
            return a.astype(np.int64)
        if a.dtype.kind != "f" or a.ndim != 1:
            raise ArtifactError(f"{key}: expected a 1-D float array, got {a.dtype} {a.shape}")
        return a.astype(np.float64)


# What a damaged or foreign archive raises while it is read; load() turns each into an ArtifactError.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, ValueError,
                NotImplementedError, RuntimeError, SyntaxError)


def load(path=None) -> Artifact:
    """Read and validate an artifact (None = the bundled default model); raises only ArtifactError."""
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            if fh.read(4) != b"PK\x03\x04":
                raise ArtifactError(f"{path}: not an artifact (not an .npz archive)")
        with zipfile.ZipFile(path) as zf:
            return _read(_Archive(zf, path))
    except ArtifactError:
        raise
    except _READ_ERRORS as e:
        raise ArtifactError(f"{path}: not a readable artifact ({type(e).__name__}: {e})") from None


def _read(z: _Archive) -> Artifact:
    fmt = z.read("format", 1) if "format" in z.members else None
    if fmt is None or fmt.dtype.kind != "U" or fmt.ndim or str(fmt) != FORMAT:
        raise ArtifactError(f"format: {z.path.name} is not a {FORMAT} file")
    version = z.get("version", "int")
    if version != VERSION:
        raise ArtifactError(f"version: {version} is not supported (this tool reads version {VERSION})")
    try:
        meta = json.loads(z.get("meta", "str"))
    except (json.JSONDecodeError, RecursionError) as e:
        raise ArtifactError(f"meta: invalid JSON ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict):
        raise ArtifactError(f"meta: expected a JSON object, got {type(meta).__name__}")
    n_layers = z.get("n_layers", "int")
    if not 1 <= n_layers <= MAX_LAYERS:
        raise ArtifactError(f"n_layers: must be in 1..{MAX_LAYERS}, got {n_layers}")
    layers, stored_bounds = [], []
    for k in range(n_layers):
        shape = z.get(f"l{k}.shape", "int[]", 2)
        if shape.shape != (2,):
            raise ArtifactError(f"l{k}.shape: expected [n_in, n_out]")
        n_in, n_out = (int(n) for n in shape)
        if not (1 <= n_in <= MAX_NEURONS and 1 <= n_out <= MAX_NEURONS):
            raise ArtifactError(f"l{k}.shape: n_in and n_out must be in 1..{MAX_NEURONS}, got {n_in}, {n_out}")
        sizes = {"ptr": n_in + 1, "idx": MAX_SYNAPSES, "val": MAX_SYNAPSES}
        arrays = {name: z.get(f"l{k}.{name}", "int[]", sizes.get(name, n_out)) for name in _LAYER_ARRAYS}
        layer = Layer(n_in=n_in, n_out=n_out, scale=z.get(f"l{k}.scale", "float[]", n_out),
                      w_bits=z.get(f"l{k}.w_bits", "int"), leak_f=z.get(f"l{k}.leak_f", "int"),
                      reset=z.get(f"l{k}.reset", "str"), **arrays)
        layer.check(f"l{k}")
        layers.append(layer)
        stored_bounds.append(tuple(int(v) for v in z.get(f"l{k}.v_bound", "int[]", 2)))
    art = Artifact.create(layers, input_max_count=z.get("input_max_count", "int"), steps=z.get("steps", "int"),
                          meta=meta)
    for k, (layer, stored) in enumerate(zip(art.layers, stored_bounds)):
        if stored != (layer.v_min, layer.v_max):
            raise ArtifactError(f"l{k}.v_bound: stored {list(stored)} but the parameters give "
                                f"[{layer.v_min}, {layer.v_max}]")
    return art
