"""Compress a trained snnTorch SNN in one shot and write the integer artifact.

    python -m compress --dataset digits --method osbc --sparsity 0.9 --bits 4 --out net.npz
    python -m compress --model my.pt --dataset mnist --method magnitude --sparsity 0.97 --calib 512 --out m.npz
    python -m compress --model net.nir --data d.npz --bits 8 --out net.npz
    python -m compress --model state_dict.pt --spec net.json --data d.npz --out net.npz

Without --model the bundled digits checkpoint is used. --model takes a checkpoint of this project,
a plain state_dict with a JSON --spec, or a NIR graph (docs/own-model.md). Calibration samples come
from the training split (chosen and spike-encoded from --seed, with the model's code and steps) of
--dataset, or from your own --data file; the summary's accuracy is the integer model's
(sim.reference) on the test split.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import data as datasets
from console.progress import add_quiet_option
from data import user
from sim.evaluate import evaluate
from sim.artifact import memory_total, save

from .api import compress, load_model
from .pipeline import METHODS, check_bits
from .allocate import RULES, check_sparsity
from .osbc import resolve_device
from .snntorch_import import CHECKPOINT_DEFAULT, float_layers


def source_name(path: Path) -> str:
    """The checkpoint path relative to the project root when inside it, so metadata is machine-independent."""
    try:
        return str(path.resolve().relative_to(Path(__file__).resolve().parents[1]))
    except ValueError:
        return str(path)


def check_writable(out: Path) -> None:
    """Refuse an --out that cannot take the artifact before any work is done."""
    if out.is_dir():
        raise ValueError(f"out: {out} is a directory; name the artifact file")
    try:  # what save() does at the end: create the folder and a temporary file in it
        out.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=out.parent).close()
    except OSError as e:
        raise ValueError(f"out: cannot write into {out.parent} ({e.strerror or e})") from None


def summary(reports, accuracy: float | None) -> str:
    head = f"{'layer':>5} {'shape':>10} {'sparsity':>8} {'nnz':>7} {'stored bits':>11} {'as':>6} {'/ floor':>7} " \
           f"{'loss pruned':>11} {'loss +quant':>11}"
    lines = [head, "-" * len(head)]
    for k, r in enumerate(reports):
        m = r.memory
        lines.append(f"{k:>5} {f'{r.n_in}x{r.n_out}':>10} {r.sparsity:>8.4f} {r.nnz:>7} {m.stored_bits:>11} "
                     f"{m.encoding:>6} {m.ratio:>7.2f} {r.loss_pruned:>11.4g} {r.loss_quantised:>11.4g}")
    nnz = sum(r.nnz for r in reports)
    total = sum(r.n_in * r.n_out for r in reports)
    mem = memory_total([r.memory for r in reports])
    lines.append(f"{'all':>5} {'':>10} {1 - nnz / total:>8.4f} {nnz:>7} {mem['stored_bits']:>11} {'':>6} "
                 f"{mem['ratio']:>7.2f}")
    lines.append("stored bits: the weight memories as the FPGA core holds them (sim/storage.py); floor: "
                 "log2 C(n_in·n_out, nnz) + nnz·bits")
    lines.append("membrane loss: |dW X~|^2 / |W X~|^2 on the calibration traces, per layer")
    if accuracy is not None:
        lines.append(f"integer model test accuracy: {accuracy:.4f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m compress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=CHECKPOINT_DEFAULT,
                   help="checkpoint, state_dict (with --spec) or .nir graph (default: bundled digits)")
    p.add_argument("--spec", type=Path, help="JSON spec of a plain state_dict or a NIR graph (docs/own-model.md)")
    p.add_argument("--nir-dt", type=float, help="time step of a NIR graph's neurons (default snnTorch's 1e-4)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--dataset", choices=datasets.DATASETS, help="bundled dataset (default: the model's)")
    src.add_argument("--data", type=Path, help="your own .npz of spike counts or events and labels (data/user.py)")
    p.add_argument("--steps", type=int, help="time steps (default: the model's, or the --data file's)")
    p.add_argument("--method", choices=METHODS, default="osbc")
    p.add_argument("--sparsity", type=float, default=0.9)
    p.add_argument("--bits", type=int, default=4)
    p.add_argument("--calib", type=int, default=256, help="calibration samples from the training split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allocation", choices=RULES, default="lamp", help="per-layer sparsity rule")
    p.add_argument("--damp", type=float, default=0.01, help="Hessian damping, relative to its mean diagonal")
    p.add_argument("--device", choices=("cpu", "cuda"), help="where to compute (default: cuda when available)")
    p.add_argument("--threads", type=int, help="CPU threads for the OBS traces (default: torch's, all cores)")
    p.add_argument("--test-limit", type=int, default=None, help="evaluate on the first N test samples only")
    p.add_argument("--no-eval", action="store_true", help="skip the integer test accuracy")
    p.add_argument("--out", type=Path, required=True)
    add_quiet_option(p)
    args = p.parse_args(argv)
    try:
        check_sparsity(args.sparsity)
        check_bits(args.bits)
        if not 0 < args.damp < math.inf:
            raise ValueError(f"damp: must be a finite number > 0, got {args.damp}")
        if args.test_limit is not None and args.test_limit < 1:
            raise ValueError(f"test-limit: must be >= 1, got {args.test_limit}")
        check_writable(args.out)
        device = resolve_device(args.device)
        if args.threads is not None and args.threads < 1:
            raise ValueError(f"threads: must be >= 1, got {args.threads}")
        if args.method == "rtn" and args.sparsity > 0:
            raise ValueError("sparsity: the rtn method does not prune; use --sparsity 0 or another method")
        model, spec = load_model(args.model, args.spec, dt=args.nir_dt)
        if args.data:
            own = user.load(args.data)
            counts = own.calibration(args.calib, args.seed, args.steps)
            max_count, described = own.max_count, {"data": {"file": str(args.data)}}
        else:
            encoding = datasets.encoding_for(spec.get("encoding"), args.dataset, args.steps)
            counts = datasets.calibration_counts(encoding, args.calib, args.seed)
            max_count, described = encoding.max_count, {"encoding": encoding.to_meta()}
        n_in = float_layers(model)[0].weight.shape[1]
        if counts.shape[2] != n_in:
            raise ValueError(f"{'data' if args.data else 'dataset'}: {args.data or encoding.dataset} has "
                             f"{counts.shape[2]} inputs, the model takes {n_in}")
        t0 = time.perf_counter()
        art, reports = compress(model, counts, method=args.method, sparsity=args.sparsity, bits=args.bits,
                                allocation=args.allocation, damp=args.damp, seed=args.seed, device=device,
                                threads=args.threads,
                                input_max_count=max_count, meta={"source": source_name(args.model), **described})
        elapsed = time.perf_counter() - t0
        save(art, args.out)
        accuracy = None if args.no_eval else evaluate(art, limit=args.test_limit)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(reports, accuracy))
    print(f"compressed in {elapsed:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
