"""Synapse words for a layer that accumulates `lanes` (L) synapses per clock, and their software model.

The membranes are L banks: neuron n lives in bank n % L at address n // L (`bank_depth` =
ceil(n_out / L) words each; the addresses past n_out in the last row of banks are phantom neurons that
only ever get weight 0 and never spike). One synapse word holds L slots, slot b (bits b·s..b·s+s−1)
for bank b, so a word feeds every bank at once without a conflict:

* `csr`: slot = `address | val << address_width` (address within the bank). Row j takes
  max_b(its synapses in bank b) words; slot b of word k is the k-th synapse of the row in bank b,
  or an empty slot (address 0, weight 0: the bank adds 0 to a membrane, no special case, as with
  delta's escape words). The empty slots are the padding (`padding_slots`).
* `dense`: slot b of word k of row j = the weight j -> k·L + b (0 past n_out), ceil(n_out / L)
  words per row; the address is the word's position in the row, as for L = 1.

A row's words are as many as its fullest bank has synapses, so which neurons share a bank matters:
the neurons of a hidden layer (whose output order is internal: layer k's outputs are layer k+1's
inputs) are assigned to banks by `bank_order` to even out the rows, and `permuted` reorders the
layer's outputs and the next layer's inputs to match. The last layer keeps its neuron order.

Delta coding is not lane-packed (its neuron is a running sum along the row, one adder chain per
word). Rows, coarse pointers and their widths are sim/storage.py's, over the packed word counts.
With L = 1 the words are exactly sim/storage.py's.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from sim import storage as encodings
from sim.artifact import Layer, unsigned_bits as bits

LANES = (1, 2, 4)
LANE_ENCODINGS = ("csr", "dense")  # the encodings that pack L synapses per word


def bank_depth(n_out: int, lanes: int) -> int:
    return -(-n_out // lanes)


def address_width(n_out: int, lanes: int) -> int:
    """Bits of a neuron's address within its bank."""
    return bits(bank_depth(n_out, lanes) - 1)


def _words(slots: np.ndarray, slot_width: int) -> np.ndarray:
    """Pack slots [..., L] into words, slot b at bit b·slot_width (Python ints beyond 63 bits)."""
    lanes = slots.shape[-1]
    wide = lanes * slot_width > 63
    slots = slots.astype(object if wide else np.int64)
    words = np.zeros(slots.shape[:-1], slots.dtype)
    for b in range(lanes):
        words = words | slots[..., b] << (b * slot_width)
    return words


def layouts(layer, encoding: str, lanes: int) -> list[encodings.Encoded]:
    """The layouts of `encoding` with L slots per word: sim/storage.py's own for L = 1, none for
    delta with L > 1."""
    if lanes == 1:
        return encodings.layouts(layer, encoding)
    return [encode(layer, encoding, lanes)] if encoding in LANE_ENCODINGS else []


