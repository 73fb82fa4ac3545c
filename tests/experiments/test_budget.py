import dataclasses
import itertools
import re
from pathlib import Path

import numpy as np
import pytest

import boards
import data as datasets
from compress.api import load_model
from compress.calibrate import calibrate
from compress.pipeline import Compressor
from compress.snntorch_import import CHECKPOINT_DEFAULT, float_layers
from experiments import budget
from experiments.sweep import stored_bits
from hw.board import fit
from sim.artifact import load


def brute_force(tables, limit):
    best = None
    for combo in itertools.product(*[[(i, j) for i, (_, alts) in enumerate(t) for j in range(len(alts))]
                                     for t in tables]):
        cost = np.sum([tables[k][i][1][j] for k, (i, j) in enumerate(combo)], axis=0)
        if np.all(cost <= limit):
            loss = sum(tables[k][i][0] for k, (i, _) in enumerate(combo))
            best = loss if best is None else min(best, loss)
    return best


@pytest.mark.parametrize("seed", range(40))
def test_allocate_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    dims = 1 + seed % 2
    tables = [[(float(rng.random()), [tuple(int(c) for c in rng.integers(0, 6, dims))
                                       for _ in range(rng.integers(1, 3))])
               for _ in range(rng.integers(1, 5))]
              for _ in range(rng.integers(1, 4))]
    limit = tuple(int(c) for c in rng.integers(0, 12, dims))
    picks = budget.allocate(tables, limit)
    expected = brute_force(tables, limit)
    if expected is None:
        assert picks is None
        return
    cost = np.sum([tables[k][i][1][j] for k, (i, j) in enumerate(picks)], axis=0)
    assert np.all(cost <= limit)
    assert sum(tables[k][i][0] for k, (i, _) in enumerate(picks)) == pytest.approx(expected)


@pytest.fixture(scope="module")
def digits():
    model, spec = load_model(CHECKPOINT_DEFAULT)
    encoding = datasets.encoding_for(spec.get("encoding"), "digits")
    counts = datasets.calibration_counts(encoding, 64, 0)
    comp = Compressor(float_layers(model), calibrate(model, counts, progress=False), "osbc", progress=False)
    shape = dict(steps=counts.shape[0], input_max_count=encoding.max_count)
    options = budget.tables(comp, (0.5, 0.9, 0.97), (2, 4, 6), **shape, progress_bar=False)
    return comp, shape, options


def test_table_entries_are_the_compressed_layers(digits):
    comp, shape, options = digits
    for k, layer in enumerate(options):
        entry = next(o for o in layer if o.sparsity == 0.9 and o.bits == 4)
        assert entry.layer.nnz <= round(0.1 * entry.layer.n_in * entry.layer.n_out)  # rounding may add zeros
        assert entry.layer.w_bits == 4 and -8 <= entry.layer.val.min() and entry.layer.val.max() <= 7
        weights = entry.layer.dense() * entry.layer.scale[:, None]
        assert entry.loss == pytest.approx(comp.relative_loss(k, weights)) and entry.loss > 0
    one = budget.assemble([layer[0] for layer in options], **shape)
    assert stored_bits(one) == sum(layer[0].weight_bits for layer in options)


def test_budgeted_choice_fits_a_small_board_on_the_first_try(digits):
    comp, shape, options = digits
    small = dataclasses.replace(boards.get("icebreaker"), budget={**boards.get("icebreaker").budget, "ebr": 12, "spram": 0})
    shell = budget.assemble([layer[0] for layer in options], **shape)
    chosen = budget.choose(options, board=small, shell=shell)
    art = budget.assemble([o for o, _ in chosen], **shape)
    assert budget.fits(art, small)
    est = fit.check(art, small)
    # the allocator's block count is the fit check's own
    assert est.ebr[1] == sum(cost[0] for _, cost in chosen) + small.budget["ebr"] - budget.board_limit(shell, small)[0]
    # and no other combination inside the budget loses less
    best = brute_force([[(o.loss, budget.board_costs(o, small)) for o in layer] for layer in options],
                       budget.board_limit(shell, small))
    assert sum(o.loss for o, _ in chosen) == pytest.approx(best)
    assert not budget.fits(budget.assemble([max(layer, key=lambda o: o.weight_bits) for layer in options], **shape),
                           small)


