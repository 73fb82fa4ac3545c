"""Memory, accuracy and speed against sparsity and bit width, from real place and route.

    python -m hw.sweep --dataset digits --board icebreaker --sparsity 0.5,0.8,0.9,0.95,0.97,0.99 \\
        --bits 4,3,2 --method osbc,magnitude [--model CKPT] [--out build/sweep]
    python -m hw.sweep --model net.nir --data my_data.npz ...   (your own model and data)

For every point: compress (`python -m compress`, run as a separate process: the artifact file is
the hand-over, so a killed compression never leaves half a point) -> integer accuracy on the full test split
(sim/) -> fit check -> synthesis, place and route (hw.build) -> cycles per step from an RTL
simulation of test samples (hw.rtlsim.cosim). Points run in parallel on Dask (a local cluster with
one worker per core by default, or `--scheduler` for one spanning machines: docs/sweep.md); this
process alone writes the results, atomically, one file per finished point in `points/`, so an
interrupted sweep resumes where it stopped. A point that does not fit is recorded with the fit
check's reason; a point that fails is reported and the sweep goes on. A dense 8-bit
round-to-nearest point is always added: accuracy losses are measured against it.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from console.progress import add_quiet_option, progress

import boards
from compress.pipeline import METHODS
import data as datasets
from sim.evaluate import evaluate
from sim.artifact import ArtifactError, check_w_bits, load, memory_total

from experiments import cluster, eta, store
from hw.board import fit
from hw.board.toolchain import ToolError
from hw.gateware.plan import GeneratorError, memories, plan

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


@dataclass(frozen=True)
class Settings:
    """What every point is computed with; it travels to the workers, so paths must name the same
    files there (docs/sweep.md)."""
    model: str | None
    dataset: str | None  # None when `data` (a user data file) is given
    data: str | None
    boards: tuple[str, ...]
    calib: int
    seed: int
    rtl_samples: int
    simulator: str
    build: bool

    def identity(self) -> dict:
        """What a folder's points depend on beyond their key: resuming with another model, dataset
        or calibration would silently mix results, so settings.json remembers it."""
        return {"model": self.model, "dataset": self.dataset, "calib": self.calib, "seed": self.seed,
                **({"data": self.data} if self.data else {})}


# ------------------------------------------------------------------------------- on a worker

def _die_with_parent() -> None:
    """In the compress child: be killed when the process that started it dies (Linux), so that
    killing a sweep or one of its workers never leaves a compression running."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_child(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True,
                          preexec_fn=_die_with_parent if sys.platform == "linux" else None)


def compress(settings: Settings, p: Point, art_path: Path) -> None:
    source = ["--data", settings.data] if settings.data else ["--dataset", settings.dataset]
    cmd = [sys.executable, "-m", "compress", *source, "--method", p.method,
           "--sparsity", str(p.sparsity), "--bits", str(p.bits), "--calib", str(settings.calib),
           "--seed", str(settings.seed), "--no-eval", "--out", str(art_path)]
    if settings.model:
        cmd += ["--model", settings.model]
    done = run_child(cmd)
    if done.returncode:
        raise RuntimeError(f"compression failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")


def stored_bits(art) -> int | None:
    """Weight bits as the generated core stores them (the encoding with the fewest bits per layer,
    sim/storage.py); None when the generator refuses the model."""
    try:
        return sum(m.bits for m in memories(plan(art)) if m.holds_weights)
    except GeneratorError:
        return None


def rtl_cycles(settings: Settings, art) -> dict:
    """Cycles per step measured on the generated RTL over the first test samples."""
    from hw.rtlsim.cosim import first_mismatch, simulate
    from sim.reference import run

    counts, _ = datasets.spikes_for(art, settings.dataset, "test", limit=settings.rtl_samples, data=settings.data)
    hw = simulate(art, counts, settings.simulator)
    mismatch = first_mismatch(run(art, counts).spikes, hw)
    if mismatch:
        raise RuntimeError(f"RTL disagrees with sim/: {mismatch}")
    c = hw.cycles
    return {"samples": int(counts.shape[1]), "min": int(c.min()), "median": float(np.median(c)),
            "max": int(c.max()), "per_sample": float(c.sum(axis=0).mean())}


