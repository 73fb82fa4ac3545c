"""Weight encodings (sim/storage.py): every encoding decodes to the layer's weights, and the stored
bits are the words the memories hold."""
import math

import numpy as np
import pytest

from sim import storage
from sim.artifact import Layer
from sim.testing import random_layer


def layer_of(w, w_bits=4):
    return Layer.from_dense(np.asarray(w), w_bits=w_bits, theta=1, leak_b=128)


def extreme_layers():
    """Empty rows and layers, full rows, one synapse at the last index, skips longer than any field."""
    n_out, n_in = 300, 6  # 9-bit neuron index: a skip of 299 overflows every short field
    w = np.zeros((n_out, n_in), np.int64)
    w[:, 1] = -8  # a full row at the most negative weight
    w[n_out - 1, 2] = 7  # one synapse at the last neuron: the longest possible skip
    w[[0, n_out - 1], 3] = [1, -1]  # first and last neuron, the largest gap between them
    w[::37, 4] = 5  # regular gaps of 36
    # row 0 and row 5 stay empty
    yield "extremes", layer_of(w)
    yield "empty layer", layer_of(np.zeros((4, 3)))
    yield "full 2-bit", layer_of(np.full((5, 7), -2), w_bits=2)
    yield "one neuron", layer_of([[3, 0, -1]])
    yield "one input", layer_of([[0], [2], [0], [-3]])
    rng = np.random.default_rng(3)
    for density in (0.0, 0.02, 0.3, 0.9, 1.0):
        for w_bits in (2, 4, 8):
            yield f"random {density} w{w_bits}", random_layer(rng, 37, 70, density=density, w_bits=w_bits)


LAYERS = list(extreme_layers())


@pytest.mark.parametrize("encoding", storage.ENCODINGS)
@pytest.mark.parametrize("name,layer", LAYERS, ids=[n for n, _ in LAYERS])
def test_round_trip(name, layer, encoding):
    enc = storage.encode(layer, encoding)
    assert np.array_equal(storage.decode(enc, layer.n_in, layer.n_out, layer.w_bits), layer.dense())
    assert len(enc.synapses) == max(1, enc.lengths.sum())
    widths = [enc.syn_width] + ([] if enc.rows is None else [enc.row_width])
    words = [enc.synapses] + ([] if enc.rows is None else [enc.rows])
    for word, width in zip(words, widths):
        assert word.min() >= 0 and int(word.max()).bit_length() <= width, "a word wider than its memory"
    coarse = 0 if enc.coarse is None else len(enc.coarse) * enc.ptr_width
    assert enc.bits == len(enc.synapses) * enc.syn_width + (0 if enc.rows is None else layer.n_in * enc.row_width) + coarse


def grouped_layer():
    """Rows of every kind around the groups of 2^k rows: empty groups (inputs 8..15 have no synapse),
    a group whose first row is empty, long rows before a group boundary, a single last row."""
    n_out, n_in = 40, 37
    w = np.zeros((n_out, n_in), np.int64)
    w[:, 3] = 5  # a full row just before the boundary of 4
    w[::3, 7] = -2  # the last row of a group of 8
    w[1::2, 17:24] = 3  # a run of long rows across a boundary of 16 ... 24
    w[[0, n_out - 1], 31] = [7, -8]
    w[n_out - 1, n_in - 1] = 1  # the last row: alone in its group for every k
    return layer_of(w)


@pytest.mark.parametrize("encoding", ["csr", "delta"])
@pytest.mark.parametrize("k", range(7))
def test_every_coarse_grouping_round_trips(encoding, k):
    layer = grouped_layer()
    enc = storage.encode(layer, encoding, group_bits=k)
    assert enc.group_bits == k and (enc.coarse is None) == (k == 0)
    assert np.array_equal(storage.decode(enc, layer.n_in, layer.n_out, layer.w_bits), layer.dense())
    starts = np.concatenate([[0], np.cumsum(enc.lengths)[:-1]])
    assert np.array_equal(enc.starts(), starts)
    if k:
        assert len(enc.coarse) == -(-layer.n_in // (1 << k))
        assert np.array_equal(enc.coarse, starts[::1 << k])  # each group's first row, empty or not
        offsets = starts - enc.coarse[np.arange(layer.n_in) >> k]
        assert enc.off_width == max(1, int(offsets.max()).bit_length())  # only what the groups need
        assert int(enc.coarse.max()).bit_length() <= enc.ptr_width
    assert enc.bits == len(enc.synapses) * enc.syn_width + layer.n_in * enc.row_width + (
        len(enc.coarse) * enc.ptr_width if k else 0)


def test_the_default_grouping_has_the_fewest_bits():
    rng = np.random.default_rng(7)
    sparse = random_layer(rng, 300, 64, density=0.04)  # short rows: offsets much narrower than pointers
    for encoding in ("csr", "delta"):
        enc = storage.encode(sparse, encoding)
        every = [storage.encode(sparse, encoding, gap_width=enc.gap_width or None, group_bits=k).bits
                 for k in range(10)]
        assert enc.bits == min(every) and enc.group_bits == every.index(min(every)) > 0


@pytest.mark.parametrize("name,layer", LAYERS, ids=[n for n, _ in LAYERS])
def test_every_delta_gap_width_round_trips_and_the_chosen_one_is_smallest(name, layer):
    chosen = storage.encode(layer, "delta").bits
    for d in range(1, max(1, (layer.n_out - 1).bit_length()) + 1):
        enc = storage.encode(layer, "delta", gap_width=d)
        assert np.array_equal(storage.decode(enc, layer.n_in, layer.n_out, layer.w_bits), layer.dense()), d
        assert enc.bits >= chosen
        # each synapse costs 1 + skip // 2^d words: escape words bridge the rest
        skips = [i - (prev + 1 if k else 0) for j in range(layer.n_in)
                 for k, (prev, i) in enumerate(zip([0, *layer.idx[layer.ptr[j]:layer.ptr[j + 1]]],
                                                   layer.idx[layer.ptr[j]:layer.ptr[j + 1]]))]
        assert len(enc.synapses) == max(1, layer.nnz + sum(s >> d for s in skips))


def test_long_gaps_need_escape_words_with_zero_weight():
    _, layer = LAYERS[0]
    enc = storage.encode(layer, "delta", gap_width=2)
    row = enc.rows[2]
    start, length = enc.starts()[2], row >> enc.off_width
    assert length == 1 + 299 // 4  # one synapse at neuron 299 after 74 escapes of 4 neurons each
    words = enc.synapses[start:start + length]
    assert np.all(words[:-1] == 3)  # skip 3, weight 0
    assert words[-1] == (299 - 74 * 4) | 7 << 2


def test_account_reports_stored_bits_floor_and_the_cheapest_encoding():
    layer = random_layer(np.random.default_rng(0), 50, 40, density=0.1)
    m = layer.memory()
    assert m.stored == {e: storage.encode(layer, e).bits for e in storage.ENCODINGS}
    assert m.stored_bits == min(m.stored.values()) and m.stored[m.encoding] == m.stored_bits
    assert m.dense_bits == 50 * 40 * 4
    assert m.entropy_bits == pytest.approx(math.log2(math.comb(2000, layer.nnz)))
    assert m.floor_bits == pytest.approx(m.entropy_bits + 4 * layer.nnz)
    assert m.ratio == pytest.approx(m.stored_bits / m.floor_bits)
    assert layer_of(np.zeros((3, 3))).memory().ratio == math.inf


def test_unknown_encoding_is_refused():
    with pytest.raises(ValueError, match="unknown encoding 'coo'"):
        storage.encode(layer_of([[1]]), "coo")
