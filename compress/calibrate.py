"""Calibration: one pass of the dense snnTorch model over a few hundred samples, recording each
layer's input spikes at every step and summing them into that layer's Hessians (compress/osbc.py).

Every layer gets the membrane Hessian (leaky traces with its neurons' beta), which is also what the
membrane loss is measured with; `current=True` adds the beta = 0 Hessian of the OBC baseline.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from console.progress import progress as progress_bar

from .osbc import HessianAccumulator, resolve_device
from .snntorch_import import float_layers, run_float


@dataclass
class LayerHessian:
    hess: np.ndarray  # float64 [G, n_in, n_in], undamped: H = 2 X~ X~^T / m
    group: np.ndarray  # int64 [n_out]: row i uses hess[group[i]]
    betas: np.ndarray  # float64 [G]


@dataclass
class Calibration:
    membrane: list[LayerHessian]
    current: list[LayerHessian] | None
    samples: int
    steps: int


def calibrate(model, counts: np.ndarray, *, current: bool = False, batch: int = 64, device=None,
              progress: bool = True) -> Calibration:
    """counts [T, N, n_in]: the calibration inputs, encoded as the model was trained. The model runs
    on the CPU; the Hessians are summed on `device` (default cuda when available)."""
    counts = np.asarray(counts)
    if counts.ndim != 3 or counts.shape[1] == 0:
        raise ValueError(f"calib: expected a non-empty [T, N, n_in] set of event counts, got shape {counts.shape}")
    layers = float_layers(model)
    if counts.shape[2] != layers[0].weight.shape[1]:
        raise ValueError(f"calib: inputs have {counts.shape[2]} features, the model takes {layers[0].weight.shape[1]}")
    dev = resolve_device(device)
    sizes = [fl.weight.shape[1] for fl in layers]
    mem = [HessianAccumulator(n, fl.beta, dev) for n, fl in zip(sizes, layers)]
    cur = [HessianAccumulator(n, np.zeros_like(fl.beta), dev) for n, fl in zip(sizes, layers)] if current else []
    with torch.no_grad():
        for i in progress_bar(range(0, counts.shape[1], batch), desc=f"calibration, {counts.shape[1]} samples",
                              unit="batch", disable=not progress):
            _, inputs = run_float(model, torch.from_numpy(counts[:, i:i + batch].astype(np.float32)), record_inputs=True)
            for k, x in enumerate(inputs):
                for acc in (mem[k], *cur[k:k + 1]):
                    acc.add(x.double())

    def finish(accs):
        return [LayerHessian(a.hessian(), a.group, a.betas) for a in accs]

    return Calibration(membrane=finish(mem), current=finish(cur) if current else None,
                       samples=counts.shape[1], steps=counts.shape[0])