def place_and_route(settings: Settings, art, art_path: Path, board, build_dir: Path) -> tuple[dict, dict]:
    """The board's record and the files to keep of the build ({name: bytes})."""
    try:
        est = fit.check(art, board)
    except fit.FitError as e:
        return {"fits": False, "reason": str(e)}, {}
    except GeneratorError as e:
        return {"fits": False, "reason": f"generator: {e}"}, {}
    if not settings.build:
        return {"fits": None, "estimate": est.as_dict()}, {}
    from hw.board.build import build

    try:
        r = build(art, board, build_dir, artifact_path=art_path.name, progress=False)
    except ToolError as e:
        return {"fits": False, "reason": f"place and route failed: {e}"}, {}
    bitstream = Path(r["bitstream"]["path"])
    r["bitstream"]["path"] = bitstream.name  # beside report.json in the sweep's folder, not the worker's
    res = r["resources"]
    keep = {bitstream.name: bitstream.read_bytes(), "report.json": (json.dumps(r, indent=2) + "\n").encode(),
            "report.txt": (build_dir / "report.txt").read_bytes()}
    return {"fits": True, "lut": res["lut"]["used"], "ebr": res["ebr"]["used"],
            "spram": res.get("spram", {}).get("used", 0), "fmax_mhz": r["timing"]["fmax_mhz"],
            "target_mhz": r["timing"]["target_mhz"], "timing_met": r["timing"]["met"],
            "uart_samples_per_s": r["throughput"]["uart_samples_per_s"],
            "build_seconds": r["build_seconds"]["total"], "sha256": r["bitstream"]["sha256"]}, keep


def board_stage(settings: Settings, board: str) -> str:
    return f"{'build' if settings.build else 'fit'} {board}"


def stages_left(settings: Settings, rec: dict, has_artifact: bool) -> list[str]:
    """The stages compute_point runs for a point whose record so far is `rec`."""
    return ([] if has_artifact else ["compress"]) + ([] if "accuracy" in rec else ["accuracy"]) + \
        (["rtl"] if settings.rtl_samples and "cycles" not in rec else []) + \
        [board_stage(settings, b) for b in settings.boards if b not in rec.get("boards", {})]


def compute_point(settings: Settings, p: Point, done: dict, artifact: bytes | None, *, stage) -> dict:
    """Every stage of one point that `done` (its record so far) lacks, in a scratch folder.
    Returns {"record", "artifact": bytes, "files": {path under the sweep folder: bytes}}; writes
    nothing that outlives the call, so it runs the same on any machine."""
    rec = {"method": p.method, "sparsity": p.sparsity, "bits": p.bits, "boards": {}, **done}
    rec["boards"], seconds = dict(rec["boards"]), dict(rec.get("seconds", {}))

    def timed(name, fn, *args):
        stage(name)
        start = time.monotonic()
        value = fn(*args)
        seconds[name] = round(time.monotonic() - start, 1)
        return value

    files = {}
    with tempfile.TemporaryDirectory(prefix=f"sweep-{p.key}-") as scratch:
        art_path = Path(scratch) / f"{p.key}.npz"
        if artifact is None:
            timed("compress", compress, settings, p, art_path)
            artifact = art_path.read_bytes()
        else:
            art_path.write_bytes(artifact)
        art = load(art_path)
        if "accuracy" not in rec:
            rec["accuracy"] = timed("accuracy", lambda: evaluate(art, settings.dataset, progress=False,
                                                                 data=settings.data))
            rec["nnz"] = sum(l.nnz for l in art.layers)
        # recomputed (cheap), so that a resumed point counts memory as the current generator stores it
        rec["memory"] = {**memory_total([l.memory() for l in art.layers]), "stored_bits": stored_bits(art)}
        if "cycles" not in rec and settings.rtl_samples:
            rec["cycles"] = timed("rtl", rtl_cycles, settings, art)
        for name in settings.boards:
            if name not in rec["boards"]:
                build_dir = Path(scratch) / "build" / name
                rec["boards"][name], kept = timed(board_stage(settings, name), place_and_route, settings, art, art_path,
                                                  boards.get(name), build_dir)
                files.update({f"builds/{name}/{p.key}/{f}": data for f, data in kept.items()})
    rec["seconds"] = seconds
    return {"record": rec, "artifact": artifact, "files": files}


