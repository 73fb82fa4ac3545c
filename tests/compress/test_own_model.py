"""Bring your own model and data: a network trained here with snnTorch goes in as a state_dict +
JSON spec and as snnTorch's own NIR export, with a --data file, through compress -> sim eval ->
hw.verify; every malformed model is refused in one line naming the layer or field."""
import json

import nir
import numpy as np
import pytest
import snntorch as snn
import torch
from snntorch.export_nir import export_to_nir
from torch import nn

import data as datasets
from compress.__main__ import main as compress_main
from compress.api import compress, load_model
from compress.nir_import import from_nir
from compress.snntorch_import import UnsupportedModel, float_layers, save_checkpoint, build_model, sequential_of
from compress.train import fit, float_accuracy
from hw.rtlsim import verify
from sim import reference
from sim.__main__ import main as sim_main
from sim.artifact import load, save

STEPS = 10


class TutorialNet(nn.Module):
    """The snnTorch tutorial form: layers as attributes. Per-neuron tensors: snnTorch's exporter
    (with nir 1.0's type check) needs them."""

    def __init__(self, beta=0.875, reset="zero"):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.lif1 = snn.Leaky(beta=torch.full((32,), beta), threshold=torch.ones(32), reset_mechanism=reset,
                              init_hidden=True)
        self.fc2 = nn.Linear(32, 10)
        self.lif2 = snn.Leaky(beta=torch.full((10,), beta), threshold=torch.ones(10), reset_mechanism=reset,
                              init_hidden=True)

    def forward(self, x):
        return self.lif2(self.fc2(self.lif1(self.fc1(x))))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 64-32-10 digits network trained for a few seconds, its data file (rate code drawn here,
    with a train/test split), its state_dict + spec and snnTorch's NIR export of it."""
    tmp = tmp_path_factory.mktemp("own")
    torch.manual_seed(0)
    net = TutorialNet()
    x, y = datasets.load("digits", "train")
    x_te, y_te = datasets.load("digits", "test")
    fit(sequential_of(net), x[:700], y[:700], lambda xb, s: datasets.encode(xb, "rate", STEPS, s), epochs=4, lr=5e-3)
    train, test = datasets.encode(x, "rate", STEPS, 2), datasets.encode(x_te, "rate", STEPS, 1)
    np.savez(tmp / "d.npz", counts=np.concatenate([train, test], axis=1).transpose(1, 0, 2),
             labels=np.concatenate([y, y_te]), test=np.r_[np.zeros(len(y), bool), np.ones(len(y_te), bool)])
    nir.write(tmp / "net.nir", export_to_nir(net, torch.zeros(64)))
    torch.save(net.state_dict(), tmp / "sd.pt")
    (tmp / "spec.json").write_text(json.dumps({"encoding": {"dataset": "digits", "steps": STEPS}}))
    return {"net": net, "dir": tmp, "float": float_accuracy(sequential_of(net), test, y_te)}


def same_layers(a, b, atol=1e-6):
    for fa, fb in zip(float_layers(sequential_of(a)), float_layers(sequential_of(b)), strict=True):
        assert np.allclose(fa.weight, fb.weight, atol=atol) and np.allclose(fa.beta, fb.beta, atol=atol)
        assert np.allclose(fa.threshold, fb.threshold) and fa.reset == fb.reset


def test_nir_from_snntorch_to_bit_exact_rtl(trained, tmp_path, capsys):
    d = trained["dir"]
    same_layers(trained["net"], load_model(d / "net.nir")[0])
    art_path = tmp_path / "a.npz"
    # 8-bit round to nearest: what the integer conversion itself costs against the float model.
    assert compress_main(["--model", str(d / "net.nir"), "--data", str(d / "d.npz"), "--method", "rtn",
                          "--sparsity", "0", "--bits", "8", "--out", str(art_path)]) == 0
    assert sim_main(["eval", str(art_path)]) == 0  # the data file is remembered in the artifact
    acc = float(capsys.readouterr().out.split("integer accuracy ")[1].split()[0])
    assert trained["float"] > 0.8 and abs(acc - trained["float"]) <= 0.005, (acc, trained["float"])


