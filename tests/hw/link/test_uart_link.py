"""The UART path in simulation: hw.link.host.Link drives the real top-level Verilog (UARTBridge around
the generated core) through cocotbext-uart, and every output spike is checked against sim.reference."""
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from hw.link import protocol as P
from hw.rtlsim import runner
from hw.gateware.perf import step_cycles
from hw.gateware.uart import UARTBridge
from sim.artifact import Artifact, Layer, load
from data import spikes_for
from sim.reference import run

CLOCK_HZ = 100e6  # the bench's 10 ns clock
DIVISOR = 8  # fastest UART the receiver handles comfortably: keeps the simulation short
SIMULATOR = "icarus"


def random_artifact(seed: int, shape=(100, 16, 12), max_count: int = 2) -> Artifact:
    """A small net whose input needs a continuation byte per event (n_in > 64) and whose output
    spans two spike bytes; thresholds low enough that every layer fires."""
    rng = np.random.default_rng(seed)
    layers = []
    for k, (n_in, n_out) in enumerate(zip(shape, shape[1:])):
        w = rng.integers(-8, 8, (n_out, n_in)) * (rng.random((n_out, n_in)) < 0.5)
        layers.append(Layer.from_dense(w, w_bits=4, theta=rng.integers(3, 12, n_out), leak_b=rng.integers(128, 256, n_out),
                                       leak_f=8, reset=("subtract", "zero")[k % 2]))
    return Artifact.create(layers, input_max_count=max_count, steps=6, meta={"source": "test"})


def simulate(art, counts: np.ndarray, tmp_path: Path, fifo_depth: int):
    """Run both benches of uart_bench.py; return (spikes [B, T, n_out], cycles [B, T], info, error-run spikes)."""
    top = UARTBridge(art, clk_hz=CLOCK_HZ, baud=round(CLOCK_HZ / DIVISOR), fifo_depth=fifo_depth)
    build_dir = runner.build(verilog.convert(top, name="uart_top", emit_src=False), "uart_top", SIMULATOR)
    out = tmp_path / "out.npz"
    job = tmp_path / "job.npz"
    np.savez(job, counts=np.asarray(counts).transpose(1, 0, 2), bit_ns=round(1e9 * DIVISOR / CLOCK_HZ), out=str(out))
    runner.run(build_dir, "uart_top", SIMULATOR, "uart_bench", Path(__file__).parent,
                   env={"HW_JOB": str(job)}, test_dir=tmp_path)
    r = np.load(out)
    return r["spikes"], r["cycles"], r["info"], np.load(str(out) + ".errors.npz")["spikes"], top.info


def assert_same_spikes(expected: np.ndarray, got: np.ndarray) -> None:
    """expected/got [B, T, n_out]; a mismatch names the sample, step and neuron."""
    assert got.shape == expected.shape, f"shape {got.shape} != {expected.shape}"
    bad = np.argwhere(got != expected)
    assert not bad.size, (f"sample {bad[0][0]} step {bad[0][1]} neuron {bad[0][2]}: board {got[tuple(bad[0])]}, "
                          f"sim.reference {expected[tuple(bad[0])]} ({len(bad)} mismatches)")


@pytest.mark.parametrize("case", ["bundled", "random"])
def test_uart_link_matches_reference(case, tmp_path):
    if case == "bundled":
        art = load()
        counts, _ = spikes_for(art, split="test", limit=2)
        fifo_depth = 256
    else:
        art = random_artifact(1)
        rng = np.random.default_rng(2)
        counts = rng.integers(0, 3, (art.steps, 3, art.n_in)) * (rng.random((art.steps, 3, art.n_in)) < 0.3)
        counts[0, 0] = 2  # every input twice: 200 events, many FIFO credits (SYNC) in one step
        counts[1, 0] = 0  # an empty step
        counts = counts.astype(np.uint8)
        fifo_depth = 8
    spikes, cycles, info, after_errors, built = simulate(art, counts, tmp_path, fifo_depth)

    assert tuple(info) == (art.n_in, art.n_out, fifo_depth, round(CLOCK_HZ), P.model_digest(art))
    expected = run(art, counts).spikes[-1].transpose(1, 0, 2)
    assert expected.any(), "the test input should make the output layer fire"
    assert_same_spikes(expected, spikes)
    assert_same_spikes(expected[:1], after_errors[None])
    # The STEP reply carries the core's cycle counter: within the cycle model the report uses. A
    # step cut into several FIFO chunks is fed with pauses, and the core does not count the walk
    # it finishes while waiting for input, so only single-chunk steps must reach the lower bound.
    lower, upper = (b.T for b in step_cycles(art, counts))
    one_chunk = counts.sum(axis=2).T < fifo_depth
    assert np.all(cycles <= upper), (cycles, upper)
    assert np.all((lower <= cycles) | ~one_chunk), (cycles, lower)