# --------------------------------------------------------------------------- in this process

class Sweep:
    """The sweep's folder: settings.json, points/<key>.json, artifacts/, builds/ (hold its lock)."""

    def __init__(self, out: Path, settings: Settings):
        self.out, self.settings = out, settings
        (out / "points").mkdir(parents=True, exist_ok=True)
        store.remove_stale_temporaries(out)
        path = out / "settings.json"
        identity = settings.identity()
        if path.is_file():
            if store.read_json(path) != identity:
                raise ValueError(f"--out: {out} holds a sweep made with {path.read_text().strip()}; "
                                 f"use another --out for {json.dumps(identity)}")
        else:
            store.write_text(path, json.dumps(identity) + "\n")

    def record_path(self, p: Point) -> Path:
        return self.out / "points" / f"{p.key}.json"

    def artifact_path(self, p: Point) -> Path:
        return self.out / "artifacts" / f"{p.key}.npz"

    def record(self, p: Point) -> dict | None:
        path = self.record_path(p)
        return store.read_json(path) if path.is_file() else None

    def complete(self, rec: dict | None) -> bool:
        return rec is not None and not stages_left(self.settings, rec, True) and "floor_bits" in rec["memory"]

    def stages(self, p: Point) -> list[str]:
        return stages_left(self.settings, self.record(p) or {}, self.artifact_path(p).is_file())

    def job(self, p: Point) -> cluster.Job:
        art = self.artifact_path(p)
        return cluster.Job(p.key, compute_point, (self.settings, p, self.record(p) or {},
                                                  art.read_bytes() if art.is_file() else None))

    def save(self, p: Point, outcome: dict) -> dict:
        """The point's files, then its record (last: a record only names files that exist)."""
        art = self.artifact_path(p)
        if not art.is_file():
            store.write_bytes(art, outcome["artifact"])
        for rel, data in outcome["files"].items():
            store.write_bytes(self.out / rel, data)
        rec = {**outcome["record"], "artifact": str(art)}
        store.write_json(self.record_path(p), rec)
        return rec


def layer_sizes(model: str | None) -> list[int] | None:
    """[inputs, neurons of each layer] of the model the points compress (the bundled digits one
    without --model); None when it cannot be read here: then the compression says why."""
    from compress.api import load_model
    from compress.snntorch_import import CHECKPOINT_DEFAULT, float_layers

    try:
        layers = float_layers(load_model(model or CHECKPOINT_DEFAULT)[0])
    except Exception:  # only the time estimate needs it; the points report a bad model themselves
        return None
    return [layers[0].weight.shape[1], *(l.weight.shape[0] for l in layers)]


def synapses(layers: list[int] | None) -> int | None:
    return None if layers is None else sum(a * b for a, b in zip(layers, layers[1:]))


class Progress:
    """One bar over points, with how many are in each stage now, how many failed, and the time left."""

    def __init__(self, total: int, remaining: eta.Remaining):
        self.bar = progress(total=total, desc="sweep", unit="point")
        self.remaining = remaining
        self.stage: dict[str, str] = {}
        self.failed: dict[str, str] = {}
        self.lock = threading.Lock()  # Dask reports stages from its client's thread

    def on_stage(self, name: str, stage: str) -> None:
        with self.lock:
            if name not in self.remaining.points:
                return  # a late event of a point already finished
            self.stage[name] = stage
            self.remaining.start(name)
            self._show()

    def finished(self, name: str, record: dict | None = None, error: str | None = None) -> None:
        """record: what was saved; None with the error of a point that failed."""
        with self.lock:
            stage = self.stage.pop(name, "start")
            if error is not None:
                self.failed[name] = f"{stage}: {error}"
            self.remaining.finish(name, record)
            self.bar.update(1)
            self._show()

    def _show(self) -> None:
        counts: dict[str, int] = {}
        for s in self.stage.values():
            counts[s] = counts.get(s, 0) + 1
        running = ", ".join(f"{s} {n}" for s, n in sorted(counts.items())) or "-"
        left = self.remaining.seconds()
        self.bar.set_postfix_str(f"running: {running}; failed {len(self.failed)}"
                                 + (f"; about {eta.describe(left)} left" if left is not None else ""))

    def close(self) -> None:
        self.bar.close()


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
                        "uart_samples_per_s": b.get("uart_samples_per_s"), "reason": b.get("reason", "")})
    return out


