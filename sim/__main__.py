"""Command line of the integer reference.

    python -m sim eval [ARTIFACT] [--dataset digits|mnist] [--steps T] [--seed S] [--limit N]
    python -m sim show [ARTIFACT]
"""
from __future__ import annotations

import argparse
import sys

import data as datasets

from .artifact import ArtifactError, load
from .evaluate import evaluate
from .reference import BoundError


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
        dataset = args.dataset or (art.encoding.dataset if art.encoding else None)
        if args.limit is not None and args.limit < 1:
            raise ValueError(f"--limit: must be >= 1, got {args.limit}")
        acc = evaluate(art, dataset, args.steps, args.seed, args.limit, progress=sys.stderr.isatty())
    except (ArtifactError, BoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{dataset}: integer accuracy {acc:.4f} ({art.meta.get('method', '?')}, "
          f"{art.layers[0].n_in}-{'-'.join(str(l.n_out) for l in art.layers)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
