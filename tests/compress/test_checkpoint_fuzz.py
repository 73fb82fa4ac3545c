"""Fuzzed model files: byte mutations of real checkpoints and NIR graphs, and state_dicts with
random contents, end in a loaded model or in a ValueError (the CLI's one-line refusal), never in
another exception or a wrapped-around artifact."""
import io
import json

import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from compress.api import load_model
from compress.snntorch_import import build_model, float_layers, rtn_artifact, save_checkpoint
from sim.artifact import PARAM_BITS

FUZZ = settings(max_examples=60, deadline=None)
SLOW = settings(max_examples=3000, deadline=None)


def outcome(path, spec=None):
    """Load, convert and round a model file: the model's artifact, or the refusal's message."""
    try:
        model, _ = load_model(path, spec)
        art = rtn_artifact(float_layers(model), 4, steps=4)
    except (ValueError, FileNotFoundError) as e:
        msg = str(e)
        assert msg and "\n" not in msg.strip(), msg
        return msg
    for layer in art.layers:  # what loaded must be what the artifact can hold, never wrapped
        assert np.all(np.abs(layer.theta) < 1 << (PARAM_BITS - 1)) and np.all(np.abs(layer.bias) < 1 << (PARAM_BITS - 1))
    return art


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """The bytes of a project checkpoint, a plain state_dict and snnTorch's NIR export."""
    tmp_path = tmp_path_factory.mktemp("originals")
    torch.manual_seed(0)
    model = build_model([5, 4, 3])
    save_checkpoint(tmp_path / "c.pt", model, {"encoding": {"dataset": "digits", "steps": 4}})
    torch.save(model.state_dict(), tmp_path / "sd.pt")
    from snntorch.export_nir import export_to_nir  # per-neuron tensors: the exporter needs them
    import snntorch as snn
    net = torch.nn.Sequential(torch.nn.Linear(5, 3), snn.Leaky(beta=torch.full((3,), 0.5), threshold=torch.ones(3),
                                                                init_hidden=True))
    nir.write(tmp_path / "n.nir", export_to_nir(net, torch.zeros(5)))
    return {name: (tmp_path / name).read_bytes() for name in ("c.pt", "sd.pt", "n.nir")}


def mutate(raw: bytes, edits) -> bytes:
    b = bytearray(raw)
    for pos, value, kind in edits:
        i = pos % max(1, len(b))
        if kind == 0 and b:
            b[i] = value
        elif kind == 1:
            b.insert(i, value)
        elif kind == 2 and b:
            del b[i]
        else:
            b = b[:i]
    return bytes(b)


EDITS = st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255), st.integers(0, 3)), min_size=1, max_size=6)


def check_mutation(folder, raw: bytes, name: str, edits) -> None:
    path = folder / f"m{name[-4:]}"
    path.write_bytes(mutate(raw, edits))
    outcome(path, {"encoding": {"steps": 4}} if name == "sd.pt" else None)


@pytest.mark.parametrize("name", ["c.pt", "sd.pt", "n.nir"])
@pytest.mark.parametrize("budget", [pytest.param(FUZZ, id="default"),
                                    pytest.param(SLOW, id="many", marks=pytest.mark.slow)])
def test_mutated_files_load_or_are_refused(tmp_path, originals, name, budget):
    @budget
    @given(edits=EDITS)
    def fuzz(edits):
        check_mutation(tmp_path, originals[name], name, edits)

    fuzz()


VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.just(1e-26), st.just(0.0))
TENSORS = st.builds(lambda shape, fill: torch.full(shape, fill),
                    st.lists(st.integers(0, 4), max_size=3).map(tuple), VALUES)
KEYS = st.sampled_from(["0.weight", "0.bias", "1.beta", "1.threshold", "1.reset_mechanism_val", "2.weight",
                        "3.beta", "x", "1.graded_spikes_factor"])
SPECS = st.dictionaries(st.sampled_from(["beta", "threshold", "reset", "layers", "encoding"]),
                        st.one_of(VALUES, st.lists(VALUES, max_size=3), st.text(max_size=5), st.none()), max_size=3)


def check_state_dict(folder, state, spec) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    (folder / "s.pt").write_bytes(buf.getvalue())
    (folder / "s.json").write_text(json.dumps(spec))
    outcome(folder / "s.pt", folder / "s.json")


@pytest.mark.parametrize("examples", [pytest.param(200, id="default"),
                                      pytest.param(5000, id="many", marks=pytest.mark.slow)])
def test_random_state_dicts_load_or_are_refused(tmp_path, examples):
    @settings(max_examples=examples, deadline=None)
    @given(state=st.dictionaries(KEYS, TENSORS, max_size=6), spec=SPECS)
    def fuzz(state, spec):
        check_state_dict(tmp_path, state, spec)

    fuzz()
