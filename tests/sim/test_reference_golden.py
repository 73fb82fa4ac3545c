"""The integer reference's outputs and refusals as a caller sees them, with values worked out by hand:
the dtypes `Result` promises, membranes only when asked, and the error lines that locate a problem
(which layer, which step, how many steps)."""
import dataclasses

import numpy as np
import pytest

from sim import reference
from sim.artifact import Artifact, Layer


def one_synapse(weight=7, steps=11) -> Artifact:
    # beta = 1, subtract reset, theta 10 (tests/sim/test_reference.py walks this membrane: 7, 14, 11, ...)
    return Artifact.create([Layer.from_dense([[weight]], w_bits=4, theta=10, leak_b=256, leak_f=8)], steps=steps)


def test_result_dtypes_and_membranes_only_when_asked():
    art = one_synapse()
    counts = np.ones((3, 2, 1), np.int64)
    plain = reference.run(art, counts)
    assert plain.membranes is None
    assert plain.spikes[0].dtype == np.uint8 and plain.spikes[0][:, 0, 0].tolist() == [0, 1, 1]
    full = reference.run(art, counts, membranes=True)
    assert full.membranes[0].dtype == np.int64 and full.membranes[0][:, 1, 0].tolist() == [7, 14, 11]


def test_bound_error_names_layer_membrane_bound_and_step():
    # Proven for one step (V <= 7), run for two: V(2) = 7 + 7 = 14 escapes at step index 1.
    short = dataclasses.replace(one_synapse(steps=1), steps=2, bound_steps=(2,))
    message = r"^l0: membrane \[14, 14\] left the proven bound \[0, 7\] at step 1$"
    with pytest.raises(reference.BoundError, match=message):
        reference.run(short, np.ones((2, 1, 1), np.int64))
    with pytest.raises(reference.BoundError, match=message):
        list(reference.trace(short, np.ones((2, 1), np.int64)))


def test_too_many_steps_names_every_short_layer():
    # beta = 1 never converges: both layers' bounds hold for the 3 steps they were proven for.
    layers = [Layer.from_dense([[7]], w_bits=4, theta=10, leak_b=256, leak_f=8),
              Layer.from_dense([[3]], w_bits=4, theta=2, leak_b=256, leak_f=8)]
    art = Artifact.create(layers, steps=3)
    with pytest.raises(ValueError, match=r"^input: 4 steps, but the membrane bound of l0, l1 holds for at most 3 steps "
                                         r"\(its interval had not converged by then\); rebuild the artifact with "
                                         r"steps >= 4$"):
        reference.run(art, np.ones((4, 1), np.int64))


def test_trace_refuses_a_batch():
    art = one_synapse()
    with pytest.raises(ValueError, match=r"^input: trace takes one sample \[T, 1\], got \(2, 3, 1\)$"):
        list(reference.trace(art, np.ones((2, 3, 1), np.int64)))
