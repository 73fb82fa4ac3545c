"""The notebook path without a subprocess or sys.exit: compress.api -> artifact file -> sim.evaluate ->
hw.rtlsim.verify.check on Icarus, each step returning an object (no build: that is the slow notebook test)."""
import numpy as np
import pytest
import snntorch as snn
import torch
from torch import nn

import data as datasets
from compress.api import compress
from hw.rtlsim.verify import VerifyReport, check
from sim import reference
from sim.artifact import load, save
from sim.evaluate import accuracy

STEPS = 6


@pytest.mark.simulator("icarus")
def test_compress_evaluate_and_verify_one_sample_from_python(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.exit", lambda *a: pytest.fail("the API called sys.exit"))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 12), snn.Leaky(beta=0.9, init_hidden=True),
                        nn.Linear(12, 10), snn.Leaky(beta=0.9, init_hidden=True))
    x, y = datasets.load("digits", "test")
    counts = datasets.encode(x[:64], "rate", STEPS, 0)

    art, reports = compress(net, counts, method="osbc", sparsity=0.5, bits=4, progress=False)
    assert [r.n_out for r in reports] == [12, 10] and 0.45 < 1 - sum(r.nnz for r in reports) / (64 * 12 + 12 * 10) < 0.55
    save(art, tmp_path / "tiny.npz")
    art = load(tmp_path / "tiny.npz")

    acc = accuracy(art, counts, y[:64])
    assert acc == np.mean(reference.run(art, counts).classes == y[:64])

    result = check(art, counts[:, :1], y[:1], "icarus")
    assert isinstance(result, VerifyReport) and result.identical, result
    assert result.spikes_equal == result.spikes == STEPS * (12 + 10) and result.hw_accuracy == result.reference_accuracy
    assert "spike agreement" in repr(result) and "<table>" in result._repr_html_()
