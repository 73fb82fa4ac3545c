"""What the generator needs from an artifact: widths and memory contents per layer, checked up front.

Everything here is plain Python/numpy so that a model the core cannot hold is refused with a
one-line `GeneratorError` before any Amaranth elaboration starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from sim import storage as encodings
from . import lanes as packing
from sim.artifact import Artifact, Layer, leak, signed_bits, unsigned_bits as bits

# Limits of this generator (not of the format): they keep every counter and word to sane widths.
MAX_NEURONS = 1 << 16  # per layer, inputs and outputs: 16-bit addresses
MAX_SYNAPSES = 1 << 24  # per layer
MAX_V_WIDTH = 32  # membrane bits; the leak multiplier is v_width x (leak_f + 1)
STORAGES = ("auto", *encodings.ENCODINGS)
PARAMS = ("theta", "bias", "leak_b")  # per-neuron constants, in ROM word order
# iCE40 SB_SPRAM256KA: single port, 16K x 16 bit, undefined at power-up. Only read-only contents go
# there (loaded at boot); membranes need a read and a write per clock and stay in block RAM.
SPRAM_DEPTH = 1 << 14
SPRAM_WIDTH = 16
SPRAM_KINDS = ("synapses", "rows")  # the large weight memories: read-only after boot, so SPRAM may hold them
WEIGHT_KINDS = (*SPRAM_KINDS, "coarse")  # coarse row pointers: a few words, block RAM or logic


class GeneratorError(ValueError):
    """An artifact this generator cannot build; the message names the layer and the field."""


def signed_width(values) -> int:
    """Two's-complement bits for every value (and 0)."""
    values = np.asarray(values, np.int64)
    return signed_bits(min(int(values.min()), 0), max(int(values.max()), 0))


def next_base(layer: Layer, v: np.ndarray, fired: np.ndarray) -> np.ndarray:
    """The value the membrane RAM holds between steps: V(t+1) minus the weighted input of step t+1.

    Storing L(V) - r·θ + bias (subtract) or L((1-r)·V) + bias (zero) lets the accumulate phase add
    weights directly and the neuron pass only compare and prepare the next step.
    """
    lv = leak(v, layer.leak_b, layer.leak_f)
    if layer.reset == "subtract":
        return lv - fired * layer.theta + layer.bias
    return np.where(fired, 0, lv) + layer.bias


def _bank(values: list[int], b: int, lanes: int, depth: int) -> list[int]:
    """The values of bank b's neurons b, b + L, ..., padded with 0 to `depth` words."""
    bank = values[b::lanes]
    return bank + [0] * (depth - len(bank))


