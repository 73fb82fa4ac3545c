"""Will a model fit a board? A pre-synthesis estimate of block RAM and logic, with a clear refusal.

The memories are read from the elaborated core (hw/gateware/core.py) and UART bridge (hw/gateware/uart.py). Yosys
packs memories better than whole-block arithmetic and builds small ones from logic, so each
figure is a range: `low` (memories of up to one block become logic, the rest are packed to the
bit) and `high` (every memory in whole blocks of its best aspect ratio). A model is refused only when even `low` exceeds the board; between the two the
build goes ahead with a warning, and place & route has the final word.

SPRAM is never used for weights: it is undefined at power-up and this build has no run-time
weight loader, so every weight must fit the pre-loadable block RAM.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from amaranth.hdl import Fragment, MemoryInstance, Shape

import boards

from hw.gateware.uart import UARTBridge

# Logic model in LUT4, fitted to nextpnr's counts for four iCE40 builds of 1 to 3 layers
# (1074..2207 LCs, docs/build.md): UART bridge and first layer, then each further layer.
LUT_BASE = 700
LUT_LAYER = 450
LUT_SPREAD = 0.4  # coarse: the layer's width, storage and parameter ROMs move it by tens of percent


class FitError(ValueError):
    """The model cannot fit the board; the message says what is needed, what is there, what to change."""


@dataclass(frozen=True)
class Memory:
    name: str
    depth: int
    width: int

    @property
    def bits(self) -> int:
        return self.depth * self.width


@dataclass(frozen=True)
class Estimate:
    memories: tuple[Memory, ...]
    ebr: tuple[int, int]  # (low, high) block RAMs
    lut: tuple[int, int]
    budget: dict[str, int]

    def as_dict(self) -> dict:
        return {"ebr": {"low": self.ebr[0], "high": self.ebr[1], "available": self.budget["ebr"]},
                "lut": {"low": self.lut[0], "high": self.lut[1], "available": self.budget["lut"]},
                "memories": [{"name": m.name, "depth": m.depth, "width": m.width, "bits": m.bits}
                             for m in self.memories]}


def blocks(depth: int, width: int, shapes) -> int:
    """Whole block RAMs for depth x width at the best aspect ratio."""
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in shapes)


def memories(art) -> list[Memory]:
    """Every memory of the design `hw.build` synthesises (core + UART bridge), read from the
    elaborated design itself, so the estimate follows the generator whatever layout it picks."""
    found = []

    def walk(fragment, path):
        for sub, name, *_ in fragment.subfragments:
            where = f"{path}.{name}" if path else str(name)
            if isinstance(sub, MemoryInstance):
                # Amaranth 0.5 keeps a memory's geometry on the instance's private `_data`.
                found.append(Memory(where.removeprefix("core.").removesuffix(".storage"), sub._data.depth,
                                    Shape.cast(sub._data.shape).width))
            walk(sub, where)

    walk(Fragment.get(UARTBridge(art, clk_hz=1e6, baud=100_000), None), "")
    return found


def estimate(art, board, mems=None) -> Estimate:
    """Block RAM and LUT ranges of `art` on `board` (pass `mems` to reuse memories())."""
    mems = tuple(memories(art) if mems is None else mems)
    shapes, block_bits = board.family.ebr_shapes, board.family.ebr_bits
    high = sum(blocks(m.depth, m.width, shapes) for m in mems)
    low = sum(math.ceil(m.bits / block_bits) for m in mems if m.bits > block_bits)
    lut = LUT_BASE + LUT_LAYER * len(art.layers)
    return Estimate(mems, (low, high), (round(lut * (1 - LUT_SPREAD)), round(lut * (1 + LUT_SPREAD))),
                    board.budget)


def _advice(art, board, est: Estimate) -> str:
    """What would make it fit: the sparsity whose CSR weights fit the block RAM left over, fewer
    bits, or the boards that have room."""
    block_bits = board.family.ebr_bits
    weights = (".synapses", ".rows")
    fixed = sum(m.bits for m in est.memories if not m.name.endswith(weights) and m.bits > block_bits)
    room = board.budget["ebr"] * block_bits - fixed
    accounts = [l.memory() for l in art.layers]
    nnz = sum(l.nnz for l in art.layers)
    ptr_bits = sum((l.n_in + 1) * a.ptr_bits for l, a in zip(art.layers, accounts))
    per_synapse = (sum(a.csr_bits for a in accounts) - ptr_bits) / max(nnz, 1)  # index + value bits
    total = sum(l.n_in * l.n_out for l in art.layers)
    tips = []
    keep = (room - ptr_bits) / per_synapse if per_synapse else 0
    if 0 < keep < nnz:
        tips.append(f"prune to >= {1 - keep / total:.0%} sparsity (now {1 - nnz / total:.0%})")
    if any(l.w_bits > 2 for l in art.layers):
        tips.append("use fewer weight bits")
    others = {b.name: (b, estimate(art, b, est.memories)) for b in boards.BOARDS.values()
              if b.budget["ebr"] * b.family.ebr_bits > board.budget["ebr"] * block_bits}
    bigger = [name for name, (b, e) in others.items()
              if e.ebr[0] <= b.budget["ebr"] and e.lut[0] <= b.budget["lut"]]
    if bigger:
        tips.append(f"a bigger board: {', '.join(bigger)}")
    return "; ".join(tips) or "reduce the network size"


def check(art, board) -> Estimate:
    """Raise FitError when the model certainly cannot fit; return the estimate otherwise."""
    est = estimate(art, board)
    short = [f"{name}: needs >= {need} of {have}"
             for name, need, have in (("block RAM (EBR)", est.ebr[0], board.budget["ebr"]),
                                      ("LUT4", est.lut[0], board.budget["lut"])) if need > have]
    if short:
        spram = (f" SPRAM ({board.budget['spram']} x {board.spram_bits // 1024} Kbit) is not an option: it is "
                 "undefined at power-up and this build has no run-time weight loader." if board.budget["spram"] else "")
        raise FitError(f"model does not fit {board.name}: {'; '.join(short)}. Try: {_advice(art, board, est)}.{spram}")
    return est
