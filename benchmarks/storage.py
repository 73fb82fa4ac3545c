"""Stored weight bits against the information floor, per encoding, on the reference networks.

    python -m benchmarks.storage [--out docs/sweep/storage.png]

For the MNIST 784-256-10 and event-MNIST 2312-256-10 checkpoints, every layer is magnitude-pruned
to each sparsity (per layer, the smallest |w| go: compress's magnitude mask) and rounded to 4 bits
(per-neuron scale; a kept weight never rounds to 0, so the sparsity is exact), and the bits the
core stores for it are counted with sim/storage.py: each encoding for every layer, and the automatic choice (per layer the
fewest bits). `bitmap` is not built in hardware; it is counted here for comparison as one bit per
possible synapse, the values, and a start pointer per row. Prints a Markdown table of stored bits /
floor of the whole net (floor = log2 C(n_in·n_out, nnz) + nnz·4, summed over layers) per column,
and per layer the automatic choice, its ratio and whether it stores at most min(dense, 1.25 ×
floor) (✓/✗); writes the plot.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from compress.osbc import magnitude_mask
from compress.snntorch_import import float_layers, load_checkpoint
from sim import storage
from sim.artifact import Layer, unsigned_bits

CHECKPOINTS = Path(__file__).resolve().parents[1] / "compress" / "checkpoints"
NETWORKS = {"MNIST 784-256-10": CHECKPOINTS / "mnist.pt", "event-MNIST 2312-256-10": CHECKPOINTS / "event_mnist.pt"}
SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99)
BITS = 4
TARGET = 1.25
COLUMNS = (*storage.ENCODINGS, "bitmap", "auto")


def pruned_layer(weight: np.ndarray, sparsity: float, bits: int) -> Layer:
    keep = magnitude_mask(weight, weight.size - round(weight.size * (1 - sparsity)))
    qmax = (1 << (bits - 1)) - 1
    scale = np.maximum(np.abs(weight * keep).max(axis=1, keepdims=True), 1e-12) / qmax
    w = np.clip(np.rint(weight / scale), -qmax, qmax)
    w = np.where(keep, np.where(w == 0, np.sign(weight), w), 0).astype(np.int64)
    return Layer.from_dense(w, w_bits=bits, theta=1, leak_b=128)


def bitmap_bits(layer: Layer) -> int:
    return layer.n_in * layer.n_out + layer.nnz * layer.w_bits + layer.n_in * unsigned_bits(layer.nnz)


def point(weights: list[np.ndarray], sparsity: float) -> dict:
    """Stored bits / floor of the whole net per column, and the worst layer's auto / min(dense, 1.25 floor)."""
    layers = [pruned_layer(w, sparsity, BITS) for w in weights]
    accounts = [l.memory() for l in layers]
    floor = sum(m.floor_bits for m in accounts)
    bits = {e: sum(m.stored[e] for m in accounts) for e in storage.ENCODINGS}
    bits["bitmap"] = sum(bitmap_bits(l) for l in layers)
    bits["auto"] = sum(m.stored_bits for m in accounts)
    per_layer = [f"{m.encoding}" + (f" d={storage.best_gap_width(l)}" if m.encoding == "delta" else "")
                 + f" {m.ratio:.2f}" + (" ✓" if m.stored_bits <= min(m.dense_bits, TARGET * m.floor_bits) else " ✗")
                 for m, l in zip(accounts, layers)]
    return {"ratio": {k: v / floor for k, v in bits.items()}, "auto_bits": bits["auto"], "floor": floor,
            "layers": " / ".join(per_layer)}


def table(results: dict) -> str:
    lines = []
    for net, points in results.items():
        lines += [f"**{net}**, {BITS}-bit", "",
                  "| sparsity | " + " | ".join(COLUMNS) + " | auto bits | floor bits | auto per layer: stored / floor |",
                  "|---" * (len(COLUMNS) + 4) + "|"]
        for s, r in points.items():
            lines.append(f"| {s:.0%} | " + " | ".join(f"{r['ratio'][c]:.2f}" for c in COLUMNS)
                         + f" | {r['auto_bits']} | {r['floor']:.0f} | {r['layers']} |")
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, (net, points) in zip(axes[0], results.items()):
        xs = [100 * s for s in points]
        for c in COLUMNS:
            style = {"auto": dict(color="k", lw=1, ls="--", marker="o", mfc="none", ms=9, zorder=3),
                     "delta": dict(lw=3, marker="."), "bitmap": dict(ls=":", marker="x")}.get(c, dict(marker="."))
            ax.plot(xs, [r["ratio"][c] for r in points.values()], label=c + (" (not built)" if c == "bitmap" else ""),
                    **style)
        ax.axhline(TARGET, color="gray", ls="--", lw=1, label=f"{TARGET}x the floor")
        ax.set(xlabel="sparsity (%)", ylabel="stored bits / floor", yscale="log", title=f"{net}, {BITS}-bit weights")
        ax.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.storage", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "sweep" / "storage.png")
    args = p.parse_args(argv)
    results = {}
    for net, path in NETWORKS.items():
        weights = [fl.weight for fl in float_layers(load_checkpoint(path)[0])]
        results[net] = {s: point(weights, s) for s in SPARSITIES}
    print(table(results))
    plot(results, args.out)
    print(f"plot: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
