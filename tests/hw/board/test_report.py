"""Report parsing on real tool output recorded from builds (tests/hw/board/data/, written by
tests/hw/board/record.py: nextpnr --report, yosys stat -json, the memory_libmap lines of the yosys
log and the netlist's memory cells of the bundled model on iCEBreaker, and an ECP5 build)."""
import json
from pathlib import Path

import numpy as np
import pytest

import boards
from hw.board import report
from sim.artifact import load
from hw.gateware.perf import step_cycles
from hw.gateware.plan import memories, plan

DATA = Path(__file__).parent / "data"


def read(name):
    return (DATA / name).read_text()


def test_ice40_resources_and_timing():
    pnr = json.loads(read("icebreaker.nextpnr.json"))
    res = report.resources(pnr, boards.get("icebreaker").family)
    assert res["lut"] == {"used": 1256, "available": 5280, "cell": "ICESTORM_LC"}
    assert res["ebr"]["used"] == 14 and res["ebr"]["available"] == 30
    assert res["spram"]["used"] == 0 and res["dsp"]["used"] == 0 and res["io"]["used"] == 3
    t = report.timing(pnr, 24e6)
    assert t["met"] and t["fmax_mhz"] == pytest.approx(34.18) and t["target_mhz"] == 24.0
    assert not report.timing(pnr, 35e6)["met"]


def test_ecp5_cells_map_to_the_same_names():
    pnr = json.loads(read("ulx3s-85f.nextpnr.json"))
    res = report.resources(pnr, boards.get("ulx3s-85f").family)
    assert set(res) == {"lut", "ebr", "dsp", "io"}  # ECP5 has no SPRAM
    assert res["lut"]["available"] == 83640 and res["ebr"]["available"] == 208
    assert report.timing(pnr, 50e6)["met"]


def test_timing_without_clocks_is_an_error():
    with pytest.raises(ValueError, match="no clock"):
        report.timing({"fmax": {}, "utilization": {}}, 24e6)


def netlist_of(name):
    return {"modules": {"snn_top": {"cells": {cell: {"type": kind}
                                              for cell, kind in json.loads(read(f"{name}.cells.json")).items()}}}}


def test_memory_placement_from_log_and_netlist():
    placed = report.memory_placement(read("icebreaker.libmap.log"), netlist_of("icebreaker"))
    assert len(placed) == 7
    assert placed["snn_top.bridge.core.layer0.synapses"] == {"to": "block RAM", "cell": "$__ICE40_RAM4K_", "blocks": 8}
    assert placed["snn_top.bridge.fifo.storage"]["blocks"] == 1
    assert placed["snn_top.bridge.core.layer1.params"] == {"to": "logic", "blocks": 0}
    used = report.resources(json.loads(read("icebreaker.nextpnr.json")), boards.get("icebreaker").family)["ebr"]["used"]
    assert sum(p["blocks"] for p in placed.values()) == used


def test_spram_placement_from_the_netlist():
    """SB_SPRAM256KA cells are instantiated, not inferred: counted per memory from their names."""
    netlist = {"modules": {"snn_top": {"cells": {
        "system.bridge.core.layer0.synapses.block0": {"type": "SB_SPRAM256KA"},
        "system.bridge.core.layer0.synapses.block1": {"type": "SB_SPRAM256KA"},
        "system.bridge.core.layer0.rows.block2": {"type": "SB_SPRAM256KA"},
        "system.bridge.fifo.storage.0.0": {"type": "SB_RAM40_4K"}}}}}
    placed = report.memory_placement("mapping memory snn_top.system.bridge.fifo.storage via $__ICE40_RAM4K_\n",
                                     netlist)
    assert placed["snn_top.system.bridge.core.layer0.synapses"] == {"to": "SPRAM", "cell": "SB_SPRAM256KA", "blocks": 2}
    assert placed["snn_top.system.bridge.core.layer0.rows"]["blocks"] == 1
    assert placed["snn_top.system.bridge.fifo.storage"]["blocks"] == 1


def test_model_memory_totals_match_the_artifact():
    art = load()
    mm = report.model_memory(art)
    assert mm["total"]["csr_bits"] == sum(l.memory().csr_bits for l in art.layers)
    assert mm["total"]["dense_bits"] == sum(l.n_in * l.n_out * l.w_bits for l in art.layers)
    # the weight memory reported is what the generator's memories hold
    assert mm["total"]["stored_bits"] == sum(m.bits for m in memories(plan(art)) if m.holds_weights)
    assert mm["total"]["encoding"] == "/".join(p.storage for p in plan(art))


def test_throughput_counts_the_bytes_of_dense_steps_as_bitmaps():
    art = load()  # 64 inputs: a bitmap is a head, a first-block byte and 10 blocks of 7 inputs
    counts = np.ones((art.steps, 1, art.n_in), np.uint8)
    th = report.throughput(art, 24e6, 3_000_000, counts, "every input once per step")
    assert th["uart_bytes_per_sample"] == 1 + art.steps * (1 + 1 + 10 + 1)  # CLEAR, then bitmap + STEP per step
    assert th["uart_samples_per_s"] == pytest.approx(3_000_000 / 10 / (1 + art.steps * 13), abs=0.1)


def test_throughput_and_table():
    art = load()
    counts = np.zeros((art.steps, 1, art.n_in), np.uint8)
    th = report.throughput(art, 24e6, 115200, counts, "silence")
    lower, upper = step_cycles(art, counts)
    assert th["core_samples_per_s"]["min"] == pytest.approx(24e6 / upper.sum(), rel=1e-3)
    assert th["core_samples_per_s"]["max"] == pytest.approx(24e6 / lower.sum(), rel=1e-3)
    # no events: T STEP commands + CLEAR out, T step replies (header, 2 spike bytes, 4 cycle bytes)
    # + the CLEAR's ACK back: the busier direction
    assert th["uart_bytes_per_sample"] == art.steps * (1 + 2 + 4) + 1
    pnr = json.loads(read("icebreaker.nextpnr.json"))
    from hw.board.fit import estimate
    board = boards.get("icebreaker")
    r = report.assemble(art, board, estimate(art, board), pnr=pnr, stat=json.loads(read("icebreaker.stat.json")),
                        synth_log=read("icebreaker.libmap.log"), netlist=None, target_hz=24e6, baud=115200,
                        counts=counts, workload="silence")
    text = report.table(r)
    assert "lut           1256    5280" in text and "fmax 34.18 MHz vs core clock 24.00 MHz: met" in text
    assert r["cells"]["SB_RAM40_4K"] == 14
