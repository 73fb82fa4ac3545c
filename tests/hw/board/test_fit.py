"""Pre-synthesis fit check: the estimate covers the generated design's memories, the bundled model
fits the iCEBreaker's block RAM, weights too big for block RAM go to SPRAM, and a model that cannot
fit even so is refused with needed vs available and advice."""
import re

import numpy as np
import pytest
from amaranth.back import verilog

import boards
from hw.board import build, fit
from hw.gateware.core import Core
from hw.gateware.uart import FIFO_DEPTH, UARTBridge
from sim.artifact import Artifact, Layer, load, save


def dense_artifact(shape, w_bits=4, seed=0) -> Artifact:
    rng = np.random.default_rng(seed)
    hi = 1 << (w_bits - 1)
    layers = [Layer.from_dense(rng.integers(-hi, hi, (n_out, n_in)), w_bits=w_bits, theta=20, leak_b=200, leak_f=8)
              for n_in, n_out in zip(shape, shape[1:])]
    return Artifact.create(layers, steps=10)


def test_estimate_reads_the_generated_memories():
    art = load()
    names = {m.name for m in fit.memories(art)}
    assert {"fifo", "layer0.synapses", "layer0.membrane", "layer1.synapses", "layer1.membrane"} <= names
    membrane = next(m for m in fit.memories(art) if m.name == "layer0.membrane")
    assert (membrane.depth, membrane.width) == (128, art.layers[0].v_width)
    assert next(m for m in fit.memories(art) if m.name == "fifo").depth == FIFO_DEPTH - 1


@pytest.mark.parametrize("spram", [(), ("layer0.synapses",)])
def test_planned_memories_are_the_elaborated_ones(spram):
    """The plan's list (name, depth, width) is what the Verilog declares; SPRAM memories are
    SB_SPRAM256KA instances there, as many as the plan counts."""
    art = load()
    bridge = UARTBridge(art, clk_hz=1e6, baud=100_000, core=Core(art, spram=spram, spram_cells=True))
    text = verilog.convert(bridge, emit_src=False)
    declared = sorted((name, int(depth) + 1, int(width) + 1) for width, name, depth in
                      re.findall(r"reg \[(\d+):0\] (\w+) \[(\d+):0\];", text))
    mems = fit.memories(art, spram)
    planned = sorted((m.name.split(".")[-1].replace("fifo", "storage"), m.depth, m.width)
                     for m in mems if m.spram is None)
    assert declared == planned
    assert text.count("SB_SPRAM256KA ") == sum(m.spram_blocks for m in mems if m.spram is not None) == len(spram)


def test_bundled_model_fits_icebreaker_block_ram():
    est = fit.check(load(), boards.get("icebreaker"))
    low, high = est.ebr
    assert low <= high <= 30 and est.spram == 0 and est.image_words == 0 and fit.place(load(), boards.get("icebreaker")) == ()


def test_weights_beyond_block_ram_go_to_spram():
    board = boards.get("icebreaker")
    art = dense_artifact((256, 256, 10))  # 256 Kbit of dense 4-bit weights: 64 EBR, or 4 SPRAM
    assert fit.ebr_range(fit.memories(art), board)[1] > 30
    est = fit.check(art, board)
    assert est.spram_names == ("layer0.synapses",) and est.spram == 4 and est.ebr[1] <= 30
    # In SPRAM a 4-bit dense word takes 16 bits like a 12-bit CSR word: CSR's one word per kept
    # weight (1/8 of these are 0) fills the same 4 blocks with fewer words, and walks fewer.
    assert art.layers[0].nnz < 256 * 256 and est.image_words == art.layers[0].nnz
    # Without SPRAM (an ECP5 board has none) nothing is placed there.
    assert fit.place(art, boards.get("ulx3s-85f")) == ()


def test_refusal_names_resources_and_advice():
    art = dense_artifact((512, 256, 10))  # 8 SPRAM blocks of weights: twice the UP5K's
    with pytest.raises(fit.FitError) as e:
        fit.check(art, boards.get("icebreaker"))
    msg = str(e.value)
    assert "block RAM (EBR): needs >= " in msg and "of 30" in msg
    assert "SPRAM (every weight memory in it): needs >= 9 of 4" in msg
    assert "sparsity" in msg and "fewer weight bits" in msg and "ulx3s-85f" in msg
    needed = int(msg.split("needs >= ")[1].split()[0])
    assert needed > 30
    # The boards it suggests really pass the check.
    fit.check(art, boards.get("ulx3s-85f"))


def test_build_cli_refuses_before_running_tools(tmp_path, capsys, monkeypatch):
    def no_tools(*a, **k):
        raise AssertionError("a tool ran although the model cannot fit")

    monkeypatch.setattr(build, "run_steps", no_tools)
    path = save(dense_artifact((512, 256, 10)), tmp_path / "big.npz")
    assert build.main(["--board", "icebreaker", "--artifact", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: model does not fit icebreaker") and err.count("\n") == 1


@pytest.mark.parametrize("argv, field", [(["--board", "nexys"], "--board"),
                                         (["--clock-mhz", "1000"], "--clock-mhz"),
                                         (["--baud", "20000000"], "--baud")])
def test_build_cli_bad_options(argv, field, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(build, "run_steps", lambda *a, **k: pytest.fail("tools ran"))
    assert build.main(argv + ["--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {field}")
