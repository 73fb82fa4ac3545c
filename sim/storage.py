"""How a layer's weights are laid out in memory words: one owner for the stored bits.

`hw.gateware.plan` builds the core's weight memories from `encode`, and every report of "weight
memory" (the fit check, the build report, `python -m sim show`, compress's summary, the sweep)
counts the same words through `Layer.memory()` -> `account`. Pure numpy, no hardware: `sim/` and
`hw/` never import `compress/`, and both import this.

Rows are fan-out rows (row j = the synapses of input j, neuron index ascending, as in the artifact).
A row-based encoding has two or three memories:

* `rows`: one word per input, `offset | length << off_width`: where the row's first synapse word
  lies and how many words it has (`len_width` = bits of the longest row), instead of two absolute
  pointers; the walker adds them into its end register.
* `coarse` (when `group_bits` k > 0): one absolute pointer per group of 2^k rows, the first word of
  the group's first row; a row starts at `coarse[j >> k] + offset`, so `offset` needs only the bits
  of the words of the rows before it in its group. With k = 0 there is no coarse memory and
  `offset` is the absolute start. k is chosen per layer for the fewest bits.
* `synapses`: the words the walker reads, one per clock.

Encodings:

* `dense`: `n_in·n_out` words of `w_bits`, zeros included, word `j·n_out + i` = weight j -> i; no
  row memory (row j starts at `j·n_out`).
* `csr`: synapse word `idx | val << idx_width`.
* `delta`: synapse word `skip | val << gap_width`: the neuron is the previous one of the row plus
  1 plus `skip` (the first of a row: neuron `skip`). A skip of `2^gap_width` or more is bridged by
  escape words with the largest skip and weight 0, which the walker accumulates like any synapse
  (adding 0 is harmless), so decoding costs one adder and no special case: a row takes one clock
  per stored word, escapes included. `gap_width` is chosen per layer for the fewest bits.

Every memory has at least one word (an empty one is a single 0). The information floor is
`log2 C(n_in·n_out, nnz)` (which synapses survive) plus `nnz·w_bits` (their values).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .artifact import unsigned_bits as _bits

ENCODINGS = ("csr", "dense", "delta")


@dataclass(frozen=True, eq=False)
class Encoded:
    """One layer's weight memories as the chip stores them."""

    encoding: str
    synapses: np.ndarray  # int64 words, at least one
    syn_width: int
    lengths: np.ndarray  # int64 [n_in]: stored words per row (what the walker spends per event)
    rows: np.ndarray | None  # int64 [n_in] offset | length << off_width; None for dense
    ptr_width: int  # synapse address bits (and coarse pointer bits)
    len_width: int  # row length bits (0 for dense: no row memory)
    gap_width: int = 0  # delta: bits of the skip field
    off_width: int = 0  # row offset bits (ptr_width when group_bits is 0)
    group_bits: int = 0  # k: rows per coarse pointer 2^k; 0 = no coarse memory
    coarse: np.ndarray | None = None  # int64 [ceil(n_in / 2^k)] absolute start of each group

    @property
    def row_width(self) -> int:
        return self.off_width + self.len_width

    @property
    def bits(self) -> int:
        """Stored bits: every word of every memory at its full width."""
        rows = 0 if self.rows is None else len(self.rows) * self.row_width
        coarse = 0 if self.coarse is None else len(self.coarse) * self.ptr_width
        return len(self.synapses) * self.syn_width + rows + coarse

    def starts(self) -> np.ndarray:
        """The first synapse word of every row of a row-based encoding, as the walker adds it up."""
        offsets = self.rows & ((1 << self.off_width) - 1)
        if self.coarse is None:
            return offsets
        return self.coarse[np.arange(len(self.rows)) >> self.group_bits] + offsets

    def row_words(self):
        """(j, the words of row j) for every input row, as the walker finds them: a row-based
        encoding's from its row memory (and coarse pointers), dense rows (all `lengths[j]` long)
        at j·length."""
        starts = None if self.rows is None else self.starts()
        for j, length in enumerate(int(n) for n in self.lengths):
            if self.rows is None:
                start = j * length
            else:
                start, length = int(starts[j]), int(self.rows[j]) >> self.off_width
            yield j, [int(x) for x in self.synapses[start:start + length]]


