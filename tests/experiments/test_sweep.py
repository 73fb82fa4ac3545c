"""`python -m hw.sweep`: outputs, resumption, and points that do not fit."""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import boards
from compress.allocate import check_sparsity
from experiments import store, sweep
from sim.testing import random_artifact


def test_grid_adds_the_dense_baseline_and_keeps_rtn_dense():
    pts = sweep.grid(["osbc", "rtn"], [0.5, 0.9], [4, 2])
    keys = {p.key for p in pts}
    assert keys == {"rtn-s0-b8", "rtn-s0-b4", "rtn-s0-b2", "osbc-s0.5-b4", "osbc-s0.9-b4", "osbc-s0.5-b2",
                    "osbc-s0.9-b2"}


def test_sweep_writes_results_and_resumes(tmp_path):
    out = tmp_path / "sw"
    args = ["--sparsity", "0.9", "--bits", "4", "--method", "magnitude", "--no-build", "--rtl-samples", "0",
            "--calib", "32", "--workers", "0", "--out", str(out)]
    assert sweep.main(args) == 0
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {(r["method"], r["sparsity"], r["bits"]) for r in rows} == {("magnitude", "0.9", "4"), ("rtn", "0.0", "8")}
    pruned = next(r for r in rows if r["method"] == "magnitude")
    assert int(pruned["nnz"]) < 0.11 * (64 * 128 + 128 * 10)
    assert float(pruned["entropy_bits"]) < float(pruned["csr_bits"])
    res = json.loads((out / "results.json").read_text())
    assert res["smallest"]["baseline_accuracy"] > 0.9
    import matplotlib.image
    for png in ("accuracy_vs_memory.png", "blocks_vs_sparsity.png", "throughput_vs_sparsity.png"):
        image = matplotlib.image.imread(out / png)
        assert image.ndim == 3 and image[..., :3].std() > 0.01  # a real figure, not a blank canvas

    # A second run reuses every finished stage: no artifact is rewritten, no record changes.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()}
    records = {p: p.read_text() for p in (out / "points").iterdir()}
    assert sweep.main(args) == 0
    assert stamps == {p: p.stat().st_mtime_ns for p in (out / "artifacts").iterdir()}
    assert records == {p: p.read_text() for p in (out / "points").iterdir()}


def test_a_point_that_does_not_fit_is_recorded_with_its_reason(tmp_path):
    big = random_artifact(np.random.default_rng(0), [2312, 256, 10], density=1.0)
    settings = fake_settings(build=True)
    rec, files = sweep.place_and_route(settings, big, tmp_path / "big.npz", boards.get("icebreaker"), tmp_path / "b")
    assert rec["fits"] is False and "does not fit icebreaker" in rec["reason"] and files == {}


def test_bad_arguments_exit_2(capsys):
    assert sweep.main(["--method", "pruneit"]) == 2
    assert "--method: unknown pruneit" in capsys.readouterr().err
    for bad in (["--sparsity", "1.5"], ["--rtl-samples", "-1"], ["--max-loss", "-1"], ["--workers", "-1"],
                ["--calib", "0"]):
        assert sweep.main(bad + ["--workers", "0"] * (bad[0] != "--workers")) == 2, bad
        assert capsys.readouterr().err.startswith(f"error: {bad[0]}: ")
    with pytest.raises(SystemExit) as exit_:
        sweep.main(["--sparsity", ","])
    assert exit_.value.code == 2


def test_grid_values_are_sorted_without_repeats_and_checked():
    parse = sweep.comma_separated(float, "sparsities", check_sparsity)
    assert parse("0.9,0.5,,0.9,") == (0.5, 0.9)
    for bad, why in (("0.5,1.2", "sparsity: must be in [0, 1)"), ("0.5,x", "could not convert"), (" , ", "no value")):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(why)):
            parse(bad)
    assert sweep.comma_separated(int, "widths")("4,3,2") == (2, 3, 4)


