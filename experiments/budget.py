"""Compress *to* a board: per-layer sparsity and weight width chosen to fit a memory budget with
the least membrane loss.

    python -m experiments.budget --fit icebreaker --model compress/checkpoints/mnist.pt --dataset mnist --out net.npz
    python -m experiments.budget --budget-bits 40000 --out net.npz       (weight bits, the bundled digits net)
    python -m experiments.budget --bits auto --max-loss 0.01 --sparsity 0.9 --out net.npz

The per-layer table: every layer compressed for real (OBS mask at that layer's sparsity, GPTQ at
that width) at every sparsity of --sparsities and every width of --bits, each entry with its
relative membrane loss and the memories the generator would build for it (hw.gateware.plan: CSR or
dense rows, word widths, membrane and parameter memories). The budget is a board (--fit: its block
RAM in whole blocks of the best aspect ratio and its SPRAM blocks, as hw.board.fit counts them,
less what the UART bridge's FIFO takes; weights and row pointers may go to either) or a number of
weight bits (--budget-bits: synapse and row memories, as the sweep counts them). A dynamic programme
over the layers picks the entries with the least summed relative membrane loss inside the budget;
the chosen layers form the artifact, which then passes the fit check. --compare also finds, per
width, the least sparse uniform point of `python -m compress` that fits the same budget and reports
the accuracy of the best of them beside the budgeted choice.

--bits auto --max-loss X: at one sparsity (--sparsity, allocated as compress does), per layer the
smallest width whose relative membrane loss stays at or under X.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

from console.progress import add_quiet_option, progress

import boards
import data as datasets
from compress.allocate import check_sparsity
from compress.api import load_model
from compress.calibrate import calibrate
from compress.pipeline import METHODS, Compressor, LayerReport
from compress.snntorch_import import CHECKPOINT_DEFAULT, float_layers, integer_layer
from data import user
from experiments.sweep import comma_separated, stored_bits
from hw.board import fit
from hw.gateware.plan import MemoryPlan, plan
from sim.artifact import Artifact, check_w_bits, save
from sim.evaluate import evaluate

SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99)
BITS = tuple(range(2, 9))


@dataclass(frozen=True)
class Option:
    """One entry of a layer's table: the layer compressed at (sparsity, bits)."""
    sparsity: float
    bits: int
    loss: float  # relative membrane loss after pruning and quantisation
    storage: str  # csr | dense, as the generator picks
    memories: tuple[MemoryPlan, ...]  # the layer's memories (contents dropped)
    layer: object  # the integer sim.artifact.Layer

    @property
    def weight_bits(self) -> int:
        return sum(m.bits for m in self.memories if m.holds_weights)


# --- the allocator -------------------------------------------------------------------------------

def allocate(tables, limit) -> list[tuple[int, int]] | None:
    """The least total loss inside a budget, exactly.

    tables: per layer a list of (loss, costs), costs a list of alternative cost vectors (e.g. one
    per placement of its memories); limit: the budget, a vector as long as the costs. Returns per
    layer (entry, alternative) of the choice whose summed costs stay within `limit` in every
    component with the least summed loss, or None when nothing fits. A dynamic programme over the
    layers keeping only the Pareto-optimal (cost, loss) states.
    """
    limit = tuple(limit)
    states = {tuple(0 for _ in limit): (0.0, ())}
    for table in tables:
        grown = {}
        for cost, (loss, picks) in states.items():
            for i, (entry_loss, alternatives) in enumerate(table):
                for j, extra in enumerate(alternatives):
                    total = tuple(a + b for a, b in zip(cost, extra))
                    if any(t > m for t, m in zip(total, limit)):
                        continue
                    value = (loss + entry_loss, picks + ((i, j),))
                    if total not in grown or value[0] < grown[total][0]:
                        grown[total] = value
        states = _pareto(grown)
        if not states:
            return None
    return list(min(states.values(), key=lambda v: v[0])[1])


def _pareto(states: dict) -> dict:
    """Drop every state that another state matches or beats in loss and in every cost."""
    kept = {}
    for cost, value in sorted(states.items(), key=lambda item: (item[1][0], item[0])):
        if not any(all(k <= c for k, c in zip(other, cost)) for other in kept):
            kept[cost] = value
    return kept


# --- budgets -------------------------------------------------------------------------------------

