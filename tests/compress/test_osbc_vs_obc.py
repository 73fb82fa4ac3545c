"""OSBC's claim over OBC: its Hessian is the one of the membrane (leaky input traces), and on a leaky
network that strictly lowers the membrane loss. Expected Hessians are computed here, directly from
the definition, not with compress/ code."""
import numpy as np
import pytest
import torch

from compress.calibrate import calibrate
from compress.pipeline import Compressor
from compress.snntorch_import import build_model, float_layers

BETA = 0.9


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(11)
    model = build_model([20, 12, 4], beta=BETA, threshold=0.5)
    counts = (np.random.default_rng(11).random((16, 40, 20)) < 0.25).astype(np.uint8)
    return model, counts, calibrate(model, counts, current=True, progress=False)


def outer_sum(x: np.ndarray) -> np.ndarray:
    """Σ over steps and samples of x xᵀ, x [T, B, n]."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return flat.T @ flat


def leaky(x: np.ndarray, beta: float) -> np.ndarray:
    out, acc = np.zeros(x.shape, np.float64), np.zeros(x.shape[1:], np.float64)
    for t in range(len(x)):
        acc = beta * acc + x[t]
        out[t] = acc
    return out


def proportional(a: np.ndarray, b: np.ndarray) -> bool:
    c = float((a * b).sum() / (b * b).sum())
    return c > 0 and np.allclose(a, c * b, rtol=1e-9, atol=1e-9 * np.abs(a).max())


def test_layer0_hessians_are_the_leaky_and_the_plain_input_traces(net):
    model, counts, calib = net
    beta = float(float_layers(model)[0].beta[0])  # BETA as the model stores it (float32)
    membrane, current = calib.membrane[0].hess[0], calib.current[0].hess[0]
    want_membrane, want_current = outer_sum(leaky(counts, beta)), outer_sum(counts)
    assert proportional(membrane, want_membrane)
    assert proportional(current, want_current)
    assert not proportional(membrane, want_current)  # the check can tell the two apart


def test_osbc_strictly_beats_obc_on_membrane_loss(net):
    model, _, calib = net
    layers = float_layers(model)
    osbc, obc = (Compressor(layers, calib, m, progress=False) for m in ("osbc", "obc"))
    for sparsity in (0.5, 0.7, 0.9):
        fitted = {name: c.weights(c.masks(sparsity)) for name, c in (("osbc", osbc), ("obc", obc))}
        loss = {name: sum(osbc.relative_loss(k, w) for k, w in enumerate(ws)) for name, ws in fitted.items()}
        assert loss["osbc"] < 0.98 * loss["obc"], (sparsity, loss)
