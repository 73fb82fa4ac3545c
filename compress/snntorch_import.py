"""snnTorch models in, integer artifacts out: parsing, a float runner, and round-to-nearest.

Supported: an `nn.Sequential` of `nn.Linear` (bias optional) each followed by `snn.Leaky`
(scalar or per-neuron beta and threshold, reset "subtract" or "zero", `reset_delay=True`),
optionally preceded by `nn.Flatten`. Anything else is refused with the layer and option named.
Checkpoints in: the project's `{"spec", "state_dict"}` and a plain `state_dict` with a JSON spec
(docs/own-model.md); both are read with `weights_only=True`, never by unpickling code.
"""
from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import snntorch as snn
import torch
from torch import nn

from sim.artifact import PARAM_BITS, Artifact, Layer, check_w_bits

from .osbc import row_scales, rtn

LEAK_F = 8  # beta = b / 2^8: 0.5 and 1 - 2^-k (k <= 8) are exact
MEMBRANE_LIMIT = 1 << (PARAM_BITS - 1)  # |threshold|, |bias| in weight units: what the artifact can hold
RESET_OF_VAL = {0: "subtract", 1: "zero", 2: "none"}  # snn.Leaky's reset_mechanism_val buffer
SPEC_KEYS = ("encoding", "layers", "beta", "threshold", "reset")
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


def sequential_of(model) -> nn.Sequential:
    """An `nn.Sequential` of the model's layers in order: a Sequential as is, a list of modules, or
    a module whose child modules (Linear, Leaky, optionally a leading Flatten) are registered in
    the order `forward` applies them (the snnTorch tutorial form `fc1, lif1, fc2, lif2`)."""
    if isinstance(model, nn.Sequential):
        return model
    if isinstance(model, (list, tuple)):
        return nn.Sequential(*model)
    if isinstance(model, nn.Module) and not isinstance(model, (nn.Linear, snn.Leaky)):
        children = list(model.children())
        if children and all(isinstance(c, (nn.Linear, snn.Leaky, nn.Flatten)) for c in children):
            return nn.Sequential(*children)
    raise UnsupportedModel(f"model: expected an nn.Sequential of nn.Linear + snn.Leaky (or a module whose layers "
                           f"are Linear/Leaky attributes, or a list of them), got {type(model).__name__}")


def _finite(t: torch.Tensor, what: str) -> np.ndarray:
    a = t.detach().double().cpu().numpy()
    bad = np.count_nonzero(~np.isfinite(a))
    if bad:
        raise UnsupportedModel(f"{what}: {bad} of {a.size} values are NaN or infinite")
    return a


def _check_units(k: int, weight: np.ndarray, x: np.ndarray, name: str) -> None:
    """x / (max|w| / 127) must fit the membrane even on the finest (8-bit) grid: a neuron with
    tiny incoming weights (max |w| ~ 1e-26) would need a threshold of ~1e28 weight units."""
    amax = np.abs(weight).max(axis=1)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        units = np.where(amax > 0, np.abs(x) * 127 / amax, 0)
    bad = np.flatnonzero(~(units < MEMBRANE_LIMIT))
    if bad.size:
        i = int(bad[0])
        raise UnsupportedModel(f"layer {k}: neuron {i}: incoming weights are negligible next to its {name} "
                               f"(max |w| = {amax[i]:.3g}, {name} = {x[i]:.3g}): no integer grid of <= {PARAM_BITS} bits holds "
                               f"both; {bad.size} neuron(s) like this, remove or retrain them")


