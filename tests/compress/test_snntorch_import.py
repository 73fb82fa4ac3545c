"""snnTorch models -> artifacts: supported layers, clear refusals, and the bundled model's accuracy."""
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

from compress.osbc import row_scales, rtn
from compress.snntorch_import import (CHECKPOINT_DEFAULT, UnsupportedModel, build_model, float_layers,
                                      load_checkpoint, rtn_artifact)
from compress.train import float_accuracy
import data as datasets
from sim import reference
from sim.evaluate import evaluate
from sim.artifact import load


def test_per_neuron_beta_threshold_and_zero_reset():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3, bias=False),
                          snn.Leaky(beta=torch.tensor([0.5, 0.75, 1.0]), threshold=torch.tensor([1.0, 2.0, 0.5]),
                                    reset_mechanism="zero"))
    (fl,) = float_layers(model)
    assert fl.beta.tolist() == [0.5, 0.75, 1.0] and fl.threshold.tolist() == [1.0, 2.0, 0.5]
    assert fl.bias is None and fl.reset == "zero"
    art = rtn_artifact(model, 4, steps=5)
    layer = art.layers[0]
    assert layer.leak_b.tolist() == [128, 192, 256]
    # Weights rounded on each row's grid scale (compress.osbc.row_scales), and theta in the same units.
    w = model[1].weight.detach().double().numpy()
    assert np.allclose(layer.scale, row_scales(w, 4)[0])
    assert np.array_equal(layer.dense(), rtn(w, layer.scale, 7)) and np.abs(layer.dense()).max() >= 7
    # θ in weight units: the nearest integer multiple of each row's scale to the float threshold.
    error = np.abs(layer.theta * layer.scale - np.asarray([1.0, 2.0, 0.5]))
    assert np.all(error <= layer.scale / 2 + 1e-12) and layer.theta.dtype.kind == "i"


@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Conv2d(1, 2, 3), snn.Leaky(beta=0.5)), r"model\[0\]: Conv2d is not supported"),
    (nn.Sequential(nn.Linear(3, 2), snn.Synaptic(alpha=0.5, beta=0.5)), r"model\[1\].*snn.Leaky, found Synaptic"),
    (nn.Sequential(nn.Linear(3, 2), snn.Leaky(beta=0.5, reset_delay=False)), "reset_delay=False"),
    (nn.Sequential(nn.Linear(3, 2), snn.Leaky(beta=0.5, reset_mechanism="none")), "reset_mechanism='none'"),
    (nn.Sequential(nn.Linear(3, 2)), "followed by snn.Leaky, found nothing"),
    (nn.Linear(3, 2), "expected an nn.Sequential"),
])
def test_unsupported_models_are_named(model, match):
    with pytest.raises(UnsupportedModel, match=match):
        float_layers(model)


def test_float_runner_matches_integer_reference_on_integer_model():
    # An integer-valued model with beta = 0.5 (exact) gives identical spikes in float and in sim/,
    # apart from the floor on the leak: use beta = 1 where no rounding happens at all.
    torch.manual_seed(0)
    model = build_model([6, 5, 3], beta=1.0, threshold=3.0, bias=False)
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randint(-7, 8, m.weight.shape).float())
                m.weight[:, 0] = 7  # full-scale rows: the RTN scale is then exactly 1
    art = rtn_artifact(model, 4, steps=12)
    counts = np.random.default_rng(0).integers(0, 2, (12, 16, 6)).astype(np.uint8)
    from compress.snntorch_import import run_float
    ours = reference.run(art, counts).spikes
    theirs = run_float(model, torch.from_numpy(counts).float())
    for a, b in zip(ours, theirs):
        assert np.array_equal(a, b.detach().numpy().astype(np.uint8))


def test_bundled_model_integer_accuracy_close_to_float():
    model, spec = load_checkpoint(CHECKPOINT_DEFAULT)
    enc = spec["encoding"]
    x, y = datasets.load(enc["dataset"], "test")
    counts = datasets.encode(x, enc["code"], enc["steps"], enc["seed"])
    f_acc = float_accuracy(model, counts, y)
    art = load()
    i_acc = evaluate(art, progress=False)
    assert f_acc > 0.9
    assert i_acc > f_acc - 0.03, f"integer {i_acc:.4f} vs float {f_acc:.4f}"


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a checkpoint of this project"):
        load_checkpoint(tmp_path / "foreign.pt")
