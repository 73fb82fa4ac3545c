"""The generated core against sim.reference, spike for spike, on Verilator and Icarus."""
import numpy as np
import pytest

from hw.gateware import perf
from hw.rtlsim import cosim, runner
from hw.gateware.core import Core, GeneratorError
from hw.gateware.plan import plan_layer
from random_nets import random_counts, random_net, torture_net
from sim.testing import random_layer
from sim import reference
from sim.artifact import Artifact, Layer, load
from data import spikes_for

SIMULATORS = runner.SIMULATORS


def check(art, counts, simulator, **options):
    hw = cosim.simulate(art, counts, simulator, **options)
    mismatch = cosim.first_mismatch(reference.run(art, counts).spikes, hw)
    assert mismatch is None, f"{simulator}: {mismatch}"
    return hw


@pytest.mark.parametrize("simulator,storage", [(s, "csr") for s in SIMULATORS] + [("icarus", "dense"), ("icarus", "delta"),
                                                pytest.param("verilator", "delta", marks=pytest.mark.slow)])
def test_torture_net_with_backpressure_gaps_and_repeats(simulator, storage):
    """4 layers: densities 0/40/60/100 %, w_bits 2-8, both resets, mixed β, θ < 0, repeated events,
    out-of-range input addresses, steps aborted by CLEAR."""
    art = torture_net()
    counts = random_counts(np.random.default_rng(1), art, steps=art.steps, samples=3, density=0.4)
    assert counts.max() == art.input_max_count
    assert all(s.any() for s in reference.run(art, counts).spikes), "every layer must spike"
    check(art, counts, simulator, stall=0.3, gap=0.2, shuffle=True, junk=0.2, abort=0.7, seed=2,
          storage=storage)


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_bundled_model_on_test_samples(simulator):
    art = load()
    counts, _ = spikes_for(art, limit=1)
    hw = check(art, counts, simulator)
    lower, upper = perf.step_cycles(art, counts)
    assert np.all((lower <= hw.cycles) & (hw.cycles <= upper)), np.c_[lower[:, 0], hw.cycles[:, 0], upper[:, 0]]


@pytest.mark.simulator("icarus")
@pytest.mark.parametrize("storage", ["csr", "dense", "delta"])
def test_one_synaptic_event_per_clock(storage):
    """One layer, input back to back: cycles = Σ max(1, stored words of the row) + n_out + a constant,
    every step (delta: escape words included)."""
    rng = np.random.default_rng(5)
    layer = random_layer(rng, 24, 20, density=0.5, w_bits=4, reset="subtract")
    art = Artifact.create([layer], input_max_count=2, steps=20)
    counts = random_counts(rng, art, steps=20, samples=2, density=0.5)
    counts[3] = 0  # an empty step
    hw = check(art, counts, "icarus", storage=storage)
    p = plan_layer(layer, 0, storage)
    if storage == "delta":
        assert len(p.synapses) > layer.nnz, "the test needs escape words"
    overhead = hw.cycles - perf.walk_cycles(layer, p, counts) - layer.n_out
    assert np.all(overhead[counts.sum(-1) > 0] == perf.LAYER_OVERHEAD), overhead
    assert np.all(overhead[counts.sum(-1) == 0] == perf.LAYER_OVERHEAD - perf.EMPTY_STEP_SAVING), overhead
    lower, upper = perf.step_cycles(art, counts, storage)
    assert np.array_equal(lower, hw.cycles) and np.array_equal(upper, hw.cycles)


def test_unbuildable_artifacts_fail_before_elaboration():
    wide = Layer.from_dense(np.ones((2, 3)), w_bits=4, theta=1, bias=(1 << 31) - 1, leak_b=128)
    with pytest.raises(GeneratorError, match=r"l0\.v_bound: membrane needs \d+ bits"):
        Core(Artifact.create([wide], steps=4))
    with pytest.raises(GeneratorError, match="artifact: expected"):
        Core("net.npz")
    with pytest.raises(GeneratorError, match="storage: unknown 'coo'"):
        Core(Artifact.create([Layer.from_dense(np.ones((2, 3)), w_bits=4, theta=1, leak_b=128)], steps=4),
             storage="coo")


SWEEP = [(seed, shape, density, reset) for seed, (shape, density, reset) in enumerate(
    (shape, density, reset) for shape in [(5, 3), (20, 17, 4), (9, 33, 8, 2)]
    for density in (0.0, 0.1, 0.6, 1.0) for reset in ("subtract", "zero"))]


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("seed,shape,density,reset", SWEEP,
                         ids=["-".join(map(str, s)) + f"_d{d}_{r}" for _, s, d, r in SWEEP])
def test_random_network_sweep(simulator, seed, shape, density, reset):
    """storage auto: the sweep's layers come out dense, CSR and delta."""
    art = random_net(seed, shape, density, reset)
    counts = random_counts(np.random.default_rng(0), art, steps=art.steps, samples=2, density=0.5)
    check(art, counts, simulator, stall=0.25, gap=0.1, shuffle=True, junk=0.1, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_bundled_model_many_samples(simulator):
    art = load()
    counts, _ = spikes_for(art, limit=20)
    check(art, counts, simulator, stall=0.1)
