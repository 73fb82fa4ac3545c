"""Membrane loss of OSBC vs OBC-current vs magnitude across sparsities, and the integer model's
accuracy at one operating point, on the bundled digits model.

    python -m benchmarks.compress_quality                      # ~1 min on 2 cores
    python -m benchmarks.compress_quality --calib 512 --seed 1 --point 0.95

Each method is calibrated and traced once, then read out at every sparsity (pruning only: the
loss is the membrane error of the compensated, unrounded weights, relative to the dense layer's
membrane energy, summed over the layers). Accuracy is sim.reference on the digits test split.
"""
from __future__ import annotations

import argparse


from console.progress import add_quiet_option
from compress.calibrate import calibrate
from compress.pipeline import Compressor
from compress.snntorch_import import CHECKPOINT_DEFAULT, float_layers, load_checkpoint
import data as datasets
from sim.evaluate import accuracy

SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99)
PRUNERS = ("osbc", "obc", "magnitude")


def total_loss(comp: Compressor, sparsity: float, bits: int | None = None) -> float:
    """sum_k loss_k / sum_k energy_k over the layers, after pruning (and quantising when bits)."""
    keeps = comp.masks(sparsity)
    weights = comp.weights(keeps)
    if bits is not None:
        weights = [w_int * scale[:, None] for w_int, scale in comp.quantise(weights, keeps, bits)]
    loss = sum(comp.relative_loss(k, w) * comp.energy[k] for k, w in enumerate(weights))
    return loss / sum(comp.energy)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--calib", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--point", type=float, default=0.9, help="sparsity of the accuracy comparison")
    p.add_argument("--bits", type=int, default=4)
    add_quiet_option(p)
    args = p.parse_args(argv)

    model, spec = load_checkpoint(CHECKPOINT_DEFAULT)
    enc = datasets.as_encoding(spec["encoding"])
    counts = datasets.calibration_counts(enc, args.calib, args.seed)
    calib = calibrate(model, counts, current=True)
    layers = float_layers(model)
    comps = {m: Compressor(layers, calib, m) for m in (*PRUNERS, "rtn")}

    print(f"relative membrane loss, pruning only (calib {args.calib}, seed {args.seed}):\n")
    print("| sparsity | " + " | ".join(PRUNERS) + " | osbc / obc | osbc / magnitude |")
    print("|---" * (len(PRUNERS) + 3) + "|")
    for s in SPARSITIES:
        loss = {m: total_loss(comps[m], s) for m in PRUNERS}
        print(f"| {s:.2f} | " + " | ".join(f"{loss[m]:.4g}" for m in PRUNERS)
              + f" | {loss['osbc'] / loss['obc']:.3f} | {loss['osbc'] / loss['magnitude']:.3f} |")

    x, y = datasets.load("digits", "test")
    test = datasets.encode(x, enc.code, enc.steps, enc.seed)
    print(f"\ninteger test accuracy ({len(y)} samples), {args.bits}-bit:\n")
    print("| method | sparsity | membrane loss (+quant) | accuracy |\n|---|---|---|---|")
    for m in (*PRUNERS, "rtn"):
        s = 0.0 if m == "rtn" else args.point
        art, _ = comps[m].compress(s, args.bits, steps=enc.steps)
        acc = accuracy(art, test, y)
        print(f"| {m} | {s:.2f} | {total_loss(comps[m], s, args.bits):.4g} | {acc:.4f} |")


if __name__ == "__main__":
    main()
