"""Command line of the integer reference.

    python -m sim eval [ARTIFACT] [--dataset digits|mnist|event-mnist | --data FILE.npz] [--steps T] [--seed S]
                       [--limit N] [--quiet]
    python -m sim show [ARTIFACT]
    python -m sim export [ARTIFACT] --nir OUT.nir
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import data as datasets
from console.progress import add_quiet_option
from data import user

from .artifact import ArtifactError, load
from .evaluate import evaluate
from .reference import BoundError


def export(art, out: Path) -> int:
    """Write the NIR graph (sim/nir_export.py); say what NIR cannot carry."""
    import nir

    from .nir_export import to_nir

    graph, notes = to_nir(art)
    if out.is_dir():
        raise ValueError(f"--nir: {out} is a directory; name the .nir file")
    out.parent.mkdir(parents=True, exist_ok=True)
    nir.write(out, graph)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{out}: NIR graph of {' -> '.join([str(art.n_in)] + [str(l.n_out) for l in art.layers])} "
          f"({len(art.layers)} Affine/Linear + LIF/IF layers)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim", description="Bit-exact integer reference of the SNN core.")
    sub = p.add_subparsers(dest="cmd", required=True)
    ev = sub.add_parser("eval", help="accuracy of the integer model on a dataset's test split")
    ev.add_argument("artifact", nargs="?", help="artifact .npz (default: the bundled digits model)")
    src = ev.add_mutually_exclusive_group()
    src.add_argument("--dataset", choices=datasets.DATASETS, help="default: the one the artifact was trained on")
    src.add_argument("--data", type=Path, help="your own .npz of spike counts or events and labels (data/user.py)")
    ev.add_argument("--steps", type=int, help="time steps (default: the artifact's)")
    ev.add_argument("--seed", type=int, help="seed of the rate code (default: the artifact's)")
    ev.add_argument("--limit", type=int, help="evaluate the first N test samples only")
    add_quiet_option(ev)
    sh = sub.add_parser("show", help="print an artifact's layers, bounds and memory")
    sh.add_argument("artifact", nargs="?")
    ex = sub.add_parser("export", help="write the integer network as a NIR graph (docs/own-model.md)")
    ex.add_argument("artifact", nargs="?")
    ex.add_argument("--nir", type=Path, required=True, help="output .nir file")
    args = p.parse_args(argv)
    try:
        art = load(args.artifact)
        if args.cmd == "show":
            print(art.summary())
            return 0
        if args.cmd == "export":
            return export(art, args.nir)
        dataset = args.dataset or (art.encoding.dataset if art.encoding else None)
        if args.limit is not None and args.limit < 1:
            raise ValueError(f"--limit: must be >= 1, got {args.limit}")
        acc = evaluate(art, dataset, args.steps, args.seed, args.limit, data=args.data)
    except (ArtifactError, BoundError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.data or dataset or user.file_of(art.meta)}: integer accuracy {acc:.4f} ({art.meta.get('method', '?')}, "
          f"{art.layers[0].n_in}-{'-'.join(str(l.n_out) for l in art.layers)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
