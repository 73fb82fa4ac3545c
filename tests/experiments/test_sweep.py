"""`python -m hw.sweep`: outputs, resumption, and points that do not fit."""
import csv
import json

import numpy as np
import pytest

import boards
from experiments import sweep
from sim.testing import random_artifact


def test_grid_adds_the_dense_baseline_and_keeps_rtn_dense():
    pts = sweep.grid(["osbc", "rtn"], [0.5, 0.9], [4, 2])
    keys = {p.key for p in pts}
    assert keys == {"rtn-s0-b8", "rtn-s0-b4", "rtn-s0-b2", "osbc-s0.5-b4", "osbc-s0.9-b4", "osbc-s0.5-b2",
                    "osbc-s0.9-b2"}


def test_sweep_writes_results_and_resumes(tmp_path):
    out = tmp_path / "sw"
    args = ["--sparsity", "0.9", "--bits", "4", "--method", "magnitude", "--no-build", "--rtl-samples", "0",
            "--calib", "32", "--out", str(out)]
    assert sweep.main(args) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {(r["method"], r["sparsity"], r["bits"]) for r in rows} == {("magnitude", "0.9", "4"), ("rtn", "0.0", "8")}
    pruned = next(r for r in rows if r["method"] == "magnitude")
    assert int(pruned["nnz"]) < 0.11 * (64 * 128 + 128 * 10)
    assert float(pruned["entropy_bits"]) < float(pruned["csr_bits"])
    res = json.loads((out / "results.json").read_text())
    assert res["smallest"]["baseline_accuracy"] > 0.9
    for png in ("accuracy_vs_memory.png", "blocks_vs_sparsity.png", "throughput_vs_sparsity.png"):
        assert (out / png).stat().st_size > 1000

    # A second run reuses every finished stage: no artifact is rewritten, no record changes.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()}
    records = {p: p.read_text() for p in (out / "points").iterdir()}
    assert sweep.main(args) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()}
    assert records == {p: p.read_text() for p in (out / "points").iterdir()}


def test_a_point_that_does_not_fit_is_recorded_with_its_reason(tmp_path):
    big = random_artifact(np.random.default_rng(0), [2312, 256, 10], density=1.0)
    s = sweep.Sweep(tmp_path, model=None, dataset="digits", boards_=[boards.get("icebreaker")], calib=8, seed=0,
                    rtl_samples=0, simulator="verilator", build=True)
    rec = s.place_and_route(big, tmp_path / "big.npz", boards.get("icebreaker"), sweep.Point("osbc", 0.0, 4))
    assert rec["fits"] is False and "does not fit icebreaker" in rec["reason"]


def test_bad_arguments_exit_2(capsys):
    assert sweep.main(["--method", "pruneit"]) == 2
    assert "--method: unknown pruneit" in capsys.readouterr().err
    assert sweep.main(["--sparsity", "1.5"]) == 2


def test_resuming_with_other_settings_is_refused(tmp_path):
    sweep.Sweep(tmp_path, model=None, dataset="digits", boards_=[], calib=8, seed=0, rtl_samples=0,
                simulator="icarus", build=False)
    with pytest.raises(ValueError, match="holds a sweep made with"):
        sweep.Sweep(tmp_path, model=None, dataset="digits", boards_=[], calib=16, seed=0, rtl_samples=0,
                    simulator="icarus", build=False)