def board_costs(option: Option, board) -> list[tuple[int, int]]:
    """(block RAMs, SPRAM blocks) of the layer for every way of putting its weight memories in
    SPRAM: whole blocks at the best aspect ratio, as hw.board.fit's upper figure counts them."""
    shapes = board.family.ebr_shapes
    movable = [m for m in option.memories if m.may_go_to_spram] if board.budget["spram"] else []
    costs = []
    for r in range(len(movable) + 1):
        for to_spram in itertools.combinations(movable, r):
            costs.append((sum(fit.blocks(m.depth, m.width, shapes) for m in option.memories if m not in to_spram),
                          sum(m.spram_blocks for m in to_spram)))
    return costs


def board_limit(art: Artifact, board) -> tuple[int, int]:
    """The board's block RAM and SPRAM less the memories outside the layers (the UART FIFO)."""
    shell = [m for m in fit.memories(art) if not m.name.startswith("layer")]
    return board.budget["ebr"] - fit.ebr_range(shell, board)[1], board.budget["spram"]


def fits(art: Artifact, board) -> bool:
    """The fit check passes and even its whole-block count of block RAM is inside the board."""
    try:
        est = fit.check(art, board)
    except fit.FitError:
        return False
    return est.ebr[1] <= board.budget["ebr"] and est.spram <= board.budget["spram"]


# --- tables --------------------------------------------------------------------------------------

def tables(comp: Compressor, sparsities, bits, *, steps: int, input_max_count: int,
           progress_bar: bool = True) -> list[list[Option]]:
    """Per layer, an Option for every (sparsity, bits): every layer pruned to that sparsity and
    quantised to that width for real, its memories as the generator would lay them out."""
    sparsities = (0.0,) if comp.method == "rtn" else sparsities
    out = [[] for _ in comp.layers]
    points = list(itertools.product(sparsities, bits))
    bar = progress(total=len(points), desc="per-layer table", unit="point", disable=not progress_bar)
    for s in sparsities:
        keeps = comp.masks_for([round(s * w.size) for w in comp.dense])
        fitted = comp.weights(keeps)
        for b in bits:
            quant = comp.quantise(fitted, keeps, b)
            art = Artifact.create([integer_layer(fl, w, scale, b) for fl, (w, scale) in zip(comp.layers, quant)],
                                  input_max_count=input_max_count, steps=steps)
            for k, (p, (w, scale)) in enumerate(zip(plan(art), quant)):
                out[k].append(Option(s, b, comp.relative_loss(k, w * scale[:, None]), p.storage,
                                     tuple(replace(m, init=None) for m in p.memories()), art.layers[k]))
            bar.update()
    bar.close()
    return out


def choose(options: list[list[Option]], *, board=None, weight_bits: int | None = None,
           shell: Artifact | None = None) -> list[tuple[Option, tuple[int, ...]]] | None:
    """The per-layer options with the least summed loss inside a board (`shell`: any artifact of
    the model, for the memories outside the layers) or a number of weight bits, each with its cost:
    (block RAMs, SPRAM blocks) in the placement chosen, or (weight bits,)."""
    if (board is None) == (weight_bits is None):
        raise ValueError("budget: give a board or a number of weight bits")
    if board is not None:
        table = [[(o.loss, board_costs(o, board)) for o in layer] for layer in options]
        limit = board_limit(shell, board)
    else:
        table = [[(o.loss, [(o.weight_bits,)]) for o in layer] for layer in options]
        limit = (weight_bits,)
    picks = allocate(table, limit)
    return None if picks is None else [(layer[i], t[i][1][j]) for layer, t, (i, j) in zip(options, table, picks)]


def assemble(chosen: list[Option], *, steps: int, input_max_count: int, meta: dict | None = None) -> Artifact:
    meta = {"layer_sparsity": [o.sparsity for o in chosen],
            "layer_bits": [o.bits for o in chosen], **(meta or {})}
    return Artifact.create([o.layer for o in chosen], input_max_count=input_max_count, steps=steps, meta=meta)


