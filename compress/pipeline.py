"""One interface for every compression method: a `Compressor` is built once per model, method and
calibration set, then read out at any sparsity and bit width (users sweep; the OBS traces are
computed once).

    osbc       OBS pruning + GPTQ quantisation on the membrane-potential Hessian (leaky traces)
    obc        the same on the input-current Hessian (beta = 0): the OBC baseline
    magnitude  smallest |w| pruned, round to nearest
    rtn        round to nearest, no pruning

Every method quantises onto the full signed grid with per-row scales from `osbc.row_scales`,
weighted by the diagonal of the method's Hessian (the membrane one for magnitude and rtn), and each
row keeps whichever of that scale and the clip-free max rule gives the lower loss on that Hessian.

Per-layer sparsity comes from `allocation` (LAMP or uniform) for every pruning method. The membrane
loss of every method is measured with the membrane Hessian, relative to the dense layer's
membrane energy sum_i w_i^T H w_i / 2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from console.progress import progress as progress_bar

from sim.artifact import Artifact, MemoryAccount, check_w_bits

from . import osbc
from .allocate import RULES, check_sparsity, prune_counts
from .calibrate import Calibration, LayerHessian
from .snntorch_import import FloatLayer, integer_layer

METHODS = ("osbc", "obc", "magnitude", "rtn")


check_bits = check_w_bits  # the format owns the supported widths


@dataclass
class LayerReport:
    n_in: int
    n_out: int
    sparsity: float
    nnz: int
    memory: MemoryAccount
    loss_pruned: float  # relative membrane loss after pruning (and compensation), before rounding
    loss_quantised: float  # ... after pruning and quantisation


class Compressor:
    """One model, method and calibration set, read out at any sparsity and bit width.

    Holds the float layers (`layers`, weights [n_out, n_in]), the calibration Hessians, the damped
    Hessians and OBS removal traces of osbc/obc (computed once, on the first pruned read-out: the
    costly part), and the dense membrane energy per layer that losses are relative to. `compress(sparsity,
    bits, steps=T)` returns the integer `Artifact` and one `LayerReport` per layer.
    """

    def __init__(self, layers: list[FloatLayer], calib: Calibration, method: str, *, allocation: str = "lamp",
                 damp: float = 0.01, group_frac: float = 1 / 256, dtype=torch.float32, device=None,
                 threads: int | None = None, progress: bool = True):
        """device: cpu or cuda (default cuda when available); threads: the traces' CPU threads (default torch's)."""
        if method not in METHODS:
            raise ValueError(f"method: unknown {method!r}; choose one of {', '.join(METHODS)}")
        if allocation not in RULES:
            raise ValueError(f"allocation: unknown rule {allocation!r}; choose one of {', '.join(RULES)}")
        if len(calib.membrane) != len(layers):
            raise ValueError(f"calib: has {len(calib.membrane)} layers, the model {len(layers)}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads: must be >= 1, got {threads}")
        self.device = osbc.resolve_device(device)
        self.layers, self.calib, self.method, self.allocation = layers, calib, method, allocation
        self.dense = [fl.weight for fl in layers]
        self.energy = [osbc.membrane_loss(np.zeros_like(w), w, h.hess, h.group) for w, h in zip(self.dense, calib.membrane)]
        self.start, self.hess, self._traces = self.dense, None, None
        if method in ("osbc", "obc"):
            source = calib.membrane if method == "osbc" else calib.current
            if source is None:
                raise ValueError("calib: the obc method needs the current Hessians (calibrate(..., current=True))")
            self.hess = [LayerHessian(*_damped(h, damp)) for h in source]
            # inputs that never fired in calibration are dropped, as GPTQ does
            self.start = [np.where(_dead(h), 0.0, w) for w, h in zip(self.dense, source)]
            self._trace_all = lambda: [
                osbc.obs_trace(w, h.hess, h.group, group_frac=group_frac, dtype=dtype, device=self.device,
                               threads=threads, desc=f"layer {k} rows" if progress else None)
                for k, (w, h) in enumerate(progress_bar(list(zip(self.start, self.hess)), unit="layer",
                                                        desc=f"{method} OBS traces", disable=not progress))]

    def compute_traces(self) -> list[osbc.Trace] | None:
        """The OBS removal traces of osbc/obc (None for the other methods), computed now unless they
        were already: the costly part, which a dense read-out (sparsity 0) does not need."""
        if self._traces is None and self.hess is not None:
            self._traces = self._trace_all()
        return self._traces

    @property
    def traces(self) -> list[osbc.Trace] | None:
        """`compute_traces()`: computed on first use."""
        return self.compute_traces()

    def masks(self, sparsity: float) -> list[np.ndarray]:
        """Keep-masks bool [n_out, n_in] per layer hitting the allocated counts exactly."""
        check_sparsity(sparsity)
        if self.method == "rtn":
            if sparsity > 0:
                raise ValueError("sparsity: the rtn method does not prune; use --sparsity 0 or another method")
            return [np.ones(w.shape, bool) for w in self.dense]
        counts = prune_counts(self.start, sparsity, self.allocation)
        if not any(counts):
            return [np.ones(w.shape, bool) for w in self.start]
        return self.masks_for(counts)

    def masks_for(self, counts) -> list[np.ndarray]:
        """Keep-masks removing counts[k] weights of layer k: in OBS order for osbc/obc (the
        traces), by magnitude otherwise. Per-layer counts of one's own, e.g. a budget search's."""
        if self.hess is not None:
            return [osbc.select_mask(t, n) for t, n in zip(self.traces, counts)]
        return [osbc.magnitude_mask(w, n) for w, n in zip(self.start, counts)]

    def weights(self, keeps: list[np.ndarray]) -> list[np.ndarray]:
        """Float weights for the masks: least-squares compensated for osbc/obc, else just masked."""
        if self.hess is None:
            return [w * k for w, k in zip(self.start, keeps)]
        return [osbc.fit_mask(w, h.hess, h.group, k, device=self.device) for w, h, k in zip(self.start, self.hess, keeps)]

    def quantise(self, weights: list[np.ndarray], keeps: list[np.ndarray], bits: int):
        """(integer weights, per-row scales) per layer; GPTQ for osbc/obc, round to nearest else."""
        check_bits(bits)
        out = []
        for k, (w, keep) in enumerate(zip(weights, keeps)):
            h = self.calib.membrane[k] if self.hess is None else self.hess[k]
            hdiag = np.diagonal(h.hess, axis1=1, axis2=2)[h.group]
            fallback = osbc.max_scales(self.dense[k], bits)  # rows left empty keep a sensible threshold
            searched, qmax = osbc.row_scales(w, bits, fallback, hdiag)
            scales = np.stack([osbc.max_scales(w, bits, fallback), searched])
            # each row is judged against the unpruned weights: pruning and rounding errors add up there
            if self.hess is None:
                cands = np.stack([osbc.rtn(w, s, qmax) * keep for s in scales])
                out.append(osbc.best_per_row(self.start[k], cands, scales, h.hess, h.group))
            else:
                out.append(osbc.quantise(w, h.hess, h.group, keep, scales, qmax, ref=self.start[k], device=self.device))
        return out

    def relative_loss(self, k: int, weight: np.ndarray) -> float:
        h = self.calib.membrane[k]
        return osbc.membrane_loss(self.dense[k], weight, h.hess, h.group) / max(self.energy[k], 1e-300)

    def compress(self, sparsity: float, bits: int, *, steps: int, input_max_count: int = 1,
                 meta: dict | None = None) -> tuple[Artifact, list[LayerReport]]:
        """The artifact at this sparsity and bit width, and a report per layer."""
        check_bits(bits)
        keeps = self.masks(sparsity)
        fitted = self.weights(keeps)
        return self.assemble(sparsity, fitted, self.quantise(fitted, keeps, bits), [bits] * len(self.layers),
                             steps=steps, input_max_count=input_max_count, meta={"bits": bits, **(meta or {})})

    def assemble(self, sparsity: float, fitted: list[np.ndarray], quant, layer_bits: list[int], *, steps: int,
                 input_max_count: int = 1, meta: dict | None = None) -> tuple[Artifact, list[LayerReport]]:
        """The end of `compress`: the artifact and reports of weights already fitted (`weights`)
        and quantised (`quantise`, layer k at layer_bits[k]), for read-outs that pick each
        layer's width themselves (experiments.budget)."""
        layers = [integer_layer(fl, w_int, scale, b)
                  for fl, (w_int, scale), b in zip(self.layers, quant, layer_bits, strict=True)]
        reports = [LayerReport(n_in=l.n_in, n_out=l.n_out, sparsity=1 - l.nnz / (l.n_in * l.n_out), nnz=l.nnz,
                               memory=l.memory(), loss_pruned=self.relative_loss(k, fitted[k]),
                               loss_quantised=self.relative_loss(k, w_int * scale[:, None]))
                   for k, (l, (w_int, scale)) in enumerate(zip(layers, quant))]
        meta = {"method": self.method, "sparsity": float(sparsity),
                "layer_sparsity": [r.sparsity for r in reports], "allocation": self.allocation,
                "calib": self.calib.samples, **(meta or {})}
        return Artifact.create(layers, input_max_count=input_max_count, steps=steps, meta=meta), reports


def _dead(h: LayerHessian) -> np.ndarray:
    """Inputs that never fired during calibration, bool [n_in]."""
    return np.all(np.diagonal(h.hess, axis1=1, axis2=2) == 0, axis=0)


def _damped(h: LayerHessian, rel: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return osbc.damp(h.hess, rel)[0], h.group, h.betas
