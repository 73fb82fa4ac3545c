"""Will a model fit a board? Where each memory goes, and a pre-synthesis estimate of block RAM,
SPRAM and logic, with a clear refusal.

The memories come from the generator's plans (hw.gateware.plan: what the chip stores) plus the UART
bridge's FIFO. Read-only weights and row pointers go to SPRAM (loaded at boot from the flash image,
docs/hw-core.md) only when block RAM cannot hold them: `place` picks the set of memories that fits
block RAM with the fewest SPRAM blocks. Yosys packs memories better than whole-block arithmetic and
builds small ones from logic, so the block RAM figure is a range: `low` (memories of up to one block
become logic, the rest are packed to the bit) and `high` (every memory in whole blocks of its best
aspect ratio). A model is refused only when even `low` exceeds the board; between the two the build
goes ahead with a warning, and place & route has the final word. SPRAM blocks are exact.

`lanes` (synapses per clock, hw/gateware/lanes.py) changes the memories (wider synapse words with
padding, membrane banks) and the logic (a read-modify-write and a neuron pipeline per lane);
`lanes="auto"` takes the largest that fits (`choose_lanes`).
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import boards

from hw.gateware.lanes import LANES
from hw.gateware.plan import (SPRAM_DEPTH, SPRAM_WIDTH, MemoryPlan, check_lanes, hardware_layers,
                              memories as plan_memories, plan, plan_layer, spram_image, spram_kinds)
from hw.gateware.uart import FIFO_DEPTH, word_layout

# Logic model in LUT4, fitted to nextpnr's counts for four iCE40 builds of 1 to 3 layers
# (1074..2207 LCs, docs/build.md): UART bridge and first layer, then each further layer.
LUT_BASE = 700
LUT_LAYER = 450
# Per layer and lane beyond the first (a read-modify-write, a neuron pipeline, the slot and spike
# muxes): 140..350 in the iCEBreaker builds of 2-layer nets at 2 and 4 lanes (docs/build.md).
LUT_LANE = 250
LUT_SPREAD = 0.4  # coarse: the layer's width, storage and parameter ROMs move it by tens of percent
MAX_CHOICES = 10  # the largest memories `place` considers for SPRAM (2^10 subsets at most)


class FitError(ValueError):
    """The model cannot fit the board; the message says what is needed, what is there, what to change."""


@dataclass(frozen=True)
class Estimate:
    memories: tuple[MemoryPlan, ...]  # every memory of the design, with its placement
    ebr: tuple[int, int]  # (low, high) block RAMs
    spram: int  # SPRAM blocks
    lut: tuple[int, int]
    budget: dict[str, int]
    image_words: int  # 16-bit words loaded into SPRAM at boot
    lanes: int = 1  # synapses per clock the estimate is for

    @property
    def spram_names(self) -> tuple[str, ...]:
        """The memories in SPRAM, for `hw.gateware.core.Core(spram=...)`."""
        return tuple(m.name for m in self.memories if m.spram is not None)

    def as_dict(self) -> dict:
        return {"lanes": self.lanes,
                "ebr": {"low": self.ebr[0], "high": self.ebr[1], "available": self.budget["ebr"]},
                "spram": {"used": self.spram, "available": self.budget["spram"], "image_words": self.image_words},
                "lut": {"low": self.lut[0], "high": self.lut[1], "available": self.budget["lut"]},
                "memories": [{"name": m.name, "depth": m.depth, "width": m.width, "bits": m.bits,
                              "to": "block RAM" if m.spram is None else "SPRAM",
                              **({"spram_blocks": m.spram_blocks} if m.spram is not None else {})}
                             for m in self.memories]}


def blocks(depth: int, width: int, shapes) -> int:
    """Whole block RAMs for depth x width at the best aspect ratio."""
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in shapes)


def memories(art, spram=(), lanes: int = 1) -> list[MemoryPlan]:
    """Every memory of the design `hw.build` synthesises: the core's (`spram`, `lanes` as in
    hw.gateware.core.Core) and the UART bridge's FIFO (Amaranth's SyncFIFOBuffered keeps depth - 1
    words in memory, the last in its output register)."""
    fifo = MemoryPlan("fifo", FIFO_DEPTH - 1, word_layout(art.n_in).size)
    return plan_memories(plan(art, spram=spram, lanes=lanes)) + [fifo]


def ebr_range(mems, board) -> tuple[int, int]:
    """(low, high) block RAMs of the memories not in SPRAM."""
    shapes, block_bits = board.family.ebr_shapes, board.family.ebr_bits
    ebr = [m for m in mems if m.spram is None]
    return (sum(math.ceil(m.bits / block_bits) for m in ebr if m.bits > block_bits),
            sum(blocks(m.depth, m.width, shapes) for m in ebr))


def place(art, board, lanes: int = 1) -> tuple[str, ...]:
    """The memories to put in SPRAM: none when block RAM holds everything (whole blocks), else the
    set of read-only memories that leaves the fewest block RAMs over the budget with the fewest
    SPRAM blocks (every subset of the MAX_CHOICES largest is tried, each layer laid out as `plan`
    lays it out for that placement)."""
    mems = memories(art, lanes=lanes)
    if not board.budget["spram"] or ebr_range(mems, board)[1] <= board.budget["ebr"]:
        return ()
    shapes = board.family.ebr_shapes
    movable = sorted((m for m in mems if m.may_go_to_spram),
                     key=lambda m: -blocks(m.depth, m.width, shapes))[:MAX_CHOICES]
    fixed = sum(blocks(m.depth, m.width, shapes) for m in mems if not m.name.startswith("layer"))
    layers = hardware_layers(art, lanes)[0]

    @functools.cache
    def layer_memories(k: int, kinds: tuple[str, ...]) -> tuple[MemoryPlan, ...]:
        # A layer with memories in SPRAM is laid out for SPRAM (hw.gateware.plan.choose_layout).
        return tuple(plan_layer(layers[k], k, spram=kinds, lanes=lanes).memories())

    def cost(chosen):
        names = {m.name for m in chosen}
        layers = [m for k in range(len(art.layers)) for m in layer_memories(k, spram_kinds(names, k))]
        spram = sum(m.spram_blocks for m in layers if m.name in names)
        ebr = fixed + sum(blocks(m.depth, m.width, shapes) for m in layers if m.name not in names)
        return (spram > board.budget["spram"], max(0, ebr - board.budget["ebr"]), spram)

    subsets = (c for r in range(1, len(movable) + 1) for c in itertools.combinations(movable, r))
    best = min(subsets, key=cost, default=())
    return tuple(m.name for m in mems if m in best) if not cost(best)[0] else ()


def estimate(art, board, spram=None, lanes: int = 1) -> Estimate:
    """Block RAM, SPRAM and LUT figures of `art` on `board` (`spram`: the placement, default `place`)."""
    spram = place(art, board, lanes) if spram is None else spram
    plans = plan(art, spram=spram, lanes=lanes)
    mems = tuple(memories(art, spram, lanes))
    lut = LUT_BASE + (LUT_LAYER + LUT_LANE * (lanes - 1)) * len(art.layers)
    return Estimate(mems, ebr_range(mems, board), sum(m.spram_blocks for m in mems if m.spram is not None),
                    (round(lut * (1 - LUT_SPREAD)), round(lut * (1 + LUT_SPREAD))), board.budget,
                    len(spram_image(plans)), lanes)


def _advice(art, board, est: Estimate) -> str:
    """What would make it fit: the sparsity whose delta-coded weights (never more bits than CSR,
    sim/storage.py) fit the memory left over (block RAM to the bit, SPRAM one synapse word per
    16-bit lane), fewer bits, or the boards that have room. Counts are the plan's stored bits."""
    delta = plan(art, "delta")
    nnz = sum(l.nnz for l in art.layers)
    per_synapse = sum(len(p.synapses) * p.syn_width for p in delta) / max(nnz, 1)
    ptr_bits = sum(m.bits for p in delta for m in p.memories() if m.kind in ("rows", "coarse"))
    fixed = sum(m.bits for m in est.memories
                if not m.holds_weights and m.bits > board.family.ebr_bits)
    in_ebr = (board.budget["ebr"] * board.family.ebr_bits - fixed - ptr_bits) / per_synapse
    in_spram = board.budget["spram"] * SPRAM_DEPTH // math.ceil(per_synapse / SPRAM_WIDTH)
    total = sum(l.n_in * l.n_out for l in art.layers)
    tips = []
    keep = max(in_ebr, 0) + in_spram
    if 0 < keep < nnz:
        tips.append(f"prune to >= {1 - keep / total:.0%} sparsity (now {1 - nnz / total:.0%})")
    if any(l.w_bits > 2 for l in art.layers):
        tips.append("use fewer weight bits")
    bigger = [b.name for b in boards.BOARDS.values() if b is not board and not _short(estimate(art, b), b)]
    if bigger:
        tips.append(f"a bigger board: {', '.join(bigger)}")
    return "; ".join(tips) or "reduce the network size"