def is_baseline(r: dict) -> bool:
    return (r["method"], r["sparsity"], r["bits"]) == BASELINE


def smallest_within(table: list[dict], max_loss: float) -> dict:
    """Per board, the compressed point (never the baseline itself) that fits, stores the fewest
    weight bits on the chip and whose accuracy is within max_loss of the dense 8-bit baseline."""
    base = next(r["accuracy"] for r in table if is_baseline(r))
    best = {}
    for r in table:
        if is_baseline(r) or r["fits"] is False or r["stored_bits"] is None or r["accuracy"] < base - max_loss:
            continue
        if r["board"] not in best or r["stored_bits"] < best[r["board"]]["stored_bits"]:
            best[r["board"]] = r
    return {"baseline_accuracy": base, "max_loss": max_loss, "best": best}


def describe_pick(board: str, r: dict | None, pick: dict) -> str:
    head = (f"{board}: smallest memory within {pick['max_loss']:.1%} of the dense 8-bit accuracy "
            f"{pick['baseline_accuracy']:.4f}: ")
    if r is None:
        return head + "no compressed point that fits is that accurate"
    how = "placed and routed" if r["fits"] else "passes the fit check; not built"
    return head + (f"{r['method']} sparsity {r['sparsity']:g} {r['bits']}-bit, {r['stored_bits']} bits stored "
                   f"({r['ratio']:.2f}x the floor), accuracy {r['accuracy']:.4f}; fits {board} ({how})")


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def plot(table: list[dict], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    paths = []
    series = sorted({(r["method"], r["bits"]) for r in table})
    first_board = table[0]["board"]
    mine = [r for r in table if r["board"] == first_board]

    def save(fig, name):
        paths.append(out / name)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        store.write_bytes(paths[-1], buf.getvalue())

    # x: what the chip stores for the weights (the dense baseline as dense rows, not its CSR size);
    # dashed: the same points at their floor, the values plus the least any encoding of which
    # weights survive could spend.
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m, b in series:
        pts = sorted((r["stored_bits"], r["floor_bits"], r["accuracy"]) for r in mine
                     if (r["method"], r["bits"]) == (m, b) and r["stored_bits"] and not is_baseline(r))
        if pts:
            stored, floor, acc = zip(*pts)
            line, = ax.plot(stored, acc, marker="o", label=f"{m} {b}-bit")
            ax.plot(floor, acc, ls="--", lw=0.8, marker="x", color=line.get_color())
    base = next((r for r in mine if is_baseline(r) and r["stored_bits"]), None)
    if base:
        ax.plot([base["stored_bits"]], [base["accuracy"]], "k*", ms=12, label="dense 8-bit baseline")
    ax.plot([], [], "k--x", lw=0.8, label="floor: value bits + log2 C(n, nnz) (same points)")
    ax.set(xscale="log", xlabel="weight memory stored on the chip, bits (log)", ylabel="integer test accuracy",
           title=f"Accuracy vs stored memory ({first_board})")
    _legend(ax)
    save(fig, "accuracy_vs_memory.png")

    # SPRAM only gets a panel when some build used it (weights never go there: see docs/build.md).
    kinds = ["ebr"] + (["spram"] if any(r["spram"] for r in table) else [])
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    for ax, what in zip(axes[0], kinds):
        for board, method, bits in sorted({(r["board"], r["method"], r["bits"]) for r in table if r["method"] != "rtn"}):
            pts = sorted((r["sparsity"], r[what]) for r in table
                         if (r["board"], r["method"], r["bits"]) == (board, method, bits) and r[what] is not None)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=f"{board}, {method} {bits}-bit")
        for k, board in enumerate(sorted({r["board"] for r in table if r[what] is not None})):
            cap = boards.get(board).budget[what]
            ax.axhline(cap, color="k", ls=(0, (4, 2 + 2 * k)), lw=1, label=f"{board}: {cap} {what.upper()} available")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="sparsity", ylabel=f"{what.upper()} blocks used", title=f"{what.upper()} vs sparsity", ylim=(0, None))
        _legend(ax)
    save(fig, "blocks_vs_sparsity.png")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    pruned = [r for r in mine if r["method"] != "rtn"]
    for m, b in series:
        pts = sorted((r["sparsity"], r["samples_per_s"]) for r in pruned
                     if (r["method"], r["bits"]) == (m, b) and r["samples_per_s"] is not None)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=f"{m} {b}-bit, core at fmax")
    link = sorted({(r["sparsity"], r["uart_samples_per_s"]) for r in pruned if r["uart_samples_per_s"]})
    if link:
        ax.plot(*zip(*link), "k--", label="UART link ceiling (hw.build's default baud rate)")
    ax.set(xlabel="sparsity", ylabel="samples / s", yscale="log", title=f"Throughput vs sparsity ({first_board})")
    _legend(ax)
    save(fig, "throughput_vs_sparsity.png")
    plt.close("all")
    return paths


