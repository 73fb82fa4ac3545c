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


@pytest.mark.slow
def test_weights_beyond_block_ram_build_into_spram(tmp_path):
    """256 Kbit of dense weights: the fit check puts them in SPRAM; the netlist has exactly the
    planned SB_SPRAM256KA cells for that memory, and the image holds the planned words."""
    from test_fit import dense_artifact

    from sim.artifact import save

    art = dense_artifact((256, 256, 10))
    board = boards.get("icebreaker")
    est = fit.check(art, board)
    path = save(art, tmp_path / "dense.npz")
    assert build.main(["--board", "icebreaker", "--artifact", str(path), "--out", str(tmp_path), "--no-progress"]) == 0
    report = json.loads((tmp_path / "icebreaker" / "report.json").read_text())
    assert report["resources"]["spram"]["used"] == est.spram == 4
    spram = {name: m["blocks"] for name, m in report["memories"].items() if m["to"] == "SPRAM"}
    assert spram == {"snn_top.system.bridge.core.layer0.synapses": 4}
    assert report["image"]["words"] == est.image_words and (tmp_path / "icebreaker" / "model.img").is_file()
    assert report["timing"]["met"]
