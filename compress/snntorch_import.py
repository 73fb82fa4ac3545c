"""snnTorch models in, integer artifacts out: parsing, a float runner, and round-to-nearest.

Supported: an `nn.Sequential` of `nn.Linear` (bias optional) each followed by `snn.Leaky`
(scalar or per-neuron beta and threshold, reset "subtract" or "zero", `reset_delay=True`),
optionally preceded by `nn.Flatten`. Anything else is refused with the layer and option named.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import snntorch as snn
import torch
from torch import nn

from sim.artifact import Artifact, Layer

from .osbc import row_scales, rtn

LEAK_F = 8  # beta = b / 2^8: 0.5 and 1 - 2^-k (k <= 8) are exact
CHECKPOINT_DEFAULT = Path(__file__).parent / "checkpoints" / "digits.pt"


class UnsupportedModel(ValueError):
    """The model uses a layer or option the integer core cannot compute."""


@dataclass
class FloatLayer:
    weight: np.ndarray  # float64 [n_out, n_in]
    bias: np.ndarray | None  # float64 [n_out]
    beta: np.ndarray  # float64 [n_out]
    threshold: np.ndarray  # float64 [n_out]
    reset: str  # "subtract" | "zero"


def _pairs(model: nn.Module) -> list[tuple[nn.Linear, snn.Leaky]]:
    if not isinstance(model, nn.Sequential):
        raise UnsupportedModel(f"model: expected an nn.Sequential of nn.Linear + snn.Leaky, got {type(model).__name__}")
    mods = list(model)
    while mods and isinstance(mods[0], (nn.Flatten, nn.Identity)):
        mods.pop(0)
    offset = len(model) - len(mods)
    pairs = []
    for k in range(0, len(mods), 2):
        lin, lif = mods[k], mods[k + 1] if k + 1 < len(mods) else None
        if not isinstance(lin, nn.Linear):
            raise UnsupportedModel(f"model[{offset + k}]: {type(lin).__name__} is not supported "
                                   "(only nn.Linear followed by snn.Leaky)")
        if type(lif) is not snn.Leaky:
            name = type(lif).__name__ if lif is not None else "nothing"
            raise UnsupportedModel(f"model[{offset + k + 1}]: nn.Linear must be followed by snn.Leaky, found {name}")
        where = f"model[{offset + k + 1}] (snn.Leaky)"
        if not lif.reset_delay:
            raise UnsupportedModel(f"{where}: reset_delay=False is not supported (the core resets one step late, "
                                   "as snnTorch's default reset_delay=True)")
        if lif.reset_mechanism not in ("subtract", "zero"):
            raise UnsupportedModel(f"{where}: reset_mechanism={lif.reset_mechanism!r} is not supported "
                                   "(subtract or zero)")
        if lif.inhibition:
            raise UnsupportedModel(f"{where}: inhibition=True is not supported")
        if float(lif.graded_spikes_factor) != 1.0:
            raise UnsupportedModel(f"{where}: graded_spikes_factor must be 1")
        pairs.append((lin, lif))
    if not pairs:
        raise UnsupportedModel("model: no nn.Linear + snn.Leaky layer found")
    return pairs


def float_layers(model: nn.Module) -> list[FloatLayer]:
    """The float parameters of every layer, validated."""
    out = []
    for k, (lin, lif) in enumerate(_pairs(model)):
        n_out = lin.out_features
        if k and lin.in_features != out[-1].weight.shape[0]:
            raise UnsupportedModel(f"layer {k}: in_features {lin.in_features} != previous out_features")

        def per_neuron(t, name):
            a = np.broadcast_to(t.detach().double().cpu().numpy().reshape(-1), (n_out,)) \
                if t.numel() in (1, n_out) else None
            if a is None:
                raise UnsupportedModel(f"layer {k}: {name} has {t.numel()} values, expected 1 or {n_out}")
            return a.copy()

        beta = np.clip(per_neuron(lif.beta, "beta"), 0, 1)
        threshold = per_neuron(lif.threshold, "threshold")
        if np.any(threshold <= 0):
            raise UnsupportedModel(f"layer {k}: thresholds must be positive")
        out.append(FloatLayer(weight=lin.weight.detach().double().cpu().numpy(),
                              bias=None if lin.bias is None else lin.bias.detach().double().cpu().numpy(),
                              beta=beta, threshold=threshold, reset=lif.reset_mechanism))
    return out


def run_float(model: nn.Module, counts: torch.Tensor, record_inputs: bool = False):
    """Run the snnTorch model over counts [T, B, n_in]; returns per-layer spikes [T, B, n_out]
    (and, with record_inputs, each layer's input spikes [T, B, n_in])."""
    pairs = _pairs(model)
    for _, lif in pairs:
        lif.reset_mem()
    spikes = [[] for _ in pairs]
    inputs = [[] for _ in pairs] if record_inputs else None
    for x in counts:
        for k, (lin, lif) in enumerate(pairs):
            if inputs is not None:
                inputs[k].append(x)
            out = lif(lin(x.to(lin.weight.dtype)))
            x = out[0] if isinstance(out, tuple) else out
            spikes[k].append(x)
    stack = [torch.stack(s) for s in spikes]
    return (stack, [torch.stack(i) for i in inputs]) if record_inputs else stack


def integer_layer(fl: FloatLayer, w_int: np.ndarray, scale: np.ndarray, bits: int, leak_f: int = LEAK_F) -> Layer:
    """An artifact layer from integer weights on a per-neuron scale: the neuron's float dynamics
    divided by its scale, so thresholds and bias are rounded in the same units as the weights."""
    bias = None if fl.bias is None else np.rint(fl.bias / scale)
    return Layer.from_dense(w_int, w_bits=bits, theta=np.rint(fl.threshold / scale), bias=bias,
                            leak_b=np.rint(fl.beta * (1 << leak_f)), leak_f=leak_f, reset=fl.reset, scale=scale)


def rtn_artifact(model_or_layers, bits: int = 4, *, steps: int, input_max_count: int = 1,
                 meta: dict | None = None) -> Artifact:
    """Round-to-nearest onto per-row symmetric int-`bits` grids, no pruning beyond exact zeros."""
    if not 2 <= bits <= 8:
        raise ValueError(f"bits: must be in 2..8, got {bits}")
    fls = model_or_layers if isinstance(model_or_layers, list) else float_layers(model_or_layers)
    layers = []
    for fl in fls:
        scale, qmax = row_scales(fl.weight, bits)
        w_int = rtn(fl.weight, scale, qmax)
        layers.append(integer_layer(fl, w_int, scale, bits))
    meta = {"method": "rtn", "bits": bits, "sparsity": 0.0, **(meta or {})}
    return Artifact.create(layers, input_max_count=input_max_count, steps=steps, meta=meta)


def build_model(sizes: list[int], beta: float = 0.9, threshold: float = 1.0, reset: str = "subtract",
                bias: bool = True) -> nn.Sequential:
    """The fully connected LIF network the project trains: Linear + Leaky per layer."""
    mods: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        mods += [nn.Linear(n_in, n_out, bias=bias),
                 snn.Leaky(beta=beta, threshold=threshold, reset_mechanism=reset, init_hidden=True)]
    return nn.Sequential(*mods)


def save_checkpoint(path, model: nn.Sequential, spec: dict) -> None:
    """`spec` holds build_model's arguments and the input encoding; weights are stored in float16
    only when asked (`spec["half"]`), to keep committed checkpoints small."""
    state = {k: (v.half() if spec.get("half") else v) for k, v in model.state_dict().items()}
    torch.save({"spec": spec, "state_dict": state}, path)


def load_checkpoint(path) -> tuple[nn.Sequential, dict]:
    """(model, spec) from a project checkpoint; `spec["encoding"]` says how inputs were encoded."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        spec = ckpt["spec"]
        model = build_model(spec["sizes"], spec["beta"], spec["threshold"], spec["reset"], spec.get("bias", True))
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise ValueError(f"{path}: not a checkpoint of this project ({e})") from None
    return model.eval(), spec
