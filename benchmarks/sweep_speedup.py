"""How much faster `python -m hw.sweep` runs on N local Dask workers than in one process.

    python -m benchmarks.sweep_speedup                          # the 12-point digits sweep of docs/sweep.md
    python -m benchmarks.sweep_speedup --sparsity 0.8,0.95 --workers 2   # a smaller subset

Runs the same sweep twice from empty folders, back to back: serially (`--workers 0`) and on
`--workers` local workers, and prints both wall times, their ratio, the CPU seconds each run spent
(its own and its children's), the cores it kept busy on average (CPU / wall), and the load average
sampled during each. It also prints the ratio the parallel run could reach with the serial run's
own point times, handed out longest first: with few points the last ones leave workers idle,
whatever the scheduling.

On a shared machine the ratio says little. Linux's autogroup scheduling (on when
/proc/sys/kernel/sched_autogroup_enabled is 1) splits the CPU between sessions, not processes: a
sweep and all its workers are one session, so while other sessions keep the cores busy it gets its
share however many workers it runs. "cores busy" shows what each run actually got.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from experiments import cluster, eta, store

GRID = ["--dataset", "digits", "--board", "icebreaker", "--bits", "4", "--method", "osbc,magnitude",
        "--rtl-samples", "1", "--simulator", "icarus"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_sweep(args: list[str], out: Path) -> dict:
    """Run one sweep into an empty `out`; its wall and CPU seconds and the load while it ran."""
    shutil.rmtree(out, ignore_errors=True)
    loads, stop = [], threading.Event()

    def sample():
        while not stop.wait(5.0):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    cpu0, start = children_cpu(), time.monotonic()
    sampler.start()
    done = subprocess.run([sys.executable, "-m", "hw.sweep", *args, "--quiet", "--out", str(out)],
                          capture_output=True, text=True)
    wall, cpu = time.monotonic() - start, children_cpu() - cpu0
    stop.set()
    sampler.join()
    if done.returncode:
        raise RuntimeError(f"sweep into {out} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    records = [store.read_json(p) for p in sorted((out / "points").glob("*.json"))]
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cores_busy": round(cpu / wall, 2),
            "load_mean": round(statistics.mean(loads), 2) if loads else None,
            "load_max": round(max(loads), 2) if loads else None,
            "point_s": {r["method"] + f"-s{r['sparsity']:g}-b{r['bits']}": round(sum(r["seconds"].values()), 1)
                        for r in records},
            "stage_median_s": {k: round(statistics.median(t for _, t in v), 1)
                               for k, v in sorted(eta.samples(records).items())}}


def autogroup() -> str:
    try:
        return {"1": "on", "0": "off"}[Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()]
    except (OSError, KeyError):
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sweep_speedup", description=__doc__,
                                 formatter_class=cluster.HelpFormatter)
    ap.add_argument("--sparsity", default="0.5,0.8,0.9,0.95,0.97,0.99", help="the sweep's --sparsity")
    ap.add_argument("--workers", type=int, default=2, help="local Dask workers of the parallel run")
    ap.add_argument("--out", type=Path, default=Path("build/sweep-speedup"),
                    help="folder for both sweeps (emptied first) and speedup.json")
    args = ap.parse_args(argv)
    if args.workers < 1:
        print(f"error: --workers: the parallel run needs 1 or more, got {args.workers}", file=sys.stderr)
        return 2
    grid = [*GRID, "--sparsity", args.sparsity]
    print(f"hw.sweep {' '.join(grid)}: serially, then on {args.workers} workers "
          f"({os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} now, autogroup {autogroup()})", file=sys.stderr)
    try:
        serial = timed_sweep([*grid, "--workers", "0"], args.out / "serial")
        parallel = timed_sweep([*grid, "--workers", str(args.workers)], args.out / f"workers-{args.workers}")
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    work = sum(serial["point_s"].values())
    result = {"command": f"python -m hw.sweep {' '.join(grid)}", "cores": os.cpu_count(), "workers": args.workers,
              "autogroup": autogroup(),
              "serial": serial, "parallel": parallel, "ratio": round(parallel["wall_s"] / serial["wall_s"], 3),
              "best_ratio_for_these_points": round(eta.makespan(list(serial["point_s"].values()), args.workers) / work, 3)}
    store.write_json(args.out / "speedup.json", result)
    for name in ("serial", "parallel"):
        r = result[name]
        print(f"{name:>8}: {r['wall_s']:7.1f} s wall, {r['cpu_s']:7.1f} s CPU ({r['cores_busy']} cores busy), "
              f"load {r['load_mean']} mean "
              f"({r['load_max']} max); stage medians {r['stage_median_s']}")
    print(f"ratio: {result['ratio']:.2f} x the serial time ({args.workers} workers); "
          f"{result['best_ratio_for_these_points']:.2f} x at best for these {len(serial['point_s'])} points' "
          f"serial times handed out longest first")
    print(f"wrote {args.out / 'speedup.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