def auto_bits(comp: Compressor, sparsity: float, max_loss: float, bits=BITS, *, steps: int,
              input_max_count: int, meta: dict | None = None) -> tuple[Artifact, list[LayerReport]]:
    """The artifact at `sparsity` (allocated as compress does) with, per layer, the smallest width
    whose relative membrane loss is at most max_loss, and Compressor's report per layer (the loss:
    loss_quantised). Masks and fits once; the artifact is made of the widths' quantisations found
    on the way. ValueError when even the widest is over."""
    keeps = comp.masks(sparsity)
    fitted = comp.weights(keeps)
    chosen: list[tuple[int, tuple] | None] = [None] * len(comp.layers)  # (width, (weights, scales))
    for b in sorted(bits):
        for k, (w, scale) in enumerate(comp.quantise(fitted, keeps, b)):
            if chosen[k] is None and comp.relative_loss(k, w * scale[:, None]) <= max_loss:
                chosen[k] = (b, (w, scale))
        if all(chosen):
            break
    missing = [k for k, c in enumerate(chosen) if c is None]
    if missing:
        raise ValueError(f"max-loss: layer {missing[0]} loses more than {max_loss:g} even at {max(bits)} bits "
                         f"and sparsity {sparsity:g}; allow more loss or prune less")
    layer_bits = [b for b, _ in chosen]
    return comp.assemble(sparsity, fitted, [q for _, q in chosen], layer_bits, steps=steps,
                         input_max_count=input_max_count, meta={"layer_bits": layer_bits, **(meta or {})})


def best_uniform(comp: Compressor, sparsities, bits, within, *, steps: int, input_max_count: int,
                 meta: dict | None = None, progress_bar: bool = True) -> dict[int, tuple[float, Artifact]]:
    """Per width, the least sparse grid point of `Compressor.compress` inside the budget
    (`within(art)` says), found by bisection: fewer weights always take less memory."""
    found = {}
    grid = sorted(sparsities)
    for b in progress(bits, desc="uniform points", unit="width", disable=not progress_bar):
        lo, hi, best = 0, len(grid) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            art, _ = comp.compress(grid[mid], b, steps=steps, input_max_count=input_max_count, meta=meta)
            if within(art):
                best, hi = (grid[mid], art), mid - 1
            else:
                lo = mid + 1
        if best is not None:
            found[b] = best
    return found


# --- the command ---------------------------------------------------------------------------------

_sparsities = comma_separated(float, "sparsities in [0, 1)", check_sparsity)
_widths = comma_separated(int, "widths in 2..8", check_w_bits)


def _bits(text: str):
    return text if text == "auto" else _widths(text)


