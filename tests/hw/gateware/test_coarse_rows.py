"""Coarse row pointers on the RTL: a layer whose rows are `offset | length` within groups of 2^k
rows plus one pointer per group, against sim.reference, at the cycle model's exact count (the
coarse pointer is read in the same cycle as the row: no extra cycle per row)."""
import numpy as np
import pytest

from hw.gateware import perf
from hw.gateware.plan import plan
from random_nets import random_counts
from sim.artifact import Artifact
from sim.testing import random_layer
from test_core import check


def sparse_net() -> Artifact:
    """60 inputs of a few synapses each: narrow offsets beat absolute pointers, with empty rows."""
    rng = np.random.default_rng(11)
    return Artifact.create([random_layer(rng, 60, 16, density=0.12, w_bits=4, reset="subtract")],
                           input_max_count=2, steps=10)


@pytest.mark.parametrize("simulator,storage,spram", [
    ("icarus", "delta", ()), ("icarus", "csr", ("layer0.rows",)),
    pytest.param("verilator", "delta", (), marks=pytest.mark.slow),
    pytest.param("verilator", "csr", ("layer0.rows",), marks=pytest.mark.slow)])
def test_coarse_rows_are_bit_exact_at_one_synapse_per_clock(simulator, storage, spram):
    art = sparse_net()
    (p,) = plan(art, storage, spram)
    assert p.group_bits > 0 and len(p.coarse) == -(-60 // (1 << p.group_bits)) and p.off_width < p.ptr_width
    counts = random_counts(np.random.default_rng(4), art, steps=10, samples=2, density=0.5)
    hw = check(art, counts, simulator, storage=storage, spram=spram)
    lower, upper = perf.step_cycles(art, counts, storage, spram)
    assert np.array_equal(lower, hw.cycles) and np.array_equal(upper, hw.cycles)
