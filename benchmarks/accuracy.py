"""Accuracy of the integer model after one-shot compression: every network x method x sparsity.

    python -m benchmarks.accuracy                      # the full grid (hours on 2 cores; resumable)
    python -m benchmarks.accuracy --networks event-mnist --calib 1000 --seeds 0
    python -m benchmarks.accuracy --smoke              # seconds: digits, 2 sparsities, 200 test samples
    python -m benchmarks.accuracy --report             # tables and plots again from results.json

For each reference network (compress/checkpoints/), each method (osbc, obc, magnitude, rtn) and
sparsity at `--bits` (4), plus the dense model at 8/4/3/2 bits, the compressed artifact is run by
the integer reference `sim.reference` on the test split (the full split unless `--test-limit`),
with calibration sets of `--calib` training samples drawn by each `--seeds` seed. rtn and
magnitude use no calibration data and no randomness: they run once (calib 0, seed 0). rtn does
not prune (it is the dense baseline); magnitude is magnitude pruning (LAMP allocation) + rtn.

Results go to `<out>/results.json` after every run (rerunning skips what is there; a changed
checkpoint drops that network's old results), then `<out>/results.md` (tables, mean ± std over
seeds) and `<out>/<network>.png` (accuracy vs sparsity, a line per method).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from console.progress import add_quiet_option, progress

from compress.snntorch_import import load_checkpoint
from compress.train import float_accuracy
from compress.train_reference import CHECKPOINTS, test_counts
from data import as_encoding, calibration_counts
from experiments import cluster, store
from sim.evaluate import accuracy

NETWORKS = {"event-mnist": "event_mnist.pt", "mnist": "mnist.pt", "digits": "digits.pt"}
METHODS = ("osbc", "obc", "magnitude", "rtn")
CALIBRATED = ("osbc", "obc")
SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.99)
DENSE_BITS = (8, 4, 3, 2)
REPORT_CALIB = 32
OUT = Path(__file__).resolve().parents[1] / "docs" / "accuracy"


def plan(networks, methods, sparsities, bits, dense_bits, calibs, seeds) -> list[dict]:
    """Every run of the grid, in the order a partial run is most useful: all methods at the first
    calibration size and seed, then the other seeds, then the other sizes. One calibration serves
    all points of a (network, method, calib, seed)."""
    runs = []
    for net in networks:
        for ci, calib in enumerate(calibs):
            for si, seed in enumerate(seeds):
                for method in methods:
                    if method not in CALIBRATED and (ci or si):
                        continue  # data-free methods run once
                    c, s = (calib, seed) if method in CALIBRATED else (0, 0)
                    # rtn does not prune (magnitude = magnitude pruning + rtn); dense magnitude = rtn
                    # sparsest first: their masked systems are smallest, dense GPTQ is the slow part
                    points = [(sp, bits) for sp in sorted(sparsities, reverse=True)] if method != "rtn" else []
                    if method != "magnitude":
                        points += [(0.0, b) for b in dense_bits]
                    runs += [{"network": net, "method": method, "sparsity": sp, "bits": b, "calib": c, "seed": s}
                             for sp, b in points]
    return runs


def key(run: dict) -> str:
    return f"{run['network']}/{run['method']}/s{run['sparsity']}/b{run['bits']}/c{run['calib']}/seed{run['seed']}"


def file_hash(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def save_results(path: Path, results: dict, net: str) -> dict:
    """Merge this process's results for `net` into the file under the folder's lock, so that several
    benchmark processes (other networks or slices of the grid) can share one results.json."""

    def merge(disk: dict) -> dict:
        disk = disk or {"runs": {}, "networks": {}}
        if disk["networks"].get(net, {}).get("hash") != results["networks"][net]["hash"]:
            disk["runs"] = {k: v for k, v in disk["runs"].items() if not k.startswith(net + "/")}
        disk["networks"][net] = results["networks"][net]
        disk["runs"].update({k: v for k, v in results["runs"].items() if k.startswith(net + "/")})
        return disk

    return store.merge_json(path, merge, sort_keys=True)


def compress_points(model, spec: dict, method: str, points: list[tuple[float, int]], calib_counts):
    """Yield ((sparsity, bits), artifact) for every point from one calibration and one OBS trace."""
    from compress.calibrate import calibrate
    from compress.pipeline import Compressor
    from compress.snntorch_import import float_layers

    enc = as_encoding(spec["encoding"])
    calib = calibrate(model, calib_counts, current=(method == "obc"), progress=False)
    comp = Compressor(float_layers(model), calib, method, progress=False)
    for sp, b in points:
        art, _ = comp.compress(sp, b, steps=enc.steps, input_max_count=enc.max_count,
                               meta={"encoding": enc.to_meta()})
        yield (sp, b), art


def run_group(net: str, todo: list[dict], test_limit: int | None, threads: int, *, stage) -> list[dict]:
    """Every run of one (network, method, calib, seed): one calibration serves them all. Runs on a
    Dask worker; returns the results to the process that writes them."""
    torch.set_num_threads(threads)
    stage("calibrate")
    model, spec = load_checkpoint(CHECKPOINTS / NETWORKS[net])
    counts, y = test_counts(spec["encoding"], test_limit)
    method, calib, seed = todo[0]["method"], todo[0]["calib"], todo[0]["seed"]
    # rtn and magnitude ignore the data; the Compressor still wants a calibration for its loss report
    calib_counts = calibration_counts(spec["encoding"], calib or REPORT_CALIB, seed)
    done, start = [], time.time()
    for (sp, b), art in compress_points(model, spec, method, [(r["sparsity"], r["bits"]) for r in todo], calib_counts):
        run = next(r for r in todo if (r["sparsity"], r["bits"]) == (sp, b))
        stage(f"s{sp:g} b{b}")
        done.append({**run, "accuracy": accuracy(art, counts, y, batch=1000),
                     "achieved_sparsity": 1 - sum(l.nnz for l in art.layers) / sum(l.n_in * l.n_out for l in art.layers),
                     "seconds": round(time.time() - start, 1)})
        start = time.time()
    return done


def run_grid(args) -> tuple[dict, dict]:
    out = Path(args.out)
    results_path = out / "results.json"
    results = store.read_json(results_path) if results_path.exists() else {"runs": {}, "networks": {}}
    runs = plan(args.networks, args.methods, args.sparsities, args.bits, args.dense_bits, args.calib, args.seeds)
    jobs = []
    for net in args.networks:
        ckpt = CHECKPOINTS / NETWORKS[net]
        model, spec = load_checkpoint(ckpt)
        info = {"checkpoint": str(ckpt.relative_to(CHECKPOINTS.parent.parent)), "hash": file_hash(ckpt),
                "test_limit": args.test_limit, "encoding": spec["encoding"], "train": spec.get("train")}
        old = results["networks"].get(net)
        if old and (old["hash"] != info["hash"] or old["test_limit"] != info["test_limit"]):
            results["runs"] = {k: v for k, v in results["runs"].items() if not k.startswith(net + "/")}
            old = None
        if old is None:
            info["float_accuracy"] = float_accuracy(model, *test_counts(spec["encoding"], args.test_limit))
            results["networks"][net] = info
            results = save_results(results_path, results, net)
        groups: dict[tuple, list[dict]] = {}
        for run in runs:
            if run["network"] == net and key(run) not in results["runs"]:
                groups.setdefault((run["method"], run["calib"], run["seed"]), []).append(run)
        jobs += [cluster.Job(f"{net}/{m}/c{c}/seed{s}", run_group, (net, todo, args.test_limit, args.threads))
                 for (m, c, s), todo in groups.items()]
    todo = sum(len(j.args[1]) for j in jobs)
    bar = progress(total=len(runs), initial=len(runs) - todo, desc="accuracy", unit="run")
    failed = {}

    def finished(name: str, done: list[dict]) -> None:
        nonlocal results
        for r in done:
            results["runs"][key(r)] = r
        results = save_results(results_path, results, done[0]["network"])
        bar.update(len(done))

    def on_error(name: str, e: Exception) -> None:
        failed[name] = f"{type(e).__name__}: {e}"

    try:
        cluster.run(jobs, workers=args.workers, scheduler=args.scheduler, on_result=finished, on_error=on_error,
                    on_stage=lambda name, stage: bar.set_postfix_str(f"{name} {stage}"))
    finally:
        bar.close()
    return store.read_json(results_path), failed  # with what other processes added meanwhile


# ------------------------------------------------------------------------------------ report

def summary(results: dict) -> dict:
    """{(network, method, sparsity, bits, calib): (mean, std, n)} over seeds."""
    acc: dict[tuple, list[float]] = {}
    for r in results["runs"].values():
        acc.setdefault((r["network"], r["method"], r["sparsity"], r["bits"], r["calib"]), []).append(r["accuracy"])
    return {k: (float(np.mean(v)), float(np.std(v)), len(v)) for k, v in acc.items()}


def cell(stats, k) -> str:
    if k not in stats:
        return "—"
    m, s, n = stats[k]
    return f"{100 * m:.2f}" + (f" ± {100 * s:.2f}" if n > 1 else "")


def markdown(results: dict, bits: int) -> str:
    stats = summary(results)
    lines = ["# Integer-model accuracy after one-shot compression (generated by benchmarks/accuracy.py)", ""]
    for net, info in results["networks"].items():
        keys = [k for k in stats if k[0] == net]
        if not keys:
            continue
        calibs = sorted({k[4] for k in keys if k[1] in CALIBRATED}, reverse=True) or [0]
        sps = sorted({k[2] for k in keys if k[2] > 0})
        dense = sorted({k[3] for k in keys if k[2] == 0}, reverse=True)
        n_test = info["test_limit"] or "full"
        lines += [f"## {net}", "",
                  f"Float (snnTorch) test accuracy **{100 * info['float_accuracy']:.2f} %**; test samples: {n_test}; "
                  f"checkpoint `{info['checkpoint']}` ({info['hash']}). Accuracy in %, mean ± std over seeds.", ""]
        for calib in calibs:
            pruned = [m for m in METHODS if any((net, m, s, bits, calib if m in CALIBRATED else 0) in stats for s in sps)]
            if pruned:
                lines += [f"### {bits}-bit, pruned (calibration {calib} samples for osbc/obc)", "",
                          "| method | " + " | ".join(f"{100 * s:g} %" for s in sps) + " |",
                          "|---|" + "---|" * len(sps)]
                lines += [f"| {m} | " + " | ".join(cell(stats, (net, m, s, bits, calib if m in CALIBRATED else 0))
                                                   for s in sps) + " |" for m in pruned]
                lines.append("")
            dense_methods = [m for m in METHODS
                             if any((net, m, 0.0, b, calib if m in CALIBRATED else 0) in stats for b in dense)]
            if dense_methods:
                lines += [f"### dense, by bit width (calibration {calib} samples for osbc/obc)", "",
                          "| method | " + " | ".join(f"{b} bit" for b in dense) + " |", "|---|" + "---|" * len(dense)]
                lines += [f"| {m} | " + " | ".join(cell(stats, (net, m, 0.0, b, calib if m in CALIBRATED else 0))
                                                   for b in dense) + " |" for m in dense_methods]
                lines.append("")
    return "\n".join(lines) + "\n"


def plots(results: dict, out: Path, bits: int) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stats = summary(results)
    written = []
    for net, info in results["networks"].items():
        keys = [k for k in stats if k[0] == net and k[2] > 0 and k[3] == bits]
        if not keys:
            continue
        calib = max((k[4] for k in keys if k[1] in CALIBRATED), default=0)
        # right panel: zoom on the top of the range, where the second-order methods differ
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        float_acc = 100 * info["float_accuracy"]
        for ax, zoom in zip(axes, (False, True)):
            for m in METHODS:
                c = calib if m in CALIBRATED else 0
                pts = sorted((k[2], stats[k]) for k in keys if k[1] == m and k[4] == c)
                if pts:
                    ax.errorbar([100 * p for p, _ in pts], [100 * s[0] for _, s in pts],
                                yerr=[100 * s[1] for _, s in pts], marker="o", ms=3, capsize=2, label=m)
            ax.axhline(float_acc, color="k", ls="--", lw=0.8, label="dense float")
            if zoom:
                ax.set_ylim(float_acc - 8, float_acc + 1)
                ax.set_xlim(85, 100)
            ax.set_xlabel("sparsity (%)")
            ax.set_ylabel("integer test accuracy (%)")
            ax.set_title(f"{net}: {bits}-bit weights, calibration {calib}" + (" (zoom)" if zoom else ""))
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        path = out / f"{net}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def parse_list(kind):
    return lambda text: [kind(v) for v in text.split(",") if v]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=cluster.HelpFormatter)
    p.add_argument("--networks", type=parse_list(str), default="event-mnist,mnist,digits", help="comma-separated")
    p.add_argument("--methods", type=parse_list(str), default=",".join(METHODS), help="comma-separated")
    p.add_argument("--sparsities", type=parse_list(float), default=",".join(map(str, SPARSITIES)),
                   help="comma-separated")
    p.add_argument("--bits", type=int, default=4, help="weight bits of the pruned points")
    p.add_argument("--dense-bits", type=parse_list(int), default=",".join(map(str, DENSE_BITS)),
                   help="comma-separated bit widths of the dense points")
    p.add_argument("--calib", type=parse_list(int), default="1000,128", help="calibration sizes, comma-separated")
    p.add_argument("--seeds", type=parse_list(int), default="0,1,2", help="calibration seeds, comma-separated")
    p.add_argument("--test-limit", type=int, help="evaluate on the first N test samples only; none: all")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job")
    cluster.add_arguments(p, "(network, method, calibration, seed)")
    p.add_argument("--out", type=Path, help=f"results folder; none: {OUT.relative_to(OUT.parents[1])}")
    p.add_argument("--smoke", action="store_true", help="seconds-long check of the whole path (for CI)")
    p.add_argument("--report", action="store_true", help="only rewrite results.md and the plots from results.json")
    add_quiet_option(p)
    args = p.parse_args(argv)
    for net in args.networks:
        if net not in NETWORKS:
            p.error(f"--networks: unknown {net!r}; choose from {', '.join(NETWORKS)}")
    for m in args.methods:
        if m not in METHODS:
            p.error(f"--methods: unknown {m!r}; choose from {', '.join(METHODS)}")
    try:
        cluster.check_workers(args.workers, args.scheduler)
    except ValueError as e:
        p.error(str(e))
    if args.smoke:
        args.networks, args.sparsities, args.dense_bits = ["digits"], [0.5, 0.9], [4]
        args.calib, args.seeds, args.test_limit = [64], [0], args.test_limit or 200
        args.workers = 0 if args.scheduler is None else args.workers  # seconds: no cluster to start
        args.out = args.out or Path(tempfile.mkdtemp(prefix="accuracy-smoke-"))
    args.out = args.out or OUT
    torch.set_num_threads(args.threads)
    try:
        results, failed = (store.read_json(args.out / "results.json"), {}) if args.report else run_grid(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    store.write_text(args.out / "results.md", markdown(results, args.bits))
    written = plots(results, args.out, args.bits)
    print(markdown(results, args.bits))
    print(f"wrote {args.out / 'results.json'}, {args.out / 'results.md'}" + "".join(f", {w}" for w in written))
    for name, why in failed.items():
        print(f"error: {name} failed: {why}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
