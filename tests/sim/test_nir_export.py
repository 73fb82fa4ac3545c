"""`python -m sim export --nir`: the integer network as a NIR graph that snnTorch's own
`import_from_nir` runs with the same spikes as sim/ where NIR can express the core's semantics."""
import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")
import_from_nir = pytest.importorskip("snntorch.import_nir").import_from_nir
from snntorch import utils  # noqa: E402

from sim import reference  # noqa: E402
from sim.__main__ import main as sim_main  # noqa: E402
from sim.artifact import save  # noqa: E402
from sim.nir_export import to_nir  # noqa: E402
from sim.testing import random_artifact  # noqa: E402


def snntorch_spikes(art, counts, tmp_path):
    """Output spikes [T, B, n_out] of the exported graph, read back from disk into snnTorch."""
    graph, _ = to_nir(art)
    nir.write(tmp_path / "net.nir", graph)
    net = import_from_nir(nir.read(tmp_path / "net.nir"))
    utils.reset(net)
    with torch.no_grad():
        return np.stack([net(torch.from_numpy(x).float())[0].numpy() for x in counts]).astype(np.uint8)


def network(rng, beta, reset="zero", theta_scale=1.0):
    return random_artifact(rng, [12, 16, 6], steps=20, reset=reset, betas=(beta,), density=0.6,
                           theta_scale=theta_scale)


def test_zero_reset_and_no_leak_round_trip_exactly(rng, tmp_path):
    art = network(rng, 0.0, theta_scale=0.3)  # no leak: lower thresholds keep the neurons firing
    counts = rng.integers(0, 2, (20, 64, 12)).astype(np.uint8)
    ours = reference.run(art, counts).spikes[-1]
    assert 0.05 < ours.mean() < 0.95  # spikes on both sides of the threshold: the test can fail
    assert np.array_equal(snntorch_spikes(art, counts, tmp_path), ours)


def test_fractional_leak_differs_only_by_the_floor(rng, tmp_path):
    # The core floors beta·V; a float simulator does not: a small, documented disagreement.
    art = network(rng, 0.875, theta_scale=0.25)
    counts = rng.integers(0, 2, (20, 64, 12)).astype(np.uint8)
    ours = reference.run(art, counts).spikes[-1]
    agree = np.mean(snntorch_spikes(art, counts, tmp_path) == ours)
    assert 0.05 < ours.mean() < 0.95 and 0.9 < agree < 1.0  # 94-99 % on random networks at beta = 0.875


def test_graph_carries_thresholds_leaks_and_units(rng):
    art = network(rng, 0.5, reset="subtract")
    graph, notes = to_nir(art)
    assert [type(graph.nodes[k]).__name__ for k in ("l0", "lif0", "l1", "lif1")] == ["Affine", "LIF", "Affine", "LIF"]
    for k, layer in enumerate(art.layers):
        lif = graph.nodes[f"lif{k}"]
        unit = 1 / (layer.theta + 0.5)
        assert np.allclose(graph.nodes[f"l{k}"].weight, layer.dense() * unit[:, None])
        assert np.all(lif.v_threshold == 1.0) and np.allclose(1 - 1e-4 / lif.tau, 0.5)
        assert lif.metadata["reset"] == "subtract" and np.array_equal(lif.metadata["theta"], layer.theta)
    assert any("subtract reset" in n for n in notes) and any("floors" in n for n in notes)


def test_integrate_and_fire_layers_become_if_nodes(rng):
    graph, _ = to_nir(network(rng, 1.0))
    assert type(graph.nodes["lif0"]).__name__ == "IF" and np.allclose(graph.nodes["lif0"].r * 1e-4, 1)


def test_cli_writes_the_graph_and_refuses_mixed_leaks(rng, tmp_path, capsys):
    save(network(rng, 0.5, reset="subtract"), tmp_path / "a.npz")
    assert sim_main(["export", str(tmp_path / "a.npz"), "--nir", str(tmp_path / "a.nir")]) == 0
    out = capsys.readouterr()
    assert "NIR graph of 12 -> 16 -> 6" in out.out and "note: l0: subtract reset" in out.err
    assert set(nir.read(tmp_path / "a.nir").nodes) == {"input", "l0", "lif0", "l1", "lif1", "output"}
    save(random_artifact(rng, [12, 6], betas=(1.0, 0.5)), tmp_path / "mixed.npz")
    assert sim_main(["export", str(tmp_path / "mixed.npz"), "--nir", str(tmp_path / "m.nir")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: l0.leak_b: mixes beta = 1 and beta < 1") and "\n" not in err
    assert not (tmp_path / "m.nir").exists()