def test_resuming_with_other_settings_is_refused(tmp_path):
    sweep.Sweep(tmp_path, fake_settings(calib=8))
    with pytest.raises(ValueError, match="holds a sweep made with"):
        sweep.Sweep(tmp_path, fake_settings(calib=16))


def test_help_shows_every_default():
    text = " ".join(sweep.parser().format_help().split())
    for action in sweep.parser()._actions:
        if action.option_strings and action.dest != "help":
            assert f"{action.option_strings[0]}" in text and "(default: " in text.split(action.option_strings[0], 2)[-1]


# ------------------------------------------------------------- merge, resume, failures: fake points

def fake_settings(**kw):
    return sweep.Settings(**{"model": None, "dataset": "digits", "data": None, "boards": ("icebreaker",), "calib": 8,
                             "seed": 0, "rtl_samples": 0, "simulator": "icarus", "build": False, **kw})


CALLS = []


def fake_point(settings, p, done, artifact, *, stage):
    """Accuracy and memory from the key alone: a test can tell every point apart."""
    CALLS.append(p.key)
    stage("compress")
    if p.key in FAIL:
        raise RuntimeError("compression failed: out of luck")
    acc = 0.97 - p.sparsity * 0.1 - (8 - p.bits) * 0.001
    stored = int(10_000 * (1 - p.sparsity) * p.bits) + 100
    rec = {"method": p.method, "sparsity": p.sparsity, "bits": p.bits, "accuracy": acc, "nnz": stored // 10,
           "memory": {"encoding": "delta/dense", "dense_bits": 80_000, "csr_bits": stored * 2, "value_bits": stored // 2,
                      "entropy_bits": stored // 4, "floor_bits": stored // 2 + stored // 4, "ratio": 1.3,
                      "stored_bits": stored},
           "boards": {b: {"fits": None} for b in settings.boards}, "seconds": {"compress": 1.0}}
    return {"record": rec, "artifact": p.key.encode(), "files": {f"builds/icebreaker/{p.key}/report.txt": b"ok"}}


FAIL: set = set()
ARGS = ["--sparsity", "0.5,0.9", "--bits", "4", "--method", "osbc", "--no-build", "--rtl-samples", "0"]


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(sweep, "compute_point", fake_point)
    CALLS.clear()
    FAIL.clear()
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_fake_sweep_merges_every_point_resumes_and_leaves_clean_files(tmp_path, fake, capsys):
    out = tmp_path / "sw"
    (out / "points").mkdir(parents=True)
    (out / "points" / ".osbc-s0.5-b4.json.x1.tmp").write_text('{"half')  # what a killed write leaves
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(out)]) == 0
    assert sorted(CALLS) == ["osbc-s0.5-b4", "osbc-s0.9-b4", "rtn-s0-b8"]
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert [(r["method"], r["sparsity"]) for r in rows] == [("osbc", "0.5"), ("osbc", "0.9"), ("rtn", "0.0")]
    assert (out / "artifacts" / "osbc-s0.9-b4.npz").read_bytes() == b"osbc-s0.9-b4"
    assert (out / "builds/icebreaker/osbc-s0.9-b4/report.txt").read_bytes() == b"ok"
    files = [f for f in out.rglob("*") if f.is_file()]
    assert not [f for f in files if f.name.endswith(".tmp")]
    assert {oct(f.stat().st_mode & 0o777) for f in files} == {"0o644"}
    # Within the default 1 point only the baseline qualifies, and it is never the answer.
    assert json.loads((out / "results.json").read_text())["smallest"]["best"] == {}
    assert "no compressed point that fits is that accurate" in capsys.readouterr().out

    CALLS.clear()
    records = {p: p.read_text() for p in (out / "points").iterdir()}
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(out), "--max-loss", "0.1"]) == 0
    assert CALLS == [] and records == {p: p.read_text() for p in (out / "points").iterdir()}
    best = json.loads((out / "results.json").read_text())["smallest"]["best"]["icebreaker"]
    assert (best["method"], best["sparsity"]) == ("osbc", 0.9)  # the fewest stored bits within 10 points
    assert "osbc sparsity 0.9 4-bit, 4099 bits stored" in capsys.readouterr().out


