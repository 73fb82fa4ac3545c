"""End to end: the bundled model becomes an iCEBreaker bitstream that meets the 24 MHz core clock,
the report agrees with the fit estimate, and a second build gives the same bitstream."""
import json

import pytest

import boards
from hw.board import build, fit
from sim.artifact import load


@pytest.mark.slow
def test_default_bitstream_builds_and_is_deterministic(tmp_path):
    assert build.main(["--board", "icebreaker", "--out", str(tmp_path / "a"), "--no-progress"]) == 0
    report = json.loads((tmp_path / "a" / "icebreaker" / "report.json").read_text())
    assert report["timing"]["met"] and report["timing"]["fmax_mhz"] >= 24
    res, est = report["resources"], report["estimate"]
    assert est["ebr"]["low"] <= res["ebr"]["used"] <= est["ebr"]["high"] <= 38
    assert est["lut"]["low"] <= res["lut"]["used"] <= est["lut"]["high"]
    assert res["spram"]["used"] == 0  # the bundled model fits block RAM: no SPRAM, no image
    # Every memory yosys saw is one the estimate knew about, and the EBR blocks add up.
    known = {m.name for m in fit.memories(load())}
    placed = report["memories"]
    assert {name.split(".", 2)[-1].removeprefix("core.").removesuffix(".storage") for name in placed} == known
    assert sum(m["blocks"] for m in placed.values()) == res["ebr"]["used"]

    build.main(["--board", "icebreaker", "--out", str(tmp_path / "b"), "--no-progress"])
    again = json.loads((tmp_path / "b" / "icebreaker" / "report.json").read_text())
    assert again["bitstream"]["sha256"] == report["bitstream"]["sha256"]


@pytest.mark.slow
def test_ecp5_board_builds(tmp_path):
    assert build.main(["--board", "ulx3s-12f", "--out", str(tmp_path), "--no-progress"]) == 0
    report = json.loads((tmp_path / "ulx3s-12f" / "report.json").read_text())
    assert report["timing"]["met"] and report["resources"]["ebr"]["used"] > 0
    assert report["resources"]["lut"]["available"] == boards.get("ulx3s-12f").budget["lut"]