def _skips(layer) -> np.ndarray:
    """Per synapse, the neurons skipped since the previous synapse of its row (from neuron 0 for the first)."""
    prev_next = np.concatenate([[0], layer.idx + 1])[:-1].astype(np.int64)
    first = np.zeros(layer.nnz, bool)
    counts = np.diff(layer.ptr)
    first[layer.ptr[:-1][counts > 0]] = True
    return layer.idx - np.where(first, 0, prev_next)


def _row_of_synapse(layer) -> np.ndarray:
    return np.repeat(np.arange(layer.n_in), np.diff(layer.ptr))


def _delta_lengths(layer, skips: np.ndarray, gap_width: int) -> np.ndarray:
    """Stored words per row with `gap_width`-bit skips: each synapse plus its escapes."""
    words = 1 + (skips >> gap_width)
    return np.bincount(_row_of_synapse(layer), weights=words, minlength=layer.n_in).astype(np.int64)


@dataclass(frozen=True)
class _RowLayout:
    ptr_width: int
    len_width: int
    off_width: int
    group_bits: int
    offsets: np.ndarray  # int64 [n_in]: each row's start, less its group's coarse pointer
    coarse: np.ndarray | None  # the start of every group's first row; None for k = 0

    @property
    def bits(self) -> int:
        coarse = 0 if self.coarse is None else len(self.coarse) * self.ptr_width
        return len(self.offsets) * (self.off_width + self.len_width) + coarse


def _row_layout(lengths: np.ndarray, group_bits: int) -> _RowLayout:
    ptr_width, len_width = _bits(int(lengths.sum())), _bits(int(lengths.max(initial=0)))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    if group_bits == 0:
        return _RowLayout(ptr_width, len_width, ptr_width, 0, starts, None)
    coarse = starts[::1 << group_bits]
    offsets = starts - np.repeat(coarse, 1 << group_bits)[:len(starts)]
    return _RowLayout(ptr_width, len_width, _bits(int(offsets.max(initial=0))), group_bits, offsets, coarse)


def _row_layouts(lengths: np.ndarray) -> list[_RowLayout]:
    """Every coarse grouping: k = 0 (absolute starts) up to one group for all rows."""
    return [_row_layout(lengths, k) for k in range(_bits(len(lengths) - 1) + 1)]


def _best_rows(lengths: np.ndarray) -> _RowLayout:
    """The row memories with the fewest bits (ties: the smaller k)."""
    return min(_row_layouts(lengths), key=lambda r: r.bits)


def _rowed_bits(lengths: np.ndarray, syn_width: int) -> int:
    return max(1, int(lengths.sum())) * syn_width + _best_rows(lengths).bits


def _gap_widths(layer) -> range:
    return range(1, _bits(layer.n_out - 1) + 1)


def best_gap_width(layer) -> int:
    """The delta skip field width with the fewest stored bits."""
    skips = _skips(layer)
    return min(_gap_widths(layer), key=lambda d: _rowed_bits(_delta_lengths(layer, skips, d),
                                                               d + layer.w_bits))


def layouts(layer, encoding: str) -> list[Encoded]:
    """Every layout of `encoding` the generator builds: delta at each skip width, one otherwise."""
    if encoding == "delta":
        return [encode(layer, "delta", d) for d in _gap_widths(layer)]
    return [encode(layer, encoding)]


def encode_each(layer) -> dict[str, Encoded]:
    """Every encoding of `layer`, each at its defaults (the fewest bits)."""
    return {name: encode(layer, name) for name in ENCODINGS}


def stored_bits(layer) -> dict[str, int]:
    """Bits each encoding stores, counted on the words themselves."""
    return {name: enc.bits for name, enc in encode_each(layer).items()}


