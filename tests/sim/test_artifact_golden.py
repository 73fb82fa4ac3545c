"""The artifact's reports and limits with figures worked out by hand (sim/storage.py's word layouts),
for the mutants tests/sim/test_artifact.py lets through."""
import math
import re

import numpy as np
import pytest

from sim.artifact import Artifact, Layer, check_w_bits, memory_total

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
