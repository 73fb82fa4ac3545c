"""The artifact's reports and limits with figures worked out by hand (sim/storage.py's word layouts),
for the mutants tests/sim/test_artifact.py lets through."""
import math
import re

import numpy as np
import pytest

from sim.artifact import Artifact, Layer, check_w_bits, load, memory_total, save

# One input feeding neuron 0 of 4 with weight 1 (w_bits 4):
#   dense: 4 words x 4 bits = 16
#   csr:   1 word of idx (2 bits) + value (4) = 6; rows: 1 x (ptr 1 + length 1) = 2  -> 8
#   delta: skip field 1 bit: 1 word of 5 bits + rows 2                            -> 7 (skip 2 bits: 8)
#   floor: log2 C(4, 1) = 2 for the position + 4 for the value = 6
ONE = Layer.from_dense([[1], [0], [0], [0]], w_bits=4, theta=10, leak_b=256, leak_f=8)
# Two neurons, no synapse: every memory keeps one word. dense 2 x 4 = 8; csr 1 word of 1 + 4 bits
# plus rows 1 x (1 + 1) = 7; delta the same 7: a tie, which goes to csr (the order of ENCODINGS).
EMPTY = Layer.from_dense([[0], [0]], w_bits=4, theta=10, leak_b=256, leak_f=8)


def test_memory_figures_of_a_one_synapse_layer():
    assert ONE.memory().as_dict() == {"encoding": "delta", "stored_bits": 7, "csr_bits": 8, "dense_bits": 16,
                                      "delta_bits": 7, "value_bits": 4, "entropy_bits": 2, "floor_bits": 6,
                                      "ratio": 1.167}


def test_memory_totals_sum_bits_and_join_encodings():
    assert memory_total([ONE.memory(), EMPTY.memory()]) == {
        "encoding": "delta/csr", "stored_bits": 14, "csr_bits": 15, "dense_bits": 24, "delta_bits": 14,
        "value_bits": 4, "entropy_bits": 2, "floor_bits": 6, "ratio": 2.333}
    assert memory_total([EMPTY.memory()])["ratio"] == math.inf  # nothing to store: no floor to compare with


def test_summary_lines():
    # beta = 1 and one event per step: V climbs 1, 2, ..., 5 over the 5 steps; 3 bits + sign.
    art = Artifact.create([ONE], steps=5, meta={"method": "osbc"})
    assert art.summary().splitlines() == [
        "artifact v1: 1 -> 4, T = 5, method = osbc",
        "  l0: 1x4 nnz=1 (75.0% sparse) w4 reset=subtract V in [0, 5] (4 b)",
        "      weights: 7 b stored as delta (csr 8, dense 16, delta 7); floor 6 b = positions 2 + values 4; "
        "1.17x the floor"]
    assert Artifact.create([ONE], steps=5).summary().startswith("artifact v1: 1 -> 4, T = 5, method = ?\n")


@pytest.mark.parametrize("bits", [2, 8, np.int64(4)])
def test_weight_widths_the_format_holds(bits):
    assert check_w_bits(bits) == bits and type(check_w_bits(bits)) is int


@pytest.mark.parametrize("bits, name, message", [
    (1, "bits", "bits: must be an integer in 2..8, got 1"),
    (9, "--bits", "--bits: must be an integer in 2..8, got 9"),
    (True, "bits", "bits: must be an integer in 2..8, got True"),
    (4.0, "bits", "bits: must be an integer in 2..8, got 4.0"),
    ("4", "bits", "bits: must be an integer in 2..8, got 4"),
])
def test_other_weight_widths_are_refused_by_name(bits, name, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_w_bits(bits) if name == "bits" else check_w_bits(bits, name)


def one_by_one(w=1):
    return Layer.from_dense([[w]], w_bits=4, theta=3, leak_b=128, leak_f=8)


@pytest.mark.parametrize("layers", [
    [one_by_one()],  # one layer of one neuron with one input: the smallest artifact
    [one_by_one() for _ in range(64)],  # MAX_LAYERS
    [Layer.from_dense(np.ones((1, 1 << 16), np.int64), w_bits=2, theta=3, leak_b=128)],  # 65536 inputs
    [Layer.from_dense(np.ones((1 << 16, 1), np.int64), w_bits=2, theta=3, leak_b=128)],  # 65536 outputs
])
def test_artifacts_at_the_format_limits_round_trip(tmp_path, layers):
    art = Artifact.create(layers, steps=3)
    back = load(save(art, tmp_path / "a.npz"))
    assert [(l.n_in, l.n_out, l.v_min, l.v_max) for l in back.layers] == [(l.n_in, l.n_out, l.v_min, l.v_max)
                                                                          for l in art.layers]


def test_saving_creates_missing_folders_and_writes_through_a_hidden_temporary(tmp_path, monkeypatch):
    seen = []
    real = np.savez_compressed

    def spy(fh, **data):
        seen.extend(p.name for p in (tmp_path / "x" / "y").iterdir())
        real(fh, **data)

    monkeypatch.setattr(np, "savez_compressed", spy)
    save(Artifact.create([one_by_one()], steps=2), tmp_path / "x" / "y" / "a.npz")
    assert len(seen) == 1 and seen[0].startswith(".a.npz.") and seen[0].endswith(".tmp")
    assert [p.name for p in (tmp_path / "x" / "y").iterdir()] == ["a.npz"]


def test_a_converging_bound_holds_for_any_number_of_steps():
    # beta = 1/2, one synapse of 1, theta 3: the interval settles after a few steps
    assert Artifact.create([one_by_one()], steps=50).bound_steps == (None,)
    # beta = 1, subtract reset: V's ceiling climbs 1, 2, 3, 4; above theta = 3 it may fire (4 - 3 + 1 = 2),
    # or not have fired (min(4, 3) + 1 = 4): the hull stays [0, 4] from step 4 on.
    art = Artifact.create([Layer.from_dense([[1]], w_bits=4, theta=3, leak_b=256, leak_f=8)], steps=50)
    assert art.bound_steps == (None,) and (art.layers[0].v_min, art.layers[0].v_max) == (0, 4)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("weights, theta, bias, leak_b", [
    ([[3, -2]], 2, 0, 256), ([[3, -2]], 4, -1, 192), ([[-3, 2]], -2, 1, 128), ([[5, 5]], 6, -3, 256),
    ([[2, -5]], 0, 2, 224), ([[7, -1]], 9, 0, 256)])
def test_bound_contains_every_reachable_membrane(reset, weights, theta, bias, leak_b):
    # Every input sequence of 0/1 events on two inputs over 5 steps (4^5 of them), simulated with the
    # integer steps of docs/artifact.md written out here: the proven bound must hold every membrane.
    steps = 5
    layer = Layer.from_dense(weights, w_bits=4, theta=theta, bias=bias, leak_b=leak_b, leak_f=8, reset=reset)
    art = Artifact.create([layer], steps=steps)
    w, lo, hi = np.array(weights[0]), art.layers[0].v_min, art.layers[0].v_max
    seen = set()
    for code in range(4 ** steps):
        v, fired = 0, 0 > theta
        for t in range(steps):
            x = np.array([(code >> (2 * t)) & 1, (code >> (2 * t + 1)) & 1])
            current = int(w @ x) + bias
            if reset == "subtract":
                v = ((leak_b * v) >> 8) + current - fired * theta
            else:
                v = ((leak_b * (0 if fired else v)) >> 8) + current
            fired = v > theta
            seen.add(v)
    assert lo <= min(seen) and max(seen) <= hi