def test_budgeted_choice_keeps_to_a_number_of_weight_bits(digits):
    comp, shape, options = digits
    chosen = budget.choose(options, weight_bits=8000)
    art = budget.assemble([o for o, _ in chosen], **shape)
    assert stored_bits(art) == sum(o.weight_bits for o, _ in chosen) <= 8000
    assert budget.choose(options, weight_bits=10) is None


def test_auto_bits_is_the_smallest_width_under_the_loss(digits, monkeypatch):
    comp, shape, _ = digits
    fits = []
    monkeypatch.setattr(comp, "weights", lambda keeps, fit=comp.weights: fits.append(1) or fit(keeps))
    art, chosen = budget.auto_bits(comp, 0.5, 0.004, **shape)
    assert len(fits) == 1  # masks and least squares once, for every width tried and the artifact
    layer_bits = [layer.w_bits for layer in art.layers]
    assert art.meta["layer_bits"] == layer_bits and art.meta["sparsity"] == 0.5
    for b in range(2, max(layer_bits) + 1):
        uniform, reports = comp.compress(0.5, b, **shape)
        for k, r in enumerate(reports):
            if b == layer_bits[k]:  # the layer is the uniform read-out's at its width
                assert r.loss_quantised == pytest.approx(chosen[k].loss_quantised) and chosen[k].loss_quantised <= 0.004
                assert np.array_equal(art.layers[k].dense(), uniform.layers[k].dense())
                assert np.array_equal(art.layers[k].scale, uniform.layers[k].scale)
            elif b < layer_bits[k]:
                assert r.loss_quantised > 0.004
    with pytest.raises(ValueError, match="max-loss"):
        budget.auto_bits(comp, 0.97, 1e-9, bits=(2, 3), **shape)


@pytest.mark.parametrize("argv, message", [
    (["--out", "x.npz"], "error: budget:"),
    (["--fit", "nope", "--out", "x.npz"], "error: --board: unknown board"),
    (["--bits", "auto", "--out", "x.npz"], "error: max-loss:"),
    (["--fit", "icebreaker", "--max-loss", "0.1", "--out", "x.npz"], "error: max-loss: only"),
])
def test_cli_refuses_bad_input(argv, message, capsys):
    assert budget.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("argv, message", [(["--bits", "9"], "widths in 2..8"),
                                           (["--sparsities", "0.5,1.2"], "sparsities in [0, 1)")])
def test_cli_refuses_bad_grids(argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        budget.main([*argv, "--out", "x.npz"])
    assert done.value.code == 2 and message in capsys.readouterr().err


def test_cli_writes_an_artifact_that_fits(tmp_path, capsys):
    out = tmp_path / "net.npz"
    assert budget.main(["--fit", "icebreaker", "--sparsities", "0.9", "--bits", "2,4", "--calib", "32",
                        "--no-eval", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fit check on icebreaker" in printed and out.is_file()


@pytest.mark.slow
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-25f"])
def test_mnist_budgeted_choice_fits_and_keeps_up_with_the_best_uniform_point(board, tmp_path, capsys):
    out = tmp_path / "net.npz"
    model = Path(__file__).resolve().parents[2] / "compress" / "checkpoints" / "mnist.pt"
    assert budget.main(["--fit", board, "--model", str(model), "--dataset", "mnist", "--compare", "--quiet",
                        "--out", str(out)]) == 0
    assert budget.fits(load(out), boards.get(board))
    uniform, budgeted = map(float, re.search(r"accuracy ([\d.]+) \(budgeted ([\d.]+)\)", capsys.readouterr().out).groups())
    assert budgeted >= uniform - 0.002  # 20 of the 10 000 test samples: below what the membrane loss can resolve
