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
from sim.artifact import Artifact, load
from sim.testing import random_artifact
from data import spikes_for
from sim.reference import run

CLOCK_HZ = 24e6  # the iCEBreaker's core clock: the default baud rate is 8 clocks per bit
DIVISOR = P.uart_divisor(CLOCK_HZ, P.DEFAULT_BAUD)
BENCH_CLOCK_NS = 10  # uart_bench.py's clock: the same cycles as at 24 MHz in less simulated time
SIMULATOR = "icarus"


def small_net(seed: int) -> Artifact:
    """A 100-16-12 net: each input event needs a continuation byte (n_in > 64), the output spans
    two spike bytes, thresholds low enough that every layer fires, one layer of each reset mode."""
    return random_artifact(np.random.default_rng(seed), (100, 16, 12), density=0.5, theta=(3, 11),
                           betas=(0.5, 0.625, 0.75, 0.875, 0.9375), resets=("subtract", "zero"),
                           input_max_count=2, steps=6)


def simulate(art, counts: np.ndarray, tmp_path: Path, fifo_depth: int):
    """Run both benches of uart_bench.py; return (spikes [B, T, n_out], cycles [B, T], info, error-run spikes)."""
    top = UARTBridge(art, clk_hz=CLOCK_HZ, baud=P.DEFAULT_BAUD, fifo_depth=fifo_depth)
    build_dir = runner.build(verilog.convert(top, name="uart_top", emit_src=False), "uart_top", SIMULATOR)
    out = tmp_path / "out.npz"
    job = tmp_path / "job.npz"
    np.savez(job, counts=np.asarray(counts).transpose(1, 0, 2), bit_ns=DIVISOR * BENCH_CLOCK_NS, out=str(out))
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


@pytest.mark.simulator(SIMULATOR)
@pytest.mark.parametrize("case", ["bundled", "random"])
def test_uart_link_matches_reference(case, tmp_path):
    if case == "bundled":
        art = load()
        counts, _ = spikes_for(art, split="test", limit=2)
        fifo_depth = 256
    else:
        art = small_net(1)
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