def format_table(table: list[dict]) -> str:
    """Aligned, with whole column names."""
    cols = ["board", "method", "sparsity", "bits", "accuracy", "nnz", "stored_bits", "encoding", "floor_bits", "ratio",
            "fits", "lut", "ebr", "spram", "fmax_mhz", "cycles_per_step_median", "samples_per_s",
            "uart_samples_per_s"]

    def text(v):
        return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)

    cells = [[text(r[c]) for c in cols] for r in table]
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(cols)]
    return "\n".join(" ".join(v.rjust(w) for v, w in zip(line, widths)) for line in [cols, *cells])


def write_results(out: Path, records: list[dict], failed: dict, max_loss: float) -> tuple[list[dict], dict]:
    table = rows(records)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(table[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(table)
    store.write_text(out / "results.csv", buf.getvalue())
    pick = smallest_within(table, max_loss)
    store.write_json(out / "results.json", {"points": records, "failed": failed, "smallest": pick})
    return table, pick


def comma_separated(cast, what: str, check=lambda value: None):
    """argparse type: comma-separated values (empty items skipped), each cast and `check`ed (a
    ValueError, reported with `what`), sorted and without repeats; experiments.budget's grids too."""
    def parse(text: str) -> tuple:
        try:
            values = tuple(sorted({cast(v) for v in text.split(",") if v.strip()}))
            for v in values:
                check(v)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {text!r} ({e})") from None
        if not values:
            raise argparse.ArgumentTypeError(f"no value in {text!r}")
        return values
    return parse


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m hw.sweep", description=__doc__, formatter_class=cluster.HelpFormatter)
    ap.add_argument("--model", type=Path, help="snnTorch checkpoint; none: the dataset's bundled model")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--dataset", choices=datasets.DATASETS, default="digits", help="bundled dataset")
    src.add_argument("--data", type=Path, help="your own .npz of spike counts or events and labels (data/user.py)")
    ap.add_argument("--board", default="icebreaker", help="comma-separated board names")
    ap.add_argument("--sparsity", type=comma_separated(float, "numbers"), default="0.5,0.8,0.9,0.95,0.97,0.99",
                    help="comma-separated")
    ap.add_argument("--bits", type=comma_separated(int, "integers"), default="4,3,2",
                    help="comma-separated weight widths")
    ap.add_argument("--method", type=lambda s: [m for m in s.split(",") if m], default="osbc,magnitude",
                    help="comma-separated compression methods")
    ap.add_argument("--calib", type=int, default=256, help="calibration samples")
    ap.add_argument("--seed", type=int, default=0, help="calibration seed")
    ap.add_argument("--rtl-samples", type=int, default=4, help="test samples simulated on the RTL for cycles (0: skip)")
    ap.add_argument("--simulator", default="verilator", choices=("verilator", "icarus"), help="RTL simulator")
    ap.add_argument("--no-build", action="store_true", help="stop at the fit check (no synthesis)")
    ap.add_argument("--max-loss", type=float, default=0.01, help="accuracy loss allowed for the 'smallest' pick")
    cluster.add_arguments(ap, "point")
    ap.add_argument("--out", type=Path, default=Path("build/sweep"), help="results folder (resumed if it exists)")
    add_quiet_option(ap)
    return ap


def check(args) -> None:
    if any(not 0 <= s < 1 for s in args.sparsity):
        raise ValueError(f"--sparsity: values must lie in [0, 1), got {list(args.sparsity)}")
    if unknown := set(args.method) - set(METHODS):
        raise ValueError(f"--method: unknown {', '.join(sorted(unknown))}; choose from {', '.join(METHODS)}")
    if not args.method:
        raise ValueError(f"--method: none given; choose from {', '.join(METHODS)}")
    for b in args.bits:
        check_w_bits(b, "--bits")
    for name in ("calib", "rtl_samples"):
        if getattr(args, name) < (1 if name == "calib" else 0):
            raise ValueError(f"--{name.replace('_', '-')}: must be {'positive' if name == 'calib' else '0 or more'}, "
                             f"got {getattr(args, name)}")
    if not 0 <= args.max_loss <= 1:
        raise ValueError(f"--max-loss: an accuracy loss between 0 and 1, got {args.max_loss}")
    cluster.check_workers(args.workers, args.scheduler)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        check(args)
        settings = Settings(model=str(args.model) if args.model else None, dataset=None if args.data else args.dataset,
                            data=str(args.data) if args.data else None,
                            boards=tuple(boards.get(b).name for b in args.board.split(",")), calib=args.calib,
                            seed=args.seed, rtl_samples=args.rtl_samples, simulator=args.simulator,
                            build=not args.no_build)
        with store.locked(args.out, wait=False):
            sweep = Sweep(args.out, settings)
            points = grid(args.method, args.sparsity, args.bits)
            by_key = {p.key: p for p in points}
            todo = [p for p in points if not sweep.complete(sweep.record(p))]
            model = eta.Model(synapses(layer_sizes(settings.model)), settings.rtl_samples)
            remaining = eta.Remaining(model, {p.key: (sweep.stages(p), p.method, eta.density(p.sparsity)) for p in todo},
                                      None if args.scheduler else max(1, args.workers),
                                      {p.key: r for p in points if (r := sweep.record(p)) and r.get("seconds")})
            todo.sort(key=lambda p: -(remaining.cost(p.key) or 0))  # longest first: no long point runs alone at the end
            where = (f"the Dask cluster at {args.scheduler}" if args.scheduler else
                     f"{args.workers} local Dask workers" if args.workers else "this process")
            print(f"{len(points)} points x {len(settings.boards)} board(s), {len(todo)} to run on {where}; "
                  f"{remaining.forecast()}", file=sys.stderr)
            bar = Progress(len(todo), remaining)
            try:
                cluster.run([sweep.job(p) for p in todo], workers=args.workers, scheduler=args.scheduler,
                            on_result=lambda key, outcome: bar.finished(key, sweep.save(by_key[key], outcome)),
                            on_error=lambda key, e: bar.finished(key, error=f"{type(e).__name__}: {e}"),
                            on_stage=bar.on_stage)
            finally:
                bar.close()
            records = [r for p in points if sweep.complete(r := sweep.record(p))]
            if not any(is_baseline(r) for r in records):
                raise RuntimeError(f"the dense 8-bit baseline failed ({bar.failed.get(Point(*BASELINE).key)}); "
                                   "no loss can be measured without it")
            table, pick = write_results(args.out, records, bar.failed, args.max_loss)
            plots = plot(table, args.out)
    except (ValueError, ArtifactError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the workers are stopped, finished points are on disk
        print(f"interrupted: finished points are saved in {args.out / 'points'}; run again to resume",
              file=sys.stderr)
        return 130
    print(format_table(table))
    for board in settings.boards:
        print("\n" + describe_pick(board, pick["best"].get(board), pick))
    print(f"\nwrote {args.out / 'results.csv'}, {args.out / 'results.json'}, " + ", ".join(map(str, plots)))
    for key, why in bar.failed.items():
        print(f"error: point {key} failed at {why}", file=sys.stderr)
    return 1 if bar.failed else 0


if __name__ == "__main__":
    sys.exit(main())
