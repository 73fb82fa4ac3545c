"""Planted bugs in the generator (one at a time) must make the RTL disagree with sim.reference on the
torture net: proof that the co-simulation catches the kinds of mistakes that matter (off-by-one
compares, read-modify-write hazards, rounding, address checks, walker steps)."""
import inspect

import numpy as np
import pytest

from hw.gateware import layer as layer_module
from hw.rtlsim import cosim
from random_nets import random_counts, torture_net
from sim import reference

STAGES = ("elaborate", "_walker", "_neuron_pass", "_accumulate", "_pass_state")
MUTANTS = {
    "fire on equal": ("s.fired2.eq(s.v > s.theta)", "s.fired2.eq(s.v >= s.theta)"),
    "no RMW forwarding": ("membrane.read_port(transparent_for=(mem_w,))", "membrane.read_port()"),
    "leak rounds up": ("leaked = prod2 >> p.leak_f", "leaked = (prod2 + (1 << p.leak_f) - 1) >> p.leak_f"),
    "address n_in accepted": ("self.events.payload.addr < p.n_in", "self.events.payload.addr <= p.n_in"),
    "subtract one too few": ("Mux(fired2, theta2, 0)", "Mux(fired2, theta2 - 1, 0)"),
    "walker skips a synapse": ("s.cur_next.eq(s.row_start + 1)", "s.cur_next.eq(s.row_start + 2)"),
}


def plant(monkeypatch, old: str, new: str) -> None:
    """Replace LifLayer's stages with those of a copy of hw/gateware/layer.py where `old` became `new`."""
    source = inspect.getsource(layer_module)
    assert source.count(old) == 1, f"the mutation site moved: {old!r}"
    namespace = dict(vars(layer_module))
    exec(compile(source.replace(old, new), layer_module.__file__, "exec"), namespace)
    namespace.update(Kind=layer_module.Kind, beat_stream=layer_module.beat_stream)  # keep port types
    for name in STAGES:
        monkeypatch.setattr(layer_module.LifLayer, name, vars(namespace["LifLayer"])[name])


@pytest.mark.slow
@pytest.mark.simulator("icarus")
@pytest.mark.parametrize("name", MUTANTS)
def test_planted_generator_bug_is_caught(name, monkeypatch):
    plant(monkeypatch, *MUTANTS[name])
    art = torture_net()
    counts = random_counts(np.random.default_rng(1), art, steps=art.steps, samples=3, density=0.4)
    try:
        hw = cosim.simulate(art, counts, "icarus", junk=0.2, shuffle=True, seed=2, storage="csr")
    except AssertionError:
        return  # the bench itself failed (an X on a port, a deadlock): caught as well
    assert cosim.first_mismatch(reference.run(art, counts).spikes, hw) is not None, f"{name} survived"


@pytest.mark.slow
@pytest.mark.simulator("icarus")
def test_the_harness_without_a_bug_agrees(monkeypatch):
    """Control: the same planting with nothing changed keeps every spike equal."""
    plant(monkeypatch, *(MUTANTS["fire on equal"][0],) * 2)
    art = torture_net()
    counts = random_counts(np.random.default_rng(1), art, steps=art.steps, samples=3, density=0.4)
    hw = cosim.simulate(art, counts, "icarus", junk=0.2, shuffle=True, seed=2, storage="csr")
    assert cosim.first_mismatch(reference.run(art, counts).spikes, hw) is None