def test_a_failed_point_is_reported_the_rest_recorded_and_it_reruns_next_time(tmp_path, fake, capsys):
    FAIL.add("osbc-s0.5-b4")
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "error: point osbc-s0.5-b4 failed at compress: RuntimeError: compression failed: out of luck" in err
    res = json.loads((tmp_path / "results.json").read_text())
    assert [r["sparsity"] for r in res["points"]] == [0.9, 0.0] and list(res["failed"]) == ["osbc-s0.5-b4"]
    FAIL.clear()
    CALLS.clear()
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path)]) == 0
    assert CALLS == ["osbc-s0.5-b4"]


def test_the_estimate_comes_before_the_first_point_and_the_longest_points_go_first(tmp_path, fake, capsys,
                                                                                    monkeypatch):
    from experiments import eta

    recorded = tmp_path / "stage_seconds.json"
    recorded.write_text(json.dumps({"networks": [{"layers": [64, 128, 10], "synapses": 9472, "rtl_samples": 1, "seconds": {
        "compress osbc": [20, 0, 0, 1], "compress rtn": [50, 0, 0, 1], "accuracy": [2, 0, 0, 1], "fit icebreaker": [1, 0, 0, 1]}}]}))
    monkeypatch.setattr(eta, "TABLE", recorded)
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path / "sw")]) == 0
    err = capsys.readouterr().err
    # the bundled digits net (64-128-10): 2 OSBC points of 20 + 2 + 1 s and the baseline of 50 + 2 + 1 s
    assert "3 points x 1 board(s), 3 to run on this process; about 99 s on 1 worker(s)" in err
    assert CALLS == ["rtn-s0-b8", "osbc-s0.5-b4", "osbc-s0.9-b4"]
    # A resumed sweep takes the times of the points it has: the fake records 1 s of compress (and
    # no other stage, so those still come from the table): 1 + 2 + 1 s.
    for lost in ("points/osbc-s0.9-b4.json", "artifacts/osbc-s0.9-b4.npz"):
        (tmp_path / "sw" / lost).unlink()
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path / "sw")]) == 0
    assert "1 to run on this process; about 4 s on 1 worker(s)" in capsys.readouterr().err


def test_a_finished_folder_gives_its_row_of_the_stage_table(tmp_path, fake, capsys):
    from experiments import eta

    assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert eta.main([str(tmp_path), "--rtl-samples", "0"]) == 0
    row = json.loads(capsys.readouterr().out)
    # the fake points record 1 s of compress each, at densities 0.5 and 0.1 (osbc) and 1 (rtn)
    assert row == {"layers": [64, 128, 10], "synapses": 64 * 128 + 128 * 10, "rtl_samples": 0,
                   "seconds": {"compress osbc": [1.0, 0.0, 0.1, 0.5], "compress rtn": [1.0, 0.0, 1.0, 1.0]}}
    assert eta.main([str(tmp_path / "nothing"), "--rtl-samples", "0"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nothing'}: ")


def test_a_damaged_point_file_is_named(tmp_path, fake, capsys):
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path)]) == 0
    point = tmp_path / "points" / "osbc-s0.9-b4.json"
    point.write_text(point.read_text()[:40])
    capsys.readouterr()
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {point}: damaged (") and "delete it" in err


def test_a_second_sweep_into_a_busy_folder_is_refused(tmp_path, fake, capsys):
    with store.locked(tmp_path, wait=False):
        assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path)]) == 2
    assert "another run is writing to this folder" in capsys.readouterr().err
    assert CALLS == []