@dataclass(frozen=True)
class MemoryPlan:
    """One memory of the design: what the chip stores and where.

    `init`: the contents (pre-loaded into block RAM, or loaded at boot into SPRAM). `spram`: the
    first SPRAM block it occupies, or None for block RAM (or logic, if yosys prefers).
    """
    name: str  # "layer0.synapses", ..., "fifo": the path of the memory in the design
    depth: int
    width: int
    init: list[int] | None = None
    spram: int | None = None

    @property
    def bits(self) -> int:
        """Stored bits: SB_SPRAM256KA keeps 16-bit words whatever the memory's width, so in SPRAM
        every lane of every word counts 16."""
        return self.depth * (self.width if self.spram is None else self.spram_lanes * SPRAM_WIDTH)

    @property
    def kind(self) -> str:
        """What it holds: the last part of its name ("synapses", "rows", "membrane", "params", "fifo")."""
        return self.name.rsplit(".", 1)[-1]

    @property
    def holds_weights(self) -> bool:
        return self.kind in WEIGHT_KINDS

    @property
    def may_go_to_spram(self) -> bool:
        return self.kind in SPRAM_KINDS

    @property
    def spram_rows(self) -> int:
        return -(-self.depth // SPRAM_DEPTH)

    @property
    def spram_lanes(self) -> int:
        return -(-self.width // SPRAM_WIDTH)

    @property
    def spram_blocks(self) -> int:
        """SB_SPRAM256KA blocks: rows of 16K words, lanes of 16 bits side by side."""
        return self.spram_rows * self.spram_lanes


@dataclass(frozen=True)
class LayerPlan:
    """Widths and memory contents of one layer.

    `storage` is one of sim.storage.ENCODINGS, whose docstring gives the word layouts: "csr" and
    "delta" have `rows[j]` = offset | length << off_width and, when `group_bits` k > 0, `coarse`
    (row j starts at coarse[j >> k] + offset); "dense" has no row memory (row j starts at j·n_out).
    The widths are those of sim.storage.Encoded.
    """
    index: int
    n_in: int
    n_out: int
    storage: str
    in_width: int  # input address bits
    out_width: int  # output address bits
    ptr_width: int  # synapse address bits, up to the number of words (and coarse pointer bits)
    len_width: int  # row length bits (0: no row memory)
    off_width: int  # row offset bits (ptr_width without coarse pointers)
    group_bits: int  # k: rows per coarse pointer 2^k (0: no coarse memory)
    coarse: list[int] | None
    gap_width: int  # delta: skip field bits (0 otherwise)
    syn_width: int
    w_bits: int
    v_width: int
    leak_f: int
    reset: str
    rows: list[int] | None
    synapses: list[int]
    v_init: list[int]  # membrane RAM after reset = next_base(V(0) = 0)
    theta: list[int]
    bias: list[int]
    leak_b: list[int]
    spram: dict[str, int] = field(default_factory=dict)  # memory kind -> first SPRAM block
    lanes: int = 1  # L synapses per clock: membrane banks, slots per synapse word (hw/gateware/lanes.py)
    order: list[int] | None = None  # the artifact's neuron at each address (lanes.bank_order); None: the same

    @property
    def bank_depth(self) -> int:
        """Membrane words per bank: neuron n is word n // L of bank n % L."""
        return packing.bank_depth(self.n_out, self.lanes)

    @property
    def bank_width(self) -> int:
        """Address bits within a bank (`out_width` for L = 1)."""
        return packing.address_width(self.n_out, self.lanes)

    def bank_init(self, b: int) -> list[int]:
        """Bank b's membranes after reset (phantom neurons past n_out: 0)."""
        return _bank(self.v_init, b, self.lanes, self.bank_depth)

    def param_shape(self, name: str) -> tuple[int, bool]:
        """(bits, signed) of a per-neuron constant."""
        if name == "leak_b":
            return self.leak_f + 1, False
        return signed_width(getattr(self, name)), True

    @property
    def varying_params(self) -> list[str]:
        """Constants that differ between neurons and so need the parameter ROM."""
        return [name for name in PARAMS if len(set(getattr(self, name))) > 1]

    @property
    def params_rom(self) -> list[int] | None:
        """One word per neuron: the varying constants packed low to high, two's complement."""
        names = self.varying_params
        if not names:
            return None
        words = [0] * self.n_out  # Python ints: a word can be wider than 64 bits (θ, bias up to 32 each)
        shift = 0
        for name in names:
            width = self.param_shape(name)[0]
            mask = (1 << width) - 1
            words = [word | (value & mask) << shift for word, value in zip(words, getattr(self, name))]
            shift += width
        if self.lanes == 1:
            return words
        # The pass reads L neurons at one address: word a holds neurons aL .. aL + L - 1, lane b at b·shift.
        banks = [_bank(words, b, self.lanes, self.bank_depth) for b in range(self.lanes)]
        return [sum(bank[a] << (b * shift) for b, bank in enumerate(banks)) for a in range(self.bank_depth)]

    @property
    def params_width(self) -> int:
        return self.lanes * sum(self.param_shape(n)[0] for n in self.varying_params)

    def memories(self) -> list[MemoryPlan]:
        """Every memory the layer instantiates, in elaboration order, with its placement."""
        found = [("synapses", len(self.synapses), self.syn_width, self.synapses)]
        if self.lanes == 1:
            found.append(("membrane", self.n_out, self.v_width, self.v_init))
        else:
            found += [(f"membrane{b}", self.bank_depth, self.v_width, self.bank_init(b)) for b in range(self.lanes)]
        if self.rows is not None:
            found.append(("rows", self.n_in, self.off_width + self.len_width, self.rows))
        if self.coarse is not None:
            found.append(("coarse", len(self.coarse), self.ptr_width, self.coarse))
        if self.varying_params:
            found.append(("params", self.bank_depth, self.params_width, self.params_rom))
        return [MemoryPlan(f"layer{self.index}.{kind}", depth, width, init, self.spram.get(kind))
                for kind, depth, width, init in found]


def weight_memories(enc: encodings.Encoded, spram=()) -> list[MemoryPlan]:
    """The weight memories of a layout (no contents), those whose kind is in `spram` in SPRAM."""
    found = [("synapses", len(enc.synapses), enc.syn_width)]
    if enc.rows is not None:
        found.append(("rows", len(enc.rows), enc.row_width))
    if enc.coarse is not None:
        found.append(("coarse", len(enc.coarse), enc.ptr_width))
    return [MemoryPlan(kind, depth, width, spram=0 if kind in spram else None) for kind, depth, width in found]


def choose_layout(layer: Layer, storage: str, spram, lanes: int = 1) -> encodings.Encoded:
    """The layout of a layer with weight memories of the kinds in `spram` in SPRAM: fewest SPRAM
    blocks, then fewest stored bits (16 per SPRAM word and lane), among the layouts of `storage`
    (auto: every encoding that packs `lanes` slots per word) that have those memories. Where SPRAM
    words are 16 bits anyway, a layout with more, narrower words (delta's escapes) can take a block
    more than a wider one. Without SPRAM: the fewest stored bits."""
    options = encodings.ENCODINGS if storage == "auto" else (storage,)
    fitting = [enc for name in options for enc in packing.layouts(layer, name, lanes)
               if set(spram) <= {m.kind for m in weight_memories(enc)}]

    def cost(enc):
        mems = weight_memories(enc, spram)
        return sum(m.spram_blocks for m in mems if m.spram is not None), sum(m.bits for m in mems)

    return min(fitting, key=cost)


def check_lanes(lanes) -> None:
    if lanes not in packing.LANES:
        raise GeneratorError(f"lanes: {lanes!r} synapses per clock is not built; choose one of "
                             f"{', '.join(map(str, packing.LANES))}")


def plan_layer(layer: Layer, k: int, storage: str = "auto", spram=(), lanes: int = 1) -> LayerPlan:
    """`spram`: the kinds of the layer's weight memories that go to SPRAM ("synapses", "rows"),
    which steer the layout (`choose_layout`); without them auto stores the fewest bits. `lanes`:
    synapses accumulated per clock (hw/gateware/lanes.py: csr and dense only)."""
    check_lanes(lanes)
    where = f"l{k}"
    for name, n in (("n_in", layer.n_in), ("n_out", layer.n_out)):
        if n > MAX_NEURONS:
            raise GeneratorError(f"{where}.shape: {name} = {n} exceeds the generator's {MAX_NEURONS} neurons per layer")
    if layer.nnz > MAX_SYNAPSES:
        raise GeneratorError(f"{where}.idx: {layer.nnz} synapses exceed the generator's {MAX_SYNAPSES} per layer")
    # The stored base and every partial sum lie inside the proven bound (docs/hw-core.md), so
    # v_width bits suffice; theta and bias get their own widths.
    if layer.v_width > MAX_V_WIDTH:
        raise GeneratorError(f"{where}.v_bound: membrane needs {layer.v_width} bits, more than the generator's "
                             f"{MAX_V_WIDTH}; lower the weights/thresholds or use a leak < 1")
    if storage not in STORAGES:
        raise GeneratorError(f"storage: unknown {storage!r}; choose one of {', '.join(STORAGES)}")
    if lanes > 1 and storage not in ("auto", *packing.LANE_ENCODINGS):
        raise GeneratorError(f"storage: {storage} is not lane-packed; with lanes = {lanes} choose one of "
                             f"auto, {', '.join(packing.LANE_ENCODINGS)}")
    if spram or lanes > 1:
        enc = choose_layout(layer, storage, spram, lanes)
    elif storage == "auto":  # the encoding Layer.memory() reports, encoded once
        each = encodings.encode_each(layer)
        enc = each[encodings.cheapest({name: e.bits for name, e in each.items()})]
    else:
        enc = encodings.encode(layer, storage)
    storage = enc.encoding
    if storage == "dense" and layer.n_in * layer.n_out > MAX_SYNAPSES:
        raise GeneratorError(f"{where}.shape: {layer.n_in}x{layer.n_out} dense weights exceed the generator's "
                             f"{MAX_SYNAPSES} words; use CSR storage")
    if len(enc.synapses) > MAX_SYNAPSES:
        raise GeneratorError(f"{where}.idx: {len(enc.synapses)} {storage} synapse words exceed the generator's "
                             f"{MAX_SYNAPSES} per layer; use CSR storage")
    zero = np.zeros(layer.n_out, np.int64)
    v_init = next_base(layer, zero, zero > layer.theta)
    return LayerPlan(index=k, n_in=layer.n_in, n_out=layer.n_out, storage=storage, in_width=bits(layer.n_in - 1),
                     out_width=bits(layer.n_out - 1), ptr_width=enc.ptr_width, len_width=enc.len_width,
                     off_width=enc.off_width, group_bits=enc.group_bits,
                     coarse=None if enc.coarse is None else enc.coarse.tolist(),
                     gap_width=enc.gap_width, syn_width=enc.syn_width, w_bits=layer.w_bits, v_width=layer.v_width,
                     leak_f=layer.leak_f, reset=layer.reset, rows=None if enc.rows is None else enc.rows.tolist(),
                     synapses=enc.synapses.tolist(),
                     v_init=v_init.tolist(), theta=layer.theta.tolist(), bias=layer.bias.tolist(),
                     leak_b=layer.leak_b.tolist(), lanes=lanes)


def plan(art: Artifact, storage: str = "auto", spram=(), lanes: int = 1) -> list[LayerPlan]:
    """Plans of every layer; `storage` auto picks per layer the encoding with the fewest stored bits.

    `spram`: names of the memories to put in SPRAM ("layer0.synapses", ...; see `LayerPlan.memories`),
    or "all" for every memory SPRAM may hold (a test option: small models fit block RAM anyway). The
    names are those of the layouts for block RAM; a layer with some of them in SPRAM gets the layout
    with the fewest SPRAM blocks (`choose_layout`), which has memories of the same names. `lanes`:
    synapses accumulated per clock in every layer (hw/gateware/lanes.py).
    """
    if not isinstance(art, Artifact):
        raise GeneratorError(f"artifact: expected a sim.artifact.Artifact, got {type(art).__name__}")
    check_lanes(lanes)
    layers, orders = hardware_layers(art, lanes)
    plans = [plan_layer(layer, k, storage, lanes=lanes) for k, layer in enumerate(layers)]
    if spram:
        plans = _in_spram(layers, plans, storage, spram, lanes)
    return [p if order is None else replace(p, order=order.tolist()) for p, order in zip(plans, orders)]


def hardware_layers(art: Artifact, lanes: int) -> tuple[list[Layer], list[np.ndarray | None]]:
    """The layers with their neurons in the order the core holds them, and per layer the
    artifact's neuron at each address (None: the artifact's order): with L > 1 lanes every hidden
    layer's neurons are spread over the banks by `lanes.bank_order`, and the next layer's inputs
    follow; the last layer keeps its order."""
    last = len(art.layers) - 1
    orders = [packing.bank_order(layer, lanes) if lanes > 1 and k < last else None
              for k, layer in enumerate(art.layers)]
    layers = [packing.permuted(layer, orders[k - 1] if k else None, orders[k]) for k, layer in enumerate(art.layers)]
    return layers, orders


def _in_spram(layers: list[Layer], plans: list[LayerPlan], storage: str, spram, lanes: int) -> list[LayerPlan]:
    """The plans with the memories named in `spram` (or "all") placed in SPRAM."""
    eligible = [m.name for p in plans for m in p.memories() if m.may_go_to_spram]
    names = eligible if spram == "all" else list(spram)
    unknown = sorted(set(names) - set(eligible))
    if unknown:
        raise GeneratorError(f"spram: {', '.join(unknown)} cannot go to SPRAM; choose from {', '.join(eligible)}")
    # A layer with memories in SPRAM is laid out again for SPRAM's 16-bit words.
    kinds = [spram_kinds(names, k) for k in range(len(plans))]
    plans = [plan_layer(layer, k, storage, kinds[k], lanes) if kinds[k] else p
             for k, (layer, p) in enumerate(zip(layers, plans))]
    return place_spram(plans, names)


def spram_kinds(names, k: int) -> tuple[str, ...]:
    """The kinds of layer `k`'s memories among the SPRAM memory names."""
    return tuple(kind for kind in SPRAM_KINDS if f"layer{k}.{kind}" in names)


def place_spram(plans: list[LayerPlan], names) -> list[LayerPlan]:
    """Give each named memory whole SPRAM blocks, in layer order from block 0."""
    placed, block = [], 0
    for p in plans:
        spram = {}
        for m in p.memories():
            if m.name in names:
                spram[m.kind] = block
                block += m.spram_blocks
        placed.append(replace(p, spram=spram) if spram else p)
    return placed


def memories(plans: list[LayerPlan]) -> list[MemoryPlan]:
    return [m for p in plans for m in p.memories()]


def spram_image(plans: list[LayerPlan]) -> np.ndarray:
    """The SPRAM contents as 16-bit words: word `a` goes to block `a // SPRAM_DEPTH`, address
    `a % SPRAM_DEPTH`. A memory wider than 16 bits takes `spram_lanes` blocks side by side (lane l
    holds bits 16l..16l+15), one deeper than 16K words the next rows of blocks. Empty when nothing
    is in SPRAM; it ends after the last word used."""
    placed = [m for m in memories(plans) if m.spram is not None]
    if not placed:
        return np.zeros(0, np.uint16)
    image = np.zeros(max(m.spram + m.spram_blocks for m in placed) * SPRAM_DEPTH, np.uint16)
    end = 0
    for m in placed:
        words = np.asarray(m.init, np.uint64 if m.width <= 64 else object)  # lane-packed words can be wider
        for row in range(m.spram_rows):
            chunk = words[row * SPRAM_DEPTH:(row + 1) * SPRAM_DEPTH]
            for lane in range(m.spram_lanes):
                start = (m.spram + row * m.spram_lanes + lane) * SPRAM_DEPTH
                image[start:start + len(chunk)] = (chunk >> np.uint64(SPRAM_WIDTH * lane)) & np.uint64(0xFFFF)
                end = max(end, start + len(chunk))
    return image[:end]
