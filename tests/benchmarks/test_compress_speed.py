"""benchmarks.compress_speed: issue 12's recipe and the command line."""
import numpy as np
import pytest

from benchmarks import compress_speed as bench
from compress.snntorch_import import float_layers


def test_issue_recipe_is_a_standard_normal_layer_fed_bernoulli_events():
    model, counts = bench.issue_recipe(0, 20, 64)
    (layer,) = float_layers(model)
    assert layer.weight.shape == (256, 2312) and np.all(layer.beta == bench.ISSUE_BETA)
    assert abs(layer.weight.mean()) < 0.01 and abs(layer.weight.std() - 1) < 0.01
    assert counts.shape == (20, 64, 2312) and counts.dtype == np.uint8 and set(np.unique(counts)) == {0, 1}
    assert abs(counts.mean() - bench.ISSUE_RATE) < 0.002
    again, counts_again = bench.issue_recipe(0, 20, 64)
    assert np.array_equal(float_layers(again)[0].weight, layer.weight) and np.array_equal(counts_again, counts)
    other, counts_other = bench.issue_recipe(1, 20, 64)
    assert not np.array_equal(float_layers(other)[0].weight, layer.weight) and not np.array_equal(counts_other, counts)


@pytest.mark.parametrize("argv, message", [
    (["--recipe", "issue,mnist"], "error: recipe: unknown mnist; choose from issue, nmnist"),
    (["--threads", "1,two"], "error: threads: expected comma-separated integers, got '1,two'"),
    (["--threads", "0,2"], "error: threads: must be >= 1, got 0"),
])
def test_bad_arguments_end_in_one_error_line(argv, message, capsys):
    with pytest.raises(SystemExit) as stop:
        bench.main(argv)
    assert stop.value.code == 2 and capsys.readouterr().err == message + "\n"


@pytest.mark.slow
def test_issue_comparison_prints_every_readout_next_to_the_issue_numbers(capsys):
    bench.main(["--recipe", "issue", "--calib", "16", "--steps", "4", "--threads", "1"])
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ")}
    for name, (ours_then, authors) in bench.ISSUE_REPORTED.items():
        cells = rows[name]
        assert 0 < float(cells[3]) < 1 and cells[4:6] == [str(ours_then), str(authors)]