@pytest.mark.simulator("icarus")
def test_own_data_verifies_bit_exact_on_the_rtl(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("HW_SIM_BUILD", str(tmp_path / "simbuild"))
    d = trained["dir"]
    art_path = tmp_path / "a.npz"
    assert compress_main(["--model", str(d / "net.nir"), "--data", str(d / "d.npz"), "--sparsity", "0.5",
                          "--bits", "4", "--no-eval", "--out", str(art_path)]) == 0
    assert verify.main([str(art_path), "--data", str(d / "d.npz"), "--simulator", "icarus", "--samples", "2"]) == 0


def test_state_dict_with_spec_matches_the_trained_network(trained, tmp_path):
    d = trained["dir"]
    model, spec = load_model(d / "sd.pt", d / "spec.json")
    same_layers(trained["net"], model, atol=0)
    assert compress_main(["--model", str(d / "sd.pt"), "--spec", str(d / "spec.json"), "--sparsity", "0.5",
                          "--test-limit", "50", "--out", str(tmp_path / "b.npz")]) == 0
    assert load(tmp_path / "b.npz").encoding.dataset == "digits"


def test_api_takes_the_module_and_counts(trained):
    counts = datasets.encode(datasets.load("digits", "train")[0][:64], "rate", STEPS, 0)
    art, reports = compress(trained["net"], torch.from_numpy(counts), sparsity=0.5, bits=4, progress=False)
    assert art.steps == STEPS and art.input_max_count == 1 and len(reports) == 2
    assert 0.45 < 1 - sum(r.nnz for r in reports) / sum(r.n_in * r.n_out for r in reports) <= 0.5
    spikes = reference.run(art, counts).spikes[-1]
    assert spikes.shape == (STEPS, 64, 10) and spikes.any()


def test_per_neuron_beta_checkpoint_loads(tmp_path):
    # Learned per-neuron beta used to fail with a size mismatch against the spec's scalar beta.
    model = build_model([6, 4, 3], beta=0.9)
    model[1].beta = nn.Parameter(torch.tensor([0.5, 0.6, 0.7, 0.8]))
    save_checkpoint(tmp_path / "c.pt", model, {"sizes": [6, 4, 3], "beta": 0.9, "threshold": 1.0,
                                               "reset": "subtract", "encoding": {"dataset": "digits", "steps": 5}})
    loaded, _ = load_model(tmp_path / "c.pt")
    assert float_layers(loaded)[0].beta.tolist() == pytest.approx([0.5, 0.6, 0.7, 0.8])


def test_spec_gives_what_the_state_dict_lacks(tmp_path):
    # A network trained with functional LIF code: only Linear weights in the state_dict.
    state = {"a.weight": torch.ones(3, 4), "b.weight": torch.ones(2, 3), "b.bias": torch.zeros(2)}
    spec = {"beta": [[0.5, 0.6, 0.7], 0.25], "threshold": 2.0, "reset": "zero", "encoding": {"steps": 4}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    torch.save(state, tmp_path / "sd.pt")
    layers = float_layers(load_model(tmp_path / "sd.pt", tmp_path / "spec.json")[0])
    assert layers[0].beta.tolist() == pytest.approx([0.5, 0.6, 0.7]) and layers[1].beta.tolist() == [0.25, 0.25]
    assert [fl.reset for fl in layers] == ["zero", "zero"] and layers[1].threshold.tolist() == [2.0, 2.0]


def write_nir(path, *nodes):
    chain = {"input": nir.Input(input_type=np.array([3])), **{f"n{i}": n for i, n in enumerate(nodes)},
             "output": nir.Output(output_type=np.array([2]))}
    keys = list(chain)
    nir.write(path, nir.NIRGraph(nodes=chain, edges=list(zip(keys[:-1], keys[1:])), type_check=False))
    return path


def lif(**kw):
    base = {"tau": np.full(2, 8e-4), "r": np.full(2, 8.0), "v_leak": np.zeros(2), "v_threshold": np.ones(2)}
    return nir.LIF(**{**base, **kw})


AFFINE = nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2))


