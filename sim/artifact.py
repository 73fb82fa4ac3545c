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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "snn-csr-artifact"
VERSION = 1
RESETS = ("subtract", "zero")


class ArtifactError(ValueError):
    """A file that is not a valid artifact; the message names the offending field."""


def default_path() -> Path:
    """The bundled default model (RTN 4-bit digits network)."""
    return Path(__file__).parent / "models" / "digits.npz"


def signed_bits(lo: int, hi: int) -> int:
    """Smallest two's-complement width holding every integer in [lo, hi]."""
    return max(int(hi).bit_length(), int(-lo - 1).bit_length() if lo < 0 else 0) + 1


def leak(v: np.ndarray | int, b, f: int):
    """L(V) = floor(b·V / 2^F): the arithmetic right shift floors for negative V too."""
    return (b * v) >> f


@dataclass(frozen=True)
class MemoryAccount:
    """Weight memory of one layer in bits."""

    dense_bits: int  # n_in·n_out·w_bits
    csr_bits: int  # nnz·(idx_bits + w_bits) + (n_in + 1)·ptr_bits
    value_bits: int  # nnz·w_bits: the part of the CSR that stores weights, not structure
    entropy_bits: float  # log2 C(n_in·n_out, nnz): the floor for any encoding of the structure
    idx_bits: int
    ptr_bits: int

    @property
    def structure_bits(self) -> int:
        """Bits the CSR spends on indices and pointers, comparable with `entropy_bits`."""
        return self.csr_bits - self.value_bits


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
        if not np.array_equal(w, np.round(w)):
            raise ArtifactError("weights: not integer-valued")
        w = w.astype(np.int64)
        n_out, n_in = w.shape
        cols, rows = np.nonzero(w.T)  # transpose: CSR rows are the presynaptic inputs
        ptr = np.zeros(n_in + 1, np.int64)
        np.cumsum(np.bincount(cols, minlength=n_in), out=ptr[1:])

        def ints(x, name):
            a = np.broadcast_to(np.asarray(x), (n_out,))
            if not np.array_equal(a, np.round(a)):
                raise ArtifactError(f"{name}: not integer-valued")
            return a.astype(np.int64)

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
        idx_bits = max(1, (self.n_out - 1).bit_length())
        ptr_bits = max(1, self.nnz.bit_length())
        value_bits = self.nnz * self.w_bits
        csr = self.nnz * idx_bits + value_bits + (self.n_in + 1) * ptr_bits
        total = self.n_in * self.n_out
        entropy = (math.lgamma(total + 1) - math.lgamma(self.nnz + 1)
                   - math.lgamma(total - self.nnz + 1)) / math.log(2)
        return MemoryAccount(dense_bits=total * self.w_bits, csr_bits=csr, entropy_bits=entropy,
                             value_bits=value_bits, idx_bits=idx_bits, ptr_bits=ptr_bits)

    def check(self, where: str) -> None:
        """Validate sizes, ranges and the CSR structure; raise ArtifactError naming the field."""
        def fail(name, msg):
            raise ArtifactError(f"{where}.{name}: {msg}")

        if self.n_in < 1 or self.n_out < 1:
            fail("shape", f"n_in and n_out must be >= 1, got {self.n_in}, {self.n_out}")
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
        if np.any(self.leak_b < 0) or np.any(self.leak_b > (1 << self.leak_f)):
            fail("leak_b", f"must lie in [0, 2^leak_f = {1 << self.leak_f}] (0 <= beta <= 1)")
        if not np.all(np.isfinite(self.scale)) or np.any(self.scale <= 0):
            fail("scale", "must be finite and positive")
        if self.max_count < 1:
            fail("max_count", f"must be >= 1, got {self.max_count}")


def membrane_bound(layer: Layer, steps: int) -> tuple[int, int, bool]:
    """Proven [v_min, v_max] of the membrane over `steps` steps from V=0 (docs/artifact.md).

    Returns (v_min, v_max, converged); converged means the interval reached a fixed point, so the
    bound holds for any number of steps.
    """
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
        if steps < 1:
            raise ArtifactError(f"steps: must be >= 1, got {steps}")
        if input_max_count < 1:
            raise ArtifactError(f"input_max_count: must be >= 1, got {input_max_count}")
        bounded, bound_steps = [], []
        for k, layer in enumerate(layers):
            layer = dataclasses.replace(layer, max_count=input_max_count if k == 0 else 1)
            v_min, v_max, converged = membrane_bound(layer, steps)
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
        except TypeError as e:
            raise ArtifactError(f"meta: not JSON-serialisable ({e})") from None

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
                         f"w{l.w_bits} reset={l.reset} V in [{l.v_min}, {l.v_max}] ({l.v_width} b) "
                         f"mem: dense {m.dense_bits} b, CSR {m.csr_bits} b, index floor {m.entropy_bits:.0f} b")
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def load(path=None) -> Artifact:
    """Read and validate an artifact (None = the bundled default model)."""
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise ArtifactError(f"{path}: not an artifact (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ArtifactError(f"{path}: not an artifact (not a readable .npz: {e})") from None

    def get(key, kind):
        if key not in data:
            raise ArtifactError(f"{key}: missing from {path.name}")
        a = data[key]
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
            return a.astype(np.int64)
        if a.dtype.kind != "f" or a.ndim != 1:
            raise ArtifactError(f"{key}: expected a 1-D float array, got {a.dtype} {a.shape}")
        return a.astype(np.float64)

    if "format" not in data or data["format"].dtype.kind != "U" or str(data["format"]) != FORMAT:
        raise ArtifactError(f"format: {path.name} is not a {FORMAT} file")
    version = get("version", "int")
    if version != VERSION:
        raise ArtifactError(f"version: {version} is not supported (this tool reads version {VERSION})")
    try:
        meta = json.loads(get("meta", "str"))
    except json.JSONDecodeError as e:
        raise ArtifactError(f"meta: invalid JSON ({e})") from None
    n_layers = get("n_layers", "int")
    if n_layers < 1:
        raise ArtifactError(f"n_layers: must be >= 1, got {n_layers}")
    layers, stored_bounds = [], []
    for k in range(n_layers):
        shape = get(f"l{k}.shape", "int[]")
        if shape.shape != (2,):
            raise ArtifactError(f"l{k}.shape: expected [n_in, n_out]")
        arrays = {name: get(f"l{k}.{name}", "int[]") for name in _LAYER_ARRAYS}
        layer = Layer(n_in=int(shape[0]), n_out=int(shape[1]), scale=get(f"l{k}.scale", "float[]"),
                      w_bits=get(f"l{k}.w_bits", "int"), leak_f=get(f"l{k}.leak_f", "int"),
                      reset=get(f"l{k}.reset", "str"), **arrays)
        layer.check(f"l{k}")
        layers.append(layer)
        stored_bounds.append(tuple(get(f"l{k}.v_bound", "int[]")))
    art = Artifact.create(layers, input_max_count=get("input_max_count", "int"), steps=get("steps", "int"), meta=meta)
    for k, (layer, stored) in enumerate(zip(art.layers, stored_bounds)):
        if stored != (layer.v_min, layer.v_max):
            raise ArtifactError(f"l{k}.v_bound: stored {list(stored)} but the parameters give "
                                f"[{layer.v_min}, {layer.v_max}]")
    return art