def _short(est: Estimate, board) -> list[str]:
    """What the estimate needs beyond the board: 'resource: needs >= n of m' per resource."""
    spram_need = sum(m.spram_blocks for m in est.memories if m.may_go_to_spram)
    return [f"{name}: needs >= {need} of {have}" for name, need, have in (
        ("block RAM (EBR)", est.ebr[0], board.budget["ebr"]),
        # When even block RAM plus SPRAM is short, say what all read-only memories in SPRAM would take.
        ("SPRAM" if est.ebr[0] <= board.budget["ebr"] else "SPRAM (every weight memory in it)",
         est.spram if est.ebr[0] <= board.budget["ebr"] else spram_need,
         board.budget["spram"]),
        ("LUT4", est.lut[0], board.budget["lut"])) if need > have and (have or not name.startswith("SPRAM"))]


def check(art, board, lanes: int | str = 1) -> Estimate:
    """Raise FitError when the model certainly cannot fit; return the estimate otherwise.
    `lanes`: synapses per clock, or "auto" for the largest that fits (`choose_lanes`)."""
    if lanes == "auto":
        return choose_lanes(art, board)
    check_lanes(lanes)
    est = estimate(art, board, lanes=lanes)
    short = _short(est, board)
    if short:
        at = f" with {lanes} lanes" if lanes > 1 else ""
        raise FitError(f"model does not fit {board.name}{at}: {'; '.join(short)}. Try: "
                       f"{'fewer lanes; ' if lanes > 1 else ''}{_advice(art, board, est)}.")
    return est


def choose_lanes(art, board) -> Estimate:
    """The estimate for the most lanes that fit without doubt: nothing short, and block RAM within
    the board even by the `high` count (so the build does not go ahead on a maybe); else 1 lane
    (checked as usual)."""
    for lanes in sorted(LANES, reverse=True)[:-1]:
        est = estimate(art, board, lanes=lanes)
        if not _short(est, board) and est.ebr[1] <= board.budget["ebr"]:
            return est
    return check(art, board, 1)