def cheapest(sizes: dict[str, int]) -> str:
    """The encoding with the fewest stored bits (ties: the order of ENCODINGS)."""
    return min(ENCODINGS, key=sizes.__getitem__)


def rowed(encoding: str, layer, words: np.ndarray, lengths: np.ndarray, syn_width: int, gap_width: int = 0,
          group_bits: int | None = None) -> Encoded:
    """The layout of synapse `words` stored row after row (`lengths` words per input row), with the
    row memory (and coarse pointers: `group_bits`, default the fewest bits) that finds them."""
    rows = _best_rows(lengths) if group_bits is None else _row_layout(lengths, group_bits)
    return Encoded(encoding, words if len(words) else np.zeros(1, np.int64), syn_width, lengths,
                   rows.offsets | lengths << rows.off_width, rows.ptr_width, rows.len_width, gap_width,
                   rows.off_width, rows.group_bits, rows.coarse)


def encode(layer, encoding: str, gap_width: int | None = None, group_bits: int | None = None) -> Encoded:
    """The memory words of `layer` (anything with n_in, n_out, ptr, idx, val, w_bits, dense());
    `gap_width`: delta's skip field, `group_bits`: rows per coarse pointer 2^k of a row-based
    encoding (defaults: the fewest bits)."""
    w_mask = (1 << layer.w_bits) - 1
    if encoding == "dense":
        words = layer.dense().T.reshape(-1) & w_mask  # row j = weights j -> 0..n_out-1
        return Encoded("dense", words, layer.w_bits, np.full(layer.n_in, layer.n_out, np.int64), None,
                       _bits(layer.n_in * layer.n_out), 0)
    if encoding == "csr":
        idx_width = _bits(layer.n_out - 1)
        words = layer.idx | (layer.val & w_mask) << idx_width
        return rowed("csr", layer, words, np.diff(layer.ptr), idx_width + layer.w_bits, group_bits=group_bits)
    if encoding == "delta":
        d = best_gap_width(layer) if gap_width is None else gap_width
        skips = _skips(layer)
        escapes = skips >> d
        words = np.full(layer.nnz + int(escapes.sum()), (1 << d) - 1, np.int64)  # escapes: largest skip, weight 0
        at = np.cumsum(escapes + 1) - 1  # each synapse after its escapes
        words[at] = (skips - (escapes << d)) | (layer.val & w_mask) << d
        return rowed("delta", layer, words, _delta_lengths(layer, skips, d), d + layer.w_bits, d, group_bits)
    raise ValueError(f"storage: unknown encoding {encoding!r}; choose one of {', '.join(ENCODINGS)}")


def decode(enc: Encoded, n_in: int, n_out: int, w_bits: int) -> np.ndarray:
    """The weights [n_out, n_in] the walker adds, word by word as the hardware reads them."""
    w = np.zeros((n_out, n_in), np.int64)
    val_width = enc.syn_width - w_bits
    for j, words in enc.row_words():
        neuron = 0  # delta: the next neuron without a skip
        for k, word in enumerate(words):
            field = word & ((1 << val_width) - 1)
            value = word >> val_width
            value -= (value >> (w_bits - 1)) << w_bits  # two's complement
            i = k if enc.encoding == "dense" else field if enc.encoding == "csr" else neuron + field
            neuron = i + 1
            w[i, j] += value
    return w


def floor_bits(layer) -> float:
    """The information floor: log2 C(n_in·n_out, nnz) for which synapses survive + their values.

    It bounds the encodings of a mask without structure (every pattern of nnz synapses alike); a
    structured mask (e.g. empty rows for inputs that never fire) can be stored below it."""
    total = layer.n_in * layer.n_out
    positions = (math.lgamma(total + 1) - math.lgamma(layer.nnz + 1) - math.lgamma(total - layer.nnz + 1)) / math.log(2)
    return positions + layer.nnz * layer.w_bits