def table_text(chosen: list[tuple[Option, tuple[int, ...]]]) -> str:
    head = f"{'layer':>5} {'shape':>10} {'sparsity':>8} {'bits':>4} {'nnz':>7} {'storage':>7} " \
           f"{'weight bits':>11} {'EBR':>4} {'SPRAM':>5} {'loss':>9}"
    lines = [head, "-" * len(head)]
    for k, (o, cost) in enumerate(chosen):
        ebr, spram = cost if len(cost) == 2 else ("-", "-")
        lines.append(f"{k:>5} {f'{o.layer.n_in}x{o.layer.n_out}':>10} {o.sparsity:>8.3f} {o.bits:>4} "
                     f"{o.layer.nnz:>7} {o.storage:>7} {o.weight_bits:>11} {ebr:>4} {spram:>5} {o.loss:>9.4g}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m experiments.budget", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=CHECKPOINT_DEFAULT, help="checkpoint (default: bundled digits)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", choices=datasets.DATASETS, help="bundled dataset (default: the model's)")
    src.add_argument("--data", type=Path, help="your own .npz of spike counts or events and labels (data/user.py)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--fit", metavar="BOARD", help=f"the budget is a board: {', '.join(boards.BOARDS)}")
    budget.add_argument("--budget-bits", type=int, help="the budget is this many weight bits (synapse and row memories)")
    p.add_argument("--sparsities", type=_sparsities, default=SPARSITIES, help="per-layer sparsities to consider")
    p.add_argument("--bits", type=_bits, default=BITS, help="widths to consider (default 2..8), or 'auto' with --max-loss")
    p.add_argument("--max-loss", type=float, help="with --bits auto: the largest relative membrane loss per layer")
    p.add_argument("--sparsity", type=float, default=0.9, help="with --bits auto: the sparsity (allocated as compress does)")
    p.add_argument("--method", choices=[m for m in METHODS if m != "rtn"], default="osbc")
    p.add_argument("--calib", type=int, default=256, help="calibration samples from the training split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare", action="store_true",
                   help="also find the most accurate uniform (sparsity, bits) point inside the same budget")
    p.add_argument("--test-limit", type=int, help="evaluate on the first N test samples only")
    p.add_argument("--no-eval", action="store_true", help="skip the integer test accuracy")
    p.add_argument("--out", type=Path, required=True)
    add_quiet_option(p)
    args = p.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(args) -> int:
    auto = args.bits == "auto"
    if auto and (args.max_loss is None or not args.max_loss > 0):
        raise ValueError("max-loss: --bits auto needs --max-loss > 0")
    if not auto and args.max_loss is not None:
        raise ValueError("max-loss: only with --bits auto")
    if not auto and args.fit is None and args.budget_bits is None:
        raise ValueError("budget: give --fit BOARD or --budget-bits N (or --bits auto --max-loss X)")
    if args.budget_bits is not None and args.budget_bits < 1:
        raise ValueError(f"budget-bits: must be >= 1, got {args.budget_bits}")
    if args.test_limit is not None and args.test_limit < 1:
        raise ValueError(f"test-limit: must be >= 1, got {args.test_limit}")
    check_sparsity(args.sparsity)
    board = boards.get(args.fit) if args.fit else None
    model, spec = load_model(args.model)
    if args.data:
        own = user.load(args.data)
        counts, max_count, meta = own.calibration(args.calib, args.seed), own.max_count, {"data": {"file": str(args.data)}}
    else:
        encoding = datasets.encoding_for(spec.get("encoding"), args.dataset)
        counts = datasets.calibration_counts(encoding, args.calib, args.seed)
        max_count, meta = encoding.max_count, {"encoding": encoding.to_meta()}
    meta = {"source": str(args.model), "seed": args.seed, **meta}
    shape = dict(steps=counts.shape[0], input_max_count=max_count)
    quiet = args.quiet

    def accuracy(art):
        return None if args.no_eval else evaluate(art, limit=args.test_limit, progress=False, data=args.data)

    t0 = time.perf_counter()
    comp = Compressor(float_layers(model), calibrate(model, counts, progress=not quiet), args.method,
                      progress=not quiet)
    comp.compute_traces()  # the OBS traces, when the method has them, now: the timings below leave them out
    traced = time.perf_counter()
    if auto:
        art, reports = auto_bits(comp, args.sparsity, args.max_loss, **shape, meta=meta)
        save(art, args.out)
        for k, (layer, r) in enumerate(zip(art.layers, reports)):
            print(f"layer {k}: {layer.w_bits} bits, relative membrane loss {r.loss_quantised:.4g}, sparsity {r.sparsity:.3f}")
        acc = accuracy(art)
        print(f"weight bits {stored_bits(art)}" + ("" if acc is None else f", integer test accuracy {acc:.4f}"))
        print(f"-> {args.out}")
        return 0
    options = tables(comp, args.sparsities, args.bits, **shape, progress_bar=not quiet)
    shell = Artifact.create([o.layer for o in (layer[0] for layer in options)], **shape)
    search = time.perf_counter()
    chosen = choose(options, board=board, weight_bits=args.budget_bits, shell=shell)
    if chosen is None:
        raise ValueError(f"budget: no choice of --sparsities and --bits fits {board.name if board else args.budget_bits}; "
                         "allow higher sparsities, or a bigger budget")
    table = table_text(chosen)
    chosen = [o for o, _ in chosen]
    art = assemble(chosen, **shape, meta={"method": comp.method, **meta})
    elapsed = time.perf_counter() - search
    within = (lambda a: fits(a, board)) if board else (lambda a: (stored_bits(a) or 0) <= args.budget_bits)
    print(table)
    print(f"total relative membrane loss {sum(o.loss for o in chosen):.4g}; weight bits {stored_bits(art)}")
    if board is not None:
        est = fit.check(art, board)
        print(f"fit check on {board.name}: EBR {est.ebr[0]}..{est.ebr[1]} of {board.budget['ebr']}, "
              f"SPRAM {est.spram} of {board.budget['spram']}" + ("" if within(art) else " (over the whole-block count)"))
    save(art, args.out)
    acc = accuracy(art)
    if acc is not None:
        print(f"integer test accuracy {acc:.4f}")
    print(f"traces {traced - t0:.1f} s, per-layer table {search - traced:.1f} s, search {elapsed:.2f} s -> {args.out}")
    if args.compare:
        found = best_uniform(comp, args.sparsities, args.bits, within, **shape, meta=meta, progress_bar=not quiet)
        if not found:
            print("uniform: no grid point fits")
        rows = []
        for b, (s, uni) in sorted(found.items()):
            rows.append((accuracy(uni), s, b, stored_bits(uni)))
            print(f"uniform {s:g} sparsity, {b} bits: weight bits {rows[-1][3]}"
                  + ("" if rows[-1][0] is None else f", integer test accuracy {rows[-1][0]:.4f}"))
        if rows and acc is not None:
            best = max(rows, key=lambda r: r[0])
            print(f"best uniform point that fits: {best[1]:g} sparsity, {best[2]} bits, accuracy {best[0]:.4f} "
                  f"(budgeted {acc:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