def test_fake_sweep_on_an_in_process_dask_cluster_matches_the_serial_one(tmp_path, fake):
    distributed = pytest.importorskip("distributed")
    assert sweep.main(ARGS + ["--workers", "0", "--out", str(tmp_path / "serial")]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        assert sweep.main(ARGS + ["--scheduler", c.scheduler_address, "--out", str(tmp_path / "dask")]) == 0
    for name in ("results.csv", "points/osbc-s0.5-b4.json"):
        assert (tmp_path / "serial" / name).read_text() == (tmp_path / "dask" / name).read_text().replace(
            str(tmp_path / "dask"), str(tmp_path / "serial"))


def test_killing_the_sweep_kills_its_compress_child(tmp_path):
    code = "from experiments.sweep import run_child; run_child(['sleep', '60'])"
    parent = subprocess.Popen([sys.executable, "-c", code])
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
    deadline = time.monotonic() + 20
    while not children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.05)
    sleeper = int(children.read_text().split()[0])
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 5
    while Path(f"/proc/{sleeper}").exists() and "Z" not in _state(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{sleeper}").exists() or "Z" in _state(sleeper)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "Z"


# ------------------------------------------------------------------------ real clusters (slow)

def slow_fake_point(settings, p, done, artifact, *, stage):
    time.sleep(2)  # long enough for a worker to be killed in the middle of a point
    return fake_point(settings, p, done, artifact, stage=stage)


@pytest.mark.slow
def test_a_killed_worker_loses_no_point_and_duplicates_none(tmp_path, fake, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    monkeypatch.setattr(sweep, "compute_point", slow_fake_point)
    saved = []
    save = sweep.Sweep.save
    monkeypatch.setattr(sweep.Sweep, "save", lambda self, p, outcome: (saved.append(p.key), save(self, p, outcome))[1])
    args = ["--sparsity", "0.5,0.8,0.9,0.95", "--bits", "4,2", "--method", "osbc", "--no-build", "--rtl-samples", "0"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c, \
            distributed.Client(c) as client:
        victim = next(iter(client.run(os.getpid).values()))
        threading.Timer(3.0, os.kill, (victim, 9)).start()  # a point is running on it by then
        assert sweep.main(args + ["--scheduler", c.scheduler_address, "--out", str(tmp_path)]) == 0
        assert not Path(f"/proc/{victim}").exists() or "Z" in _state(victim)
    keys = [p.key for p in sweep.grid(["osbc"], [0.5, 0.8, 0.9, 0.95], [4, 2])]
    assert sorted(saved) == sorted(keys)  # each point written once
    assert len(list(csv.DictReader(open(tmp_path / "results.csv")))) == len(keys)


@pytest.mark.slow
def test_a_sweep_on_a_scheduler_and_two_dask_workers_matches_the_serial_run(tmp_path):
    pytest.importorskip("distributed")
    args = ["--sparsity", "0.9", "--bits", "4", "--method", "osbc", "--no-build", "--rtl-samples", "0", "--calib", "32"]
    assert sweep.main(args + ["--workers", "0", "--out", str(tmp_path / "serial")]) == 0
    info = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(info),
                               "--port", "0", "--no-dashboard"], stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(info),
                                    "--nthreads", "1", "--no-dashboard"], stderr=subprocess.DEVNULL) for _ in range(2)]
        address = json.loads(info.read_text())["address"]
        assert sweep.main(args + ["--scheduler", address, "--out", str(tmp_path / "dask")]) == 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
    for name in ("results.csv", "points/osbc-s0.9-b4.json", "points/rtn-s0-b8.json"):
        serial, dask_ = ((tmp_path / d / name).read_text() for d in ("serial", "dask"))
        strip = lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k not in ("seconds", "artifact")}) \
            if name.endswith(".json") else text
        assert strip(serial) == strip(dask_)
    serial, dask_ = (np.load(tmp_path / d / "artifacts/osbc-s0.9-b4.npz") for d in ("serial", "dask"))
    assert sorted(serial) == sorted(dask_) and all(np.array_equal(serial[k], dask_[k]) for k in serial)