def encode(layer, encoding: str, lanes: int) -> encodings.Encoded:
    """The lane-packed words of `layer` (csr or dense, L > 1)."""
    w_mask = (1 << layer.w_bits) - 1
    depth = bank_depth(layer.n_out, lanes)
    if encoding == "dense":
        w = np.zeros((layer.n_in, depth * lanes), np.int64)
        w[:, :layer.n_out] = layer.dense().T & w_mask
        words = _words(w.reshape(layer.n_in, depth, lanes), layer.w_bits).reshape(-1)
        return encodings.Encoded("dense", words, lanes * layer.w_bits, np.full(layer.n_in, depth, np.int64), None,
                                 bits(layer.n_in * depth), 0)
    if encoding != "csr":
        raise ValueError(f"lanes: {encoding} storage is not lane-packed; choose one of {', '.join(LANE_ENCODINGS)}")
    aw = address_width(layer.n_out, lanes)
    row = np.repeat(np.arange(layer.n_in), np.diff(layer.ptr))
    bank = layer.idx % lanes
    group = row * lanes + bank  # synapses of one row in one bank, ascending neuron (the artifact's order)
    per_group = np.bincount(group, minlength=layer.n_in * lanes).reshape(layer.n_in, lanes)
    lengths = per_group.max(axis=1).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    order = np.argsort(group, kind="stable")
    group_start = np.concatenate([[0], np.cumsum(per_group.reshape(-1))[:-1]])
    rank = np.empty(layer.nnz, np.int64)
    rank[order] = np.arange(layer.nnz) - group_start[group[order]]
    slots = np.zeros((int(lengths.sum()), lanes), np.int64)
    slots[starts[row] + rank, bank] = (layer.idx // lanes) | (layer.val & w_mask) << aw
    return encodings.rowed("csr", layer, _words(slots, aw + layer.w_bits), lengths, lanes * (aw + layer.w_bits))


def decode(enc: encodings.Encoded, n_in: int, n_out: int, w_bits: int, lanes: int) -> np.ndarray:
    """The weights [n_out, n_in] the L banks add, slot by slot as the hardware reads the words
    (a phantom neuron past n_out must only ever get 0)."""
    slot_width = enc.syn_width // lanes
    aw = slot_width - w_bits
    depth = bank_depth(n_out, lanes)
    w = np.zeros((depth * lanes, n_in), np.int64)
    for j, words in enc.row_words():
        for k, word in enumerate(words):
            for b in range(lanes):
                slot = word >> (b * slot_width) & ((1 << slot_width) - 1)
                value = slot >> aw
                value -= (value >> (w_bits - 1)) << w_bits  # two's complement
                address = k if enc.rows is None else slot & ((1 << aw) - 1)
                w[address * lanes + b, j] += value
    if w[n_out:].any():
        raise ValueError("lanes: a phantom neuron past n_out gets a weight")
    return w[:n_out]


def padding_slots(lengths: np.ndarray, encoding: str, layer, lanes: int) -> int:
    """Slots of a layout with `lengths` words per row that hold no synapse of the layer (empty CSR
    slots; dense: the tail past n_out; dense zeros count as synapses of the encoding, as with L = 1)."""
    return int(np.sum(lengths)) * lanes - (layer.n_in * layer.n_out if encoding == "dense" else layer.nnz)


def bank_order(layer, lanes: int) -> np.ndarray:
    """The neuron at each address (address h in bank h % L) that keeps the rows' fullest banks
    small: greedily, the neurons with most synapses first, each into the bank with room where it
    raises the fewest rows' word counts (ties: the bank with most room, then the lowest). Each
    bank's neurons keep their ascending order. Deterministic; about 1.6 k of 12.8 k layer-0 walk
    cycles per sample fewer for MNIST 784-256 at 97 % over 4 lanes (docs/hw-core.md)."""
    present = (layer.dense() != 0).T.astype(np.int64)  # [n_in, n_out]
    room = np.array([len(range(b, layer.n_out, lanes)) for b in range(lanes)])
    counts = np.zeros((layer.n_in, lanes), np.int64)
    fullest = np.zeros(layer.n_in, np.int64)
    bank = np.empty(layer.n_out, np.int64)
    for neuron in np.argsort(-present.sum(0), kind="stable"):
        column = present[:, neuron]
        raised = ((counts + column[:, None]) > fullest[:, None]).astype(np.int64).T @ column
        raised = np.where(room > 0, raised, np.iinfo(np.int64).max)
        b = int(np.lexsort((np.arange(lanes), -room, raised))[0])
        counts[:, b] += column
        fullest = np.maximum(fullest, counts[:, b])
        room[b] -= 1
        bank[neuron] = b
    order = np.empty(layer.n_out, np.int64)
    for b in range(lanes):
        order[b::lanes] = np.flatnonzero(bank == b)
    return order


def permuted(layer: Layer, inputs: np.ndarray | None, outputs: np.ndarray | None) -> Layer:
    """`layer` with input j' = old input inputs[j'] and neuron i' = old neuron outputs[i'] (None:
    unchanged); the same LIF layer, so the proven membrane bound carries over."""
    if inputs is None and outputs is None:
        return layer
    inputs = np.arange(layer.n_in) if inputs is None else inputs
    outputs = np.arange(layer.n_out) if outputs is None else outputs
    moved = Layer.from_dense(layer.dense()[outputs][:, inputs], w_bits=layer.w_bits, theta=layer.theta[outputs],
                             bias=layer.bias[outputs], leak_b=layer.leak_b[outputs], leak_f=layer.leak_f,
                             reset=layer.reset, scale=layer.scale[outputs])
    return dataclasses.replace(moved, max_count=layer.max_count, v_min=layer.v_min, v_max=layer.v_max)
