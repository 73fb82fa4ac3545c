"""Command line of the integer reference.

    python -m sim eval [ARTIFACT] [--dataset digits|mnist] [--steps T] [--seed S] [--limit N]
    python -m sim show [ARTIFACT]
"""
from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from . import datasets
from .artifact import ArtifactError, load
from .reference import BoundError, run


def evaluate(art, dataset=None, steps=None, seed=None, limit=None, batch=256, progress=True) -> float:
    """Integer-model accuracy on the test split, encoded as the artifact says unless overridden."""
    counts, y = datasets.spikes_for(art, dataset, "test", steps, seed, limit)
    if counts.shape[-1] != art.n_in:
        raise ValueError(f"dataset: {dataset} has {counts.shape[-1]} inputs but the model takes {art.n_in}")
    hits = 0
    for i in tqdm(range(0, len(y), batch), desc="sim", disable=not progress, leave=False):
        hits += int((run(art, counts[:, i:i + batch]).classes == y[i:i + batch]).sum())
    return hits / len(y)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim", description="Bit-exact integer reference of the SNN core.")
    sub = p.add_subparsers(dest="cmd", required=True)
    ev = sub.add_parser("eval", help="accuracy of the integer model on a dataset's test split")
    ev.add_argument("artifact", nargs="?", help="artifact .npz (default: the bundled digits model)")
    ev.add_argument("--dataset", choices=datasets.DATASETS, help="default: the one the artifact was trained on")
    ev.add_argument("--steps", type=int, help="time steps (default: the artifact's)")
    ev.add_argument("--seed", type=int, help="seed of the rate code (default: the artifact's)")
    ev.add_argument("--limit", type=int, help="evaluate the first N test samples only")
    sh = sub.add_parser("show", help="print an artifact's layers, bounds and memory")
    sh.add_argument("artifact", nargs="?")
    args = p.parse_args(argv)
    try:
        art = load(args.artifact)
        if args.cmd == "show":
            print(art.summary())
            return 0
        dataset = args.dataset or art.meta.get("encoding", {}).get("dataset")
        acc = evaluate(art, dataset, args.steps, args.seed, args.limit, progress=sys.stderr.isatty())
    except (ArtifactError, BoundError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{dataset}: integer accuracy {acc:.4f} ({art.meta.get('method', '?')}, "
          f"{art.layers[0].n_in}-{'-'.join(str(l.n_out) for l in art.layers)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