def float_layers(model: nn.Module) -> list[FloatLayer]:
    """The float parameters of every layer, validated (finite, positive thresholds)."""
    out = []
    for k, (lin, lif) in enumerate(_pairs(model)):
        n_out = lin.out_features
        if k and lin.in_features != out[-1].weight.shape[0]:
            raise UnsupportedModel(f"layer {k}: in_features {lin.in_features} != previous out_features")

        def per_neuron(t, name):
            if t.numel() not in (1, n_out):
                raise UnsupportedModel(f"layer {k}: {name} has {t.numel()} values, expected 1 or {n_out}")
            return np.broadcast_to(_finite(t, f"layer {k}: {name}").reshape(-1), (n_out,)).copy()

        beta = np.clip(per_neuron(lif.beta, "beta"), 0, 1)
        threshold = per_neuron(lif.threshold, "threshold")
        if np.any(threshold <= 0):
            raise UnsupportedModel(f"layer {k}: thresholds must be positive")
        weight = _finite(lin.weight, f"layer {k}: weight")
        bias = None if lin.bias is None else _finite(lin.bias, f"layer {k}: bias")
        _check_units(k, weight, threshold, "threshold")
        if bias is not None:
            _check_units(k, weight, bias, "bias")
        out.append(FloatLayer(weight=weight, bias=bias,
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
    divided by its scale, so thresholds and bias are rounded in the same units as the weights.
    Values that would not fit the 32-bit membrane are refused, never wrapped around."""
    def in_units(x, name):
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            q = np.rint(np.broadcast_to(np.asarray(x, np.float64), scale.shape) / scale)
        bad = np.flatnonzero(~(np.abs(q) < MEMBRANE_LIMIT))
        if bad.size:
            raise UnsupportedModel(f"neuron {int(bad[0])}: {name} / weight scale = {q[bad[0]]:.3g} does not fit the "
                                   f"{PARAM_BITS}-bit membrane ({bad.size} neuron(s)): its kept weights are negligible "
                                   f"next to its {name}")
        return q

    bias = None if fl.bias is None else in_units(fl.bias, "bias")
    return Layer.from_dense(w_int, w_bits=bits, theta=in_units(fl.threshold, "threshold"), bias=bias,
                            leak_b=np.rint(fl.beta * (1 << leak_f)), leak_f=leak_f, reset=fl.reset, scale=scale)


def rtn_artifact(model_or_layers, bits: int = 4, *, steps: int, input_max_count: int = 1,
                 meta: dict | None = None) -> Artifact:
    """Round-to-nearest onto per-row symmetric int-`bits` grids, no pruning beyond exact zeros."""
    check_w_bits(bits)
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


def read_torch(path) -> object:
    """A file written by `torch.save`, read with `weights_only=True` (tensors and plain containers
    only); anything else is a ValueError saying what the file is and what to save instead."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" in str(e).lower() or "weights only" in str(e).lower():
            raise ValueError(f"{path}: holds pickled Python objects (a whole module saved with torch.save(net)?), "
                             "which are not loaded for safety; save net.state_dict() and a JSON spec instead "
                             "(docs/own-model.md)") from None
        raise ValueError(f"{path}: not a torch checkpoint (unpickling failed: {str(e).splitlines()[0]})") from None
    except Exception as e:  # torch.load on garbage raises whatever its unpickler or zip reader meets (fuzzed)
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: not a readable torch checkpoint ({why or 'empty file'})") from None


def _spec_value(spec: dict, name: str, k: int, n_layers: int):
    """spec[name] for layer k: one value for every layer, or a list with one entry (scalar or
    per-neuron list) per layer."""
    v = spec[name]
    if isinstance(v, list):
        if len(v) != n_layers:
            raise UnsupportedModel(f"spec.{name}: has {len(v)} entries, the model {n_layers} layers")
        v = v[k]
    return v


def _layer_keys(state: dict, spec: dict) -> list[tuple[str, str]]:
    """(Linear prefix, Leaky prefix) per layer: from spec["layers"], else every 2-D `*.weight` in
    state_dict order, each paired with the next prefix that is not a Linear (or "" if none)."""
    if "layers" in spec:
        pairs = spec["layers"]
        if not (isinstance(pairs, list) and pairs and all(isinstance(p, list) and len(p) == 2 and
                                                          all(isinstance(x, str) for x in p) for p in pairs)):
            raise UnsupportedModel('spec.layers: expected a list of ["linear prefix", "leaky prefix"] pairs')
        return [tuple(p) for p in pairs]
    prefixes = list(dict.fromkeys(k.rpartition(".")[0] for k in state))
    linear = [p for p in prefixes if getattr(state.get(f"{p}.weight" if p else "weight"), "ndim", 0) == 2]
    if not linear:
        raise UnsupportedModel("state_dict: no 2-D `<layer>.weight` (nn.Linear) found")
    leaky = [p for p in prefixes if p not in linear]
    return [(lin, next((q for q in leaky if prefixes.index(q) > prefixes.index(lin)), "")) for lin in linear]


def from_state_dict(state: dict, spec: dict) -> nn.Sequential:
    """An `nn.Sequential` of Linear + Leaky from a plain state_dict and a spec (docs/own-model.md).

    Leaky parameters come from the state_dict's `<leaky>.beta`, `.threshold` and
    `.reset_mechanism_val` buffers where present, else from spec["beta" | "threshold" | "reset"];
    a value given in both places must agree."""
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise UnsupportedModel("state_dict: expected a dict of tensors (net.state_dict())")
    keys = _layer_keys(state, spec)
    used, mods = set(), []
    for k, (lin_p, lif_p) in enumerate(keys):
        def key(p, name):
            return f"{p}.{name}" if p else name

        w = state.get(key(lin_p, "weight"))
        if w is None or w.ndim != 2:
            raise UnsupportedModel(f"state_dict: no 2-D {key(lin_p, 'weight')} for layer {k}")
        b = state.get(key(lin_p, "bias"))
        if b is not None and tuple(b.shape) != (w.shape[0],):
            raise UnsupportedModel(f"state_dict: {key(lin_p, 'bias')} has shape {list(b.shape)}, expected "
                                   f"[{w.shape[0]}]")
        if not (w.is_floating_point() and (b is None or b.is_floating_point())):
            raise UnsupportedModel(f"state_dict: {key(lin_p, 'weight')}: expected floating-point weights")
        lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
        if k and mods[-2].out_features != w.shape[1]:
            raise UnsupportedModel(f"state_dict: {key(lin_p, 'weight')} takes {w.shape[1]} inputs, the previous "
                                   f"layer has {mods[-2].out_features} outputs")
        params = {}
        for name, buffer in (("beta", "beta"), ("threshold", "threshold"), ("reset", "reset_mechanism_val")):
            stored = state.get(key(lif_p, buffer)) if lif_p else None
            given = _spec_value(spec, name, k, len(keys)) if name in spec else None
            if stored is not None and stored.numel() not in ((1,) if name == "reset" else (1, w.shape[0])):
                raise UnsupportedModel(f"state_dict: {key(lif_p, buffer)} has {stored.numel()} values, expected "
                                       f"{'1' if name == 'reset' else f'1 or {w.shape[0]}'}")
            if stored is not None and name == "reset":
                stored = RESET_OF_VAL.get(int(stored), str(int(stored)))
            elif stored is not None:
                stored = stored.float().reshape(-1)
            if given is not None and name != "reset":
                try:
                    given = torch.as_tensor(given, dtype=torch.float32)
                except (TypeError, ValueError, RuntimeError):
                    raise UnsupportedModel(f"spec.{name}: layer {k}: expected a number or a list of numbers") from None
                if given.ndim > 1 or given.numel() not in (1, w.shape[0]):
                    raise UnsupportedModel(f"spec.{name}: layer {k}: expected 1 or {w.shape[0]} values, "
                                           f"got shape {list(given.shape)}")
            if stored is not None and given is not None and not (
                    stored == given if name == "reset" else torch.allclose(stored.expand(w.shape[0]),
                                                                           given.expand(w.shape[0]))):
                raise UnsupportedModel(f"spec.{name}: layer {k}: {given if name == 'reset' else given.tolist()} "
                                       f"disagrees with the state_dict's {key(lif_p, buffer)}")
            value = stored if stored is not None else given
            if value is None:
                if name == "reset":
                    value = "subtract"  # snn.Leaky's default
                else:
                    raise UnsupportedModel(f"spec.{name}: layer {k} has no {key(lif_p or '<leaky>', buffer)} in the "
                                           f"state_dict; give {name} in the spec")
            params[name] = value
        if params["reset"] not in ("subtract", "zero"):
            raise UnsupportedModel(f"spec.reset: layer {k}: {params['reset']!r} is not supported (subtract or zero)")
        lif = snn.Leaky(beta=params["beta"], threshold=params["threshold"], reset_mechanism=params["reset"],
                        init_hidden=True)
        with torch.no_grad():
            lin.weight.copy_(w.float())
            if b is not None:
                lin.bias.copy_(b.float())
        used |= {key(lin_p, "weight"), key(lin_p, "bias")}
        used |= {key(lif_p, n) for n in ("beta", "threshold", "reset_mechanism_val", "graded_spikes_factor")} \
            if lif_p else set()
        gsf = state.get(key(lif_p, "graded_spikes_factor")) if lif_p else None
        if gsf is not None and (gsf.numel() != 1 or float(gsf) != 1.0):
            raise UnsupportedModel(f"state_dict: {key(lif_p, 'graded_spikes_factor')} must be 1")
        mods += [lin, lif]
    left = sorted(set(state) - used)
    if left:
        raise UnsupportedModel(f"state_dict: {left[0]} belongs to no Linear + Leaky layer ({len(left)} such keys); "
                               "only Linear + Leaky networks are supported (spec.layers names the pairs)")
    return nn.Sequential(*mods)


def read_spec(path) -> dict:
    """A JSON spec file (docs/own-model.md) as a dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such spec file")
    try:
        spec = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a JSON spec ({e})") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a spec is a JSON object, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(f"{path}: spec.{unknown[0]}: unknown key; a spec takes {', '.join(SPEC_KEYS)}")
    return spec


def load_checkpoint(path, spec: dict | None = None) -> tuple[nn.Sequential, dict]:
    """(model, spec) from a project checkpoint `{"spec", "state_dict"}`, or from a plain
    state_dict together with `spec` (read_spec); `spec["encoding"]` says how inputs were encoded."""
    obj = read_torch(path)
    if isinstance(obj, dict) and set(obj) == {"spec", "state_dict"}:
        if spec is not None:
            raise ValueError(f"{path}: a project checkpoint carries its own spec; drop --spec")
        spec, state = obj["spec"], obj["state_dict"]
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: spec: expected a dict")
        # Its beta, threshold and reset are build_model's arguments; the state_dict holds what was learned.
        layout = {k: v for k, v in spec.items() if k not in ("beta", "threshold", "reset")}
    elif isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        if spec is None:
            raise ValueError(f"{path}: not a checkpoint of this project but a plain state_dict; pass a JSON spec "
                             "(--spec) with at least its encoding (docs/own-model.md)")
        state, layout = obj, spec
    else:
        keys = f" with keys {', '.join(map(str, list(obj)[:4]))}" if isinstance(obj, dict) else ""
        raise ValueError(f"{path}: not a checkpoint of this project nor a state_dict "
                         f"(found {type(obj).__name__}{keys})")
    try:
        model = from_state_dict(state, layout)
    except UnsupportedModel as e:
        raise UnsupportedModel(f"{path}: {e}") from None
    except (RuntimeError, TypeError, ValueError, IndexError) as e:  # torch's own complaints about odd tensors
        raise UnsupportedModel(f"{path}: state_dict: {str(e).splitlines()[0] if str(e) else type(e).__name__}") \
            from None
    return model.eval(), spec