def test_nir_cuba_without_synaptic_current_is_a_lif(tmp_path):
    cuba = nir.CubaLIF(tau_syn=np.full(2, 1e-4), tau_mem=np.full(2, 8e-4), r=np.full(2, 8.0), v_leak=np.zeros(2),
                       v_threshold=np.ones(2), w_in=np.full(2, 2.0))
    (fl,) = float_layers(from_nir(write_nir(tmp_path / "c.nir", AFFINE, cuba)))
    assert fl.beta.tolist() == pytest.approx([0.875, 0.875]) and np.allclose(fl.weight, 2.0) and fl.reset == "zero"


@pytest.mark.parametrize("nodes, message", [
    ((AFFINE, nir.Threshold(threshold=np.ones(2))), "'n1': Threshold is not supported"),
    ((AFFINE, nir.CubaLIF(tau_syn=np.full(2, 5e-4), tau_mem=np.full(2, 8e-4), r=np.full(2, 8.0), v_leak=np.zeros(2),
                          v_threshold=np.ones(2))), "'n1': CubaLIF with a synaptic current"),
    ((AFFINE, lif(v_leak=np.full(2, 0.1))), "'n1': v_leak must be 0"),
    ((AFFINE, lif(v_reset=np.full(2, -1.0))), "'n1': v_reset must be 0"),
    ((AFFINE,), "'n0': Affine must be followed by a LIF"),
    ((AFFINE, lif(), lif()), "'n2': LIF is not supported here"),
])
def test_nir_refusals_name_the_node(tmp_path, capsys, nodes, message):
    path = write_nir(tmp_path / "bad.nir", *nodes)
    assert compress_main(["--model", str(path), "--dataset", "digits", "--steps", "5", "--out",
                          str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("error: ") and "\n" not in err


def checkpoint_bytes(kind: str, tmp_path) -> bytes:
    good = tmp_path / "good.pt"
    save_checkpoint(good, build_model([4, 3, 2]), {"encoding": {"dataset": "digits", "steps": 5}})
    raw = good.read_bytes()
    return {"empty": b"", "random": np.random.default_rng(0).bytes(4096), "truncated": raw[:len(raw) // 2],
            "pickled module": b"", "text": b"hello\n"}[kind]


@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "pickled module", "text"])
def test_unreadable_checkpoints_are_one_line_errors(tmp_path, capsys, kind):
    path = tmp_path / "m.pt"
    path.write_bytes(checkpoint_bytes(kind, tmp_path))
    if kind == "pickled module":
        torch.save(nn.Sequential(nn.Linear(4, 3)), path)  # torch.save(net): code, not just tensors
    assert compress_main(["--model", str(path), "--dataset", "digits", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: ") and "\n" not in err
    if kind == "pickled module":
        assert "state_dict()" in err


def bad_model(case: str) -> nn.Sequential:
    model = build_model([4, 3, 2])
    with torch.no_grad():
        if case == "nan":
            model[2].weight[1, 0] = float("nan")
        elif case == "inf bias":
            model[0].bias[0] = float("inf")
        elif case == "tiny":
            model[0].weight[1] = torch.tensor([1e-26, -3e-27, 0, 5e-27])
    return model


@pytest.mark.parametrize("case, message", [
    ("nan", "layer 1: weight: 1 of 6 values are NaN or infinite"),
    ("inf bias", "layer 0: bias: 1 of 3 values are NaN or infinite"),
    ("tiny", "layer 0: neuron 1: incoming weights are negligible next to its threshold"),
])
def test_unusable_weights_are_refused_naming_the_layer(tmp_path, capsys, case, message):
    with pytest.raises(UnsupportedModel, match=message):
        float_layers(bad_model(case))
    save_checkpoint(tmp_path / "m.pt", bad_model(case), {"encoding": {"dataset": "digits", "steps": 5}})
    assert compress_main(["--model", str(tmp_path / "m.pt"), "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("state, spec, message", [
    ({"w.weight": torch.ones(3, 4)}, None, "plain state_dict; pass a JSON spec"),
    ({"w.weight": torch.ones(3, 4)}, {"encoding": {"steps": 4}}, "spec.beta: layer 0 has no"),
    ({"w.weight": torch.ones(3, 4), "l.beta": torch.tensor(0.5), "l.threshold": torch.tensor(1.0)},
     {"beta": 0.7}, "spec.beta: layer 0: 0.699999988079071 disagrees with the state_dict's l.beta"),
    ({"w.weight": torch.ones(3, 4), "conv.kernel": torch.ones(2)}, {"beta": 0.5, "threshold": 1.0},
     "state_dict: conv.kernel belongs to no Linear + Leaky layer"),
    ({"w.weight": torch.ones(3, 4)}, {"beta": [0.5, 0.5, 0.5, 0.5], "threshold": 1.0}, "spec.beta: has 4 entries"),
    ({"w.weight": torch.ones(3, 4)}, {"bogus": 1}, "spec.bogus: unknown key"),
])
def test_state_dict_refusals_name_the_field(tmp_path, capsys, state, spec, message):
    torch.save(state, tmp_path / "sd.pt")
    args = ["--model", str(tmp_path / "sd.pt"), "--dataset", "digits", "--steps", "4", "--out", str(tmp_path / "x.npz")]
    if spec is not None:
        (tmp_path / "s.json").write_text(json.dumps(spec))
        args += ["--spec", str(tmp_path / "s.json")]
    assert compress_main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_api_artifact_evaluates_with_its_own_steps(tmp_path, capsys):
    # An artifact made through the API names no encoding: sim eval takes the steps from it.
    model = build_model([64, 16, 10], beta=0.5)
    counts = datasets.encode(datasets.load("digits", "train")[0][:32], "rate", 7, 0)
    art, _ = compress(model, counts, method="magnitude", sparsity=0.5, progress=False)
    save(art, tmp_path / "a.npz")
    assert sim_main(["eval", str(tmp_path / "a.npz"), "--dataset", "digits", "--limit", "20"]) == 0
    assert capsys.readouterr().out.startswith("digits: integer accuracy")


def test_exported_nir_reads_back_as_the_same_neurons(rng, tmp_path):
    from sim.nir_export import to_nir
    from sim.testing import random_artifact

    art = random_artifact(rng, [6, 5, 3], reset="zero", betas=(0.5, 0.875))
    nir.write(tmp_path / "a.nir", to_nir(art)[0])
    for fl, layer in zip(float_layers(from_nir(tmp_path / "a.nir")), art.layers, strict=True):
        assert np.allclose(fl.weight * (layer.theta + 0.5)[:, None], layer.dense(), atol=1e-5)
        assert np.allclose(fl.beta, layer.leak_b / 256) and np.all(fl.threshold == 1) and fl.reset == "zero"


def test_thresholds_beyond_the_membrane_are_refused_not_wrapped():
    # The last guard before the artifact: a scale so small that theta / scale leaves int32.
    from compress.snntorch_import import FloatLayer, integer_layer

    fl = FloatLayer(weight=np.ones((2, 3)), bias=None, beta=np.full(2, 0.5), threshold=np.ones(2), reset="zero")
    assert integer_layer(fl, np.ones((2, 3)), np.array([0.5, 0.25]), 4).theta.tolist() == [2, 4]
    with pytest.raises(UnsupportedModel, match="neuron 1: threshold / weight scale = 1e"):
        integer_layer(fl, np.ones((2, 3)), np.array([0.5, 1e-26]), 4)
