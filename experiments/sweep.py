"""Memory, accuracy and speed against sparsity and bit width, from real place and route.

    python -m hw.sweep --dataset digits --board icebreaker --sparsity 0.5,0.8,0.9,0.95,0.97,0.99 \\
        --bits 4,3,2 --method osbc,magnitude [--model CKPT] [--out build/sweep]

For every point: compress (`python -m compress`, run as a separate process: the artifact file is
the hand-over, so a killed compression never leaves half a point) -> integer accuracy on the full test split
(sim/) -> fit check -> synthesis, place and route (hw.build) -> cycles per step from an RTL
simulation of test samples (hw.rtlsim.cosim). Every finished stage is written to `points/<key>.json`
at once, so an interrupted sweep resumes where it stopped; a point that does not fit is recorded
with the fit check's reason, not dropped. A dense 8-bit round-to-nearest point is always added:
accuracy losses are measured against it.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

import boards
from compress.pipeline import METHODS
import data as datasets
from sim.evaluate import evaluate
from sim.artifact import ArtifactError, check_w_bits, load

from hw.board import fit
from hw.board.toolchain import ToolError
from hw.gateware.plan import GeneratorError

BASELINE = ("rtn", 0.0, 8)


@dataclass(frozen=True)
class Point:
    method: str
    sparsity: float
    bits: int

    @property
    def key(self) -> str:
        return f"{self.method}-s{self.sparsity:g}-b{self.bits}"


def grid(methods, sparsities, bits) -> list[Point]:
    """The requested points plus the dense 8-bit baseline; rtn does not prune, so it runs dense only."""
    points = {Point(*BASELINE)}
    for m in methods:
        for b in bits:
            if m == "rtn":
                points.add(Point(m, 0.0, b))
            else:
                points.update(Point(m, s, b) for s in sparsities)
    return sorted(points, key=lambda p: (p.method, p.bits, p.sparsity))


class Sweep:
    def __init__(self, out: Path, *, model: Path | None, dataset: str, boards_: list, calib: int, seed: int,
                 rtl_samples: int, simulator: str, build: bool):
        self.out, self.model, self.dataset, self.boards = out, model, dataset, boards_
        self.calib, self.seed, self.rtl_samples, self.simulator, self.build = calib, seed, rtl_samples, simulator, build
        (out / "points").mkdir(parents=True, exist_ok=True)
        (out / "artifacts").mkdir(exist_ok=True)
        # Points are keyed by method, sparsity and bits only: resuming with another model, dataset or
        # calibration would silently mix results, so the folder remembers what it was made with.
        settings = {"model": str(model) if model else None, "dataset": dataset, "calib": calib, "seed": seed}
        path = out / "settings.json"
        if path.is_file() and json.loads(path.read_text()) != settings:
            raise ValueError(f"--out: {out} holds a sweep made with {path.read_text().strip()}; "
                             f"use another --out for {json.dumps(settings)}")
        path.write_text(json.dumps(settings) + "\n")

    def record_path(self, p: Point) -> Path:
        return self.out / "points" / f"{p.key}.json"

    def run_point(self, p: Point) -> dict:
        path = self.record_path(p)
        rec = json.loads(path.read_text()) if path.is_file() else {"method": p.method, "sparsity": p.sparsity,
                                                                    "bits": p.bits, "boards": {}}

        def save():
            path.write_text(json.dumps(rec, indent=1) + "\n")

        art_path = self.out / "artifacts" / f"{p.key}.npz"
        if not art_path.is_file():
            self.compress(p, art_path)
        art = load(art_path)
        rec["artifact"] = str(art_path)
        if "accuracy" not in rec:
            rec["accuracy"] = evaluate(art, self.dataset, progress=False)
            mem = [l.memory() for l in art.layers]
            rec["nnz"] = sum(l.nnz for l in art.layers)
            rec["memory"] = {k: sum(getattr(m, k) for m in mem)
                             for k in ("dense_bits", "csr_bits", "value_bits", "structure_bits", "entropy_bits")}
            save()
        if "cycles" not in rec and self.rtl_samples:
            rec["cycles"] = self.rtl_cycles(art)
            save()
        for board in self.boards:
            if board.name not in rec["boards"]:
                rec["boards"][board.name] = self.place_and_route(art, art_path, board, p)
                save()
        return rec

    def compress(self, p: Point, art_path: Path) -> None:
        cmd = [sys.executable, "-m", "compress", "--dataset", self.dataset, "--method", p.method,
               "--sparsity", str(p.sparsity), "--bits", str(p.bits), "--calib", str(self.calib),
               "--seed", str(self.seed), "--no-eval", "--out", str(art_path)]
        if self.model:
            cmd += ["--model", str(self.model)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{p.key}: compression failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")

    def rtl_cycles(self, art) -> dict:
        """Cycles per step measured on the generated RTL over the first test samples."""
        from hw.rtlsim.cosim import first_mismatch, simulate
        from sim.reference import run

        counts, _ = datasets.spikes_for(art, self.dataset, "test", limit=self.rtl_samples)
        hw = simulate(art, counts, self.simulator)
        mismatch = first_mismatch(run(art, counts).spikes, hw)
        if mismatch:
            raise RuntimeError(f"RTL disagrees with sim/: {mismatch}")
        c = hw.cycles
        return {"samples": int(counts.shape[1]), "min": int(c.min()), "median": float(np.median(c)),
                "max": int(c.max()), "per_sample": float(c.sum(axis=0).mean())}

    def place_and_route(self, art, art_path: Path, board, p: Point) -> dict:
        try:
            est = fit.check(art, board)
        except fit.FitError as e:
            return {"fits": False, "reason": str(e)}
        except GeneratorError as e:
            return {"fits": False, "reason": f"generator: {e}"}
        if not self.build:
            return {"fits": None, "estimate": est.as_dict()}
        from hw.board.build import build

        try:
            r = build(art, board, self.out / "builds" / board.name / p.key, artifact_path=str(art_path),
                      progress=False)
        except ToolError as e:
            return {"fits": False, "reason": f"place and route failed: {e}"}
        res = r["resources"]
        return {"fits": True, "lut": res["lut"]["used"], "ebr": res["ebr"]["used"],
                "spram": res.get("spram", {}).get("used", 0), "fmax_mhz": r["timing"]["fmax_mhz"],
                "target_mhz": r["timing"]["target_mhz"], "timing_met": r["timing"]["met"],
                "build_seconds": r["build_seconds"]["total"], "sha256": r["bitstream"]["sha256"]}


def rows(records: list[dict]) -> list[dict]:
    """One flat row per (point, board) for the CSV."""
    out = []
    for r in records:
        for board, b in (r["boards"] or {"": {}}).items():
            cyc = r.get("cycles", {})
            fmax = b.get("fmax_mhz")
            out.append({"method": r["method"], "sparsity": r["sparsity"], "bits": r["bits"],
                        "accuracy": round(r["accuracy"], 4), "nnz": r["nnz"], **r["memory"], "board": board,
                        "fits": b.get("fits"), "lut": b.get("lut"), "ebr": b.get("ebr"), "spram": b.get("spram"),
                        "fmax_mhz": fmax, "cycles_per_step_median": cyc.get("median"),
                        "samples_per_s": round(fmax * 1e6 / cyc["per_sample"], 1) if fmax and cyc else None,
                        "reason": b.get("reason", "")})
    return out


def smallest_within(table: list[dict], max_loss: float) -> dict:
    """Per board, the fitting point with the fewest CSR bits whose accuracy is within max_loss of
    the dense 8-bit baseline."""
    base = next(r["accuracy"] for r in table if (r["method"], r["sparsity"], r["bits"]) == BASELINE)
    best = {}
    for r in table:
        if r["fits"] is False or r["accuracy"] < base - max_loss:
            continue
        if r["board"] not in best or r["csr_bits"] < best[r["board"]]["csr_bits"]:
            best[r["board"]] = r
    return {"baseline_accuracy": base, "max_loss": max_loss, "best": best}


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def plot(table: list[dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    series = sorted({(r["method"], r["bits"]) for r in table})
    first_board = table[0]["board"]
    mine = [r for r in table if r["board"] == first_board]

    def lines(ax, x, y, rows_):
        for m, b in series:
            pts = sorted((r[x], r[y]) for r in rows_ if (r["method"], r["bits"]) == (m, b) and r[y] is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"{m} {b}-bit")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    lines(ax, "csr_bits", "accuracy", mine)
    ax.set(xscale="log", xlabel="weight memory, CSR bits (log)", ylabel="integer test accuracy",
           title=f"Accuracy vs memory ({first_board})")
    _legend(ax)
    paths.append(out / "accuracy_vs_memory.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")

    # SPRAM only gets a panel when some build used it (weights never go there: see docs/build.md).
    kinds = ["ebr"] + (["spram"] if any(r["spram"] for r in table) else [])
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    for ax, what in zip(axes[0], kinds):
        for board, method in sorted({(r["board"], r["method"]) for r in table if r["method"] != "rtn"}):
            pts = sorted((r["sparsity"], r[what]) for r in table if (r["board"], r["method"], r["bits"]) ==
                         (board, method, 4) and r[what] is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"{board}, {method}")
        ax.set(xlabel="sparsity", ylabel=f"{what.upper()} blocks used", title=f"{what.upper()} vs sparsity (4-bit)")
        _legend(ax)
    paths.append(out / "blocks_vs_sparsity.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    lines(ax, "sparsity", "samples_per_s", [r for r in mine if r["method"] != "rtn"])
    ax.set(xlabel="sparsity", ylabel="samples / s at fmax (core only)", yscale="log",
           title=f"Throughput vs sparsity ({first_board})")
    _legend(ax)
    paths.append(out / "throughput_vs_sparsity.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close("all")
    return paths


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hw.sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="snnTorch checkpoint (default: the bundled digits model)")
    ap.add_argument("--dataset", choices=datasets.DATASETS, default="digits")
    ap.add_argument("--board", default="icebreaker", help="comma-separated board names")
    ap.add_argument("--sparsity", type=floats, default=floats("0.5,0.8,0.9,0.95,0.97,0.99"))
    ap.add_argument("--bits", type=lambda s: [int(x) for x in s.split(",")], default=[4, 3, 2])
    ap.add_argument("--method", type=lambda s: s.split(","), default=["osbc", "magnitude"])
    ap.add_argument("--calib", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rtl-samples", type=int, default=4, help="test samples simulated on the RTL for cycles (0: skip)")
    ap.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"))
    ap.add_argument("--no-build", action="store_true", help="stop at the fit check (no synthesis)")
    ap.add_argument("--max-loss", type=float, default=0.01, help="accuracy loss allowed for the 'smallest' pick")
    ap.add_argument("--out", type=Path, default=Path("build/sweep"))
    args = ap.parse_args(argv)
    try:
        board_list = [boards.get(b) for b in args.board.split(",")]
        if any(not 0 <= s < 1 for s in args.sparsity):
            raise ValueError(f"--sparsity: values must lie in [0, 1), got {args.sparsity}")
        if unknown := set(args.method) - set(METHODS):
            raise ValueError(f"--method: unknown {', '.join(sorted(unknown))}; choose from {', '.join(METHODS)}")
        for b in args.bits:
            check_w_bits(b, "--bits")
        sweep = Sweep(args.out, model=args.model, dataset=args.dataset, boards_=board_list, calib=args.calib,
                      seed=args.seed, rtl_samples=args.rtl_samples, simulator=args.simulator, build=not args.no_build)
        records = []
        for p in (bar := tqdm(grid(args.method, args.sparsity, args.bits), desc="sweep", unit="point")):
            bar.set_postfix_str(p.key)
            records.append(sweep.run_point(p))
    except (ValueError, ArtifactError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    table = rows(records)
    with open(args.out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    pick = smallest_within(table, args.max_loss)
    (args.out / "results.json").write_text(json.dumps({"points": records, "smallest": pick}, indent=1) + "\n")
    plots = plot(table, args.out)
    print(format_table(table))
    for board in board_list:
        r = pick["best"].get(board.name)
        print(f"\n{board.name}: smallest memory within {args.max_loss:.1%} of the dense 8-bit accuracy "
              f"{pick['baseline_accuracy']:.4f}: " + (f"{r['method']} sparsity {r['sparsity']:g} {r['bits']}-bit, "
                                                     f"{r['csr_bits']} CSR bits, accuracy {r['accuracy']:.4f}"
                                                     if r else "no point that fits is that accurate"))
    print(f"\nwrote {args.out / 'results.csv'}, {args.out / 'results.json'}, " + ", ".join(map(str, plots)))
    return 0


def format_table(table: list[dict]) -> str:
    cols = ["board", "method", "sparsity", "bits", "accuracy", "nnz", "csr_bits", "entropy_bits", "fits", "lut",
            "ebr", "spram", "fmax_mhz", "cycles_per_step_median", "samples_per_s"]
    head = " ".join(f"{c[:10]:>10}" for c in cols)
    lines = [head]
    for r in table:
        cells = []
        for c in cols:
            v = r[c]
            cells.append(f"{v:>10.4g}" if isinstance(v, float) else f"{str(v if v is not None else '-')[:10]:>10}")
        lines.append(" ".join(cells))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
