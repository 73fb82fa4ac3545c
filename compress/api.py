"""The Python API of `compress/`: your snnTorch network and spike counts in, an integer artifact out.

    import snntorch as snn, torch
    from torch import nn
    from compress.api import compress
    from sim.artifact import save

    net = nn.Sequential(nn.Linear(64, 128), snn.Leaky(beta=0.9, init_hidden=True),
                        nn.Linear(128, 10), snn.Leaky(beta=0.9, init_hidden=True))
    ...train it...
    counts = ...                        # uint8 [T, B, 64]: B calibration samples, T steps
    art, reports = compress(net, counts, method="osbc", sparsity=0.9, bits=4)
    save(art, "net.npz")                # then: python -m sim eval net.npz --data d.npz

`load_model` reads the files `python -m compress --model` takes: a project checkpoint, a plain
state_dict with a JSON spec, or a NIR graph (docs/own-model.md).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from console.progress import step
from sim.artifact import Artifact

from .calibrate import calibrate
from .pipeline import Compressor, LayerReport
from .snntorch_import import float_layers, load_checkpoint, read_spec, sequential_of

NIR_MAGIC = b"\x89HDF\r\n\x1a\n"  # NIR files are HDF5


def load_model(path, spec=None, *, dt: float | None = None) -> tuple[nn.Sequential, dict]:
    """(model, spec) from a file: a `.nir` graph (HDF5), a project checkpoint, or a plain
    state_dict with `spec` (a dict, or the path of a JSON file; docs/own-model.md lists its keys).

    dt: the NIR time step (default snnTorch's 1e-4). For NIR the spec may give "encoding" and
    "reset" ("subtract" when the network was trained with it: NIR cannot say so).
    """
    path = Path(path)
    if isinstance(spec, (str, Path)):
        spec = read_spec(spec)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    with open(path, "rb") as fh:
        is_nir = fh.read(8) == NIR_MAGIC
    if not is_nir:
        if path.suffix.lower() == ".nir":
            raise ValueError(f"{path}: not a NIR file (NIR graphs are HDF5 files; this one lacks the signature)")
        if dt is not None:
            raise ValueError("dt: only a NIR model has a time step")
        return load_checkpoint(path, spec)
    from .nir_import import DT, from_nir

    spec = dict(spec or {})
    extra = sorted(set(spec) - {"encoding", "reset"})
    if extra:
        raise ValueError(f"spec.{extra[0]}: a NIR file carries its own layers and neuron parameters; "
                         "its spec takes only encoding and reset")
    model = from_nir(path, DT if dt is None else dt, spec.get("reset", "zero"))
    return model.eval(), spec


def compress(model, counts, *, method: str = "osbc", sparsity: float = 0.9, bits: int = 4,
             allocation: str = "lamp", damp: float = 0.01, seed: int = 0, steps: int | None = None,
             input_max_count: int | None = None, meta: dict | None = None, progress: bool = True,
             **compressor_options) -> tuple[Artifact, list[LayerReport]]:
    """Compress a trained network in one shot.

    model: an `nn.Sequential` of `nn.Linear` + `snn.Leaky` (optionally a leading `nn.Flatten`),
        a module whose Linear/Leaky attributes are registered in forward order, or a list of them.
    counts: calibration inputs, event counts int [T, B, n_in] (numpy or torch), encoded as the
        network was trained; a few hundred samples are enough.
    method: osbc | obc | magnitude | rtn;  sparsity: fraction of weights removed, in [0, 1);
    bits: weight width 2..8;  allocation: per-layer sparsity rule, lamp | uniform;
    damp: Hessian damping relative to its mean diagonal;  seed: torch's seed for the run.
    steps: the time steps the artifact's membrane bound must cover (default T of `counts`);
    input_max_count: the largest count per input and step (default the largest in `counts`);
    meta: JSON metadata stored in the artifact (e.g. {"encoding": {...}} so that
        `python -m sim eval` knows how to encode a bundled dataset);
    compressor_options: further `Compressor` arguments (e.g. device).

    Returns the artifact (sim.artifact.Artifact; `sim.artifact.save` writes it) and one
    LayerReport per layer (sparsity, nnz, memory, relative membrane loss).
    """
    model = sequential_of(model)
    counts = counts.numpy() if isinstance(counts, torch.Tensor) else np.asarray(counts)
    if counts.ndim != 3 or counts.dtype.kind not in "iub":
        raise ValueError(f"counts: expected integer event counts [T, B, n_in], got {counts.dtype} {counts.shape}")
    if counts.size and counts.min() < 0:
        raise ValueError("counts: event counts must be >= 0")
    layers = float_layers(model)
    torch.manual_seed(seed)
    calib = calibrate(model, counts, current=method == "obc", progress=progress,
                      device=compressor_options.get("device"))  # the Hessians where the compressor works
    comp = Compressor(layers, calib, method, allocation=allocation, damp=damp, progress=progress, **compressor_options)
    if sparsity > 0:
        comp.compute_traces()  # the costly phase, with its own bar, before the read-out's
    with step(f"{method}: masks, refit and {bits}-bit quantisation at sparsity {sparsity:g}", disable=not progress):
        return comp.compress(sparsity, bits, steps=counts.shape[0] if steps is None else steps,
                             input_max_count=max(1, int(counts.max(initial=0))) if input_max_count is None
                             else input_max_count,
                             meta={"seed": seed, "damp": damp, **(meta or {})})
