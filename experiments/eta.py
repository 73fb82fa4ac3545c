"""How long the points of a sweep take: before any has run, and refined as they finish.

A point runs stages ("compress", "accuracy", "rtl", "build <board>" or "fit <board>") and its record
keeps each stage's seconds. A stage's time is a line in the point's density (1 - sparsity: the
dense baseline simulates and places far more synapses than a 99 % sparse point), `a + b * density`,
fitted by least squares over the densities measured and held at its ends outside them (the median
when all densities are equal or the slope comes out negative); compression per method.

* Before any point: `stage_seconds.json`, the lines fitted on recorded sweeps, one row per network,
  interpolated linearly in the network's synapse count (extrapolated from the two nearest rows,
  never below the fastest), the RTL simulation scaled by the samples simulated; an unknown board
  takes the median of the known boards' builds.
* Once points of the same sweep folder have finished (in this run or an earlier one): the table's
  line scaled by the median ratio of their measured times to it (this machine, its load, this
  network), or, for a stage the table lacks, the line fitted on them.

The wall time on P workers is that of handing the points out longest first, each to the worker
that frees up first (LPT): the order in which the sweep submits them, so that no long point is
left to run alone at the end.
"""
from __future__ import annotations

import argparse
import heapq
import json
import statistics
import sys
import time
from pathlib import Path

TABLE = Path(__file__).with_name("stage_seconds.json")


def stage_key(stage: str, method: str) -> str:
    """Compression time depends on the method (OSBC solves, magnitude only sorts); the rest does not."""
    return f"compress {method}" if stage == "compress" else stage


def density(sparsity: float) -> float:
    return 1.0 - sparsity


def fit(samples: list[tuple[float, float]]) -> tuple[float, float, float, float]:
    """(a, b, lo, hi): seconds = a + b * density for densities in [lo, hi], the range measured (the
    line is not extended beyond it: a sweep of 97-99 % sparse points says little of a dense one).
    A slope that comes out negative (noise: more synapses never take less time) is dropped for the median."""
    densities = [d for d, _ in samples]
    lo, hi = min(densities), max(densities)
    if lo < hi:
        slope, intercept = statistics.linear_regression(*zip(*samples))
        if slope >= 0:
            return intercept, slope, lo, hi
    return statistics.median(t for _, t in samples), 0.0, lo, hi


def samples(records: list[dict]) -> dict[str, list[tuple[float, float]]]:
    """(density, seconds) per stage key over finished points' records."""
    out: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        for stage, s in r.get("seconds", {}).items():
            if r.get("boards", {}).get(stage.split(" ", 1)[-1], {}).get("fits") is False:
                continue  # refused by the fit check before any build: says nothing of a build's time
            out.setdefault(stage_key(stage, r["method"]), []).append((density(r["sparsity"]), s))
    return out


def measured(records: list[dict]) -> dict[str, tuple[float, float, float, float]]:
    """The line of each stage key over finished points' records."""
    return {k: fit(v) for k, v in samples(records).items()}


def at(line, d: float) -> float:
    a, b, lo, hi = line
    return a + b * min(max(d, lo), hi)


def _interpolate(rows: list[tuple[int, float]], synapses: int) -> float:
    rows = sorted(rows)
    if len(rows) == 1:
        return rows[0][1]
    k = min(max(next((i for i, (n, _) in enumerate(rows) if n >= synapses), len(rows) - 1), 1), len(rows) - 1)
    (n0, t0), (n1, t1) = rows[k - 1], rows[k]
    return max(t0 + (t1 - t0) * (synapses - n0) / (n1 - n0), min(t for _, t in rows))


class Model:
    """Seconds per stage of a point of a network with `synapses` weights (dense count) at a density."""

    def __init__(self, synapses: int | None, rtl_samples: int, table: dict | None = None):
        self.synapses, self.rtl_samples = synapses, rtl_samples
        self.table = table if table is not None else json.loads(TABLE.read_text())
        self.known: dict[str, list[tuple[float, float]]] = {}

    def learn(self, records: list[dict]) -> None:
        """Take the stage times of finished points (they scale the table's lines, or stand in for them)."""
        self.known = samples(records)

    def _from_table(self, key: str, d: float) -> float | None:
        if self.synapses is None:
            return None
        rows = [(n["synapses"], at(n["seconds"][key], d) * (self.rtl_samples / n["rtl_samples"] if key == "rtl" else 1))
                for n in self.table["networks"] if key in n["seconds"]]
        if not rows and key.startswith(("build ", "fit ")):  # a board no recorded sweep built for
            kind = key.split()[0] + " "
            rows = [(n["synapses"], statistics.median(at(line, d) for k, line in n["seconds"].items() if k.startswith(kind)))
                    for n in self.table["networks"] if any(k.startswith(kind) for k in n["seconds"])]
        return _interpolate(rows, self.synapses) if rows else None

    def seconds(self, stage: str, method: str, d: float) -> float | None:
        """At density d; None when neither finished points nor the table know the stage."""
        key = stage_key(stage, method)
        table, finished = self._from_table(key, d), self.known.get(key)
        if not finished:
            return table
        ratios = [t / p for dd, t in finished if (p := self._from_table(key, dd))]
        return table * statistics.median(ratios) if table is not None and ratios else at(fit(finished), d)

    def point(self, stages: list[str], method: str, d: float) -> float | None:
        times = [self.seconds(s, method, d) for s in stages]
        return None if None in times else sum(times)


def makespan(costs: list[float], workers: int, busy: list[float] = ()) -> float:
    """Seconds until `costs` are done on `workers` taking them longest first, each worker first
    finishing what it is `busy` with (seconds left of its running point)."""
    free = [*busy, *[0.0] * max(workers - len(busy), 0)]
    heapq.heapify(free)
    for c in sorted(costs, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + c)
    return max(free, default=0.0)


class Remaining:
    """Seconds left of a run: the predicted cost of the points not finished, less what the running
    ones have done already; every point that finishes refines the stage times."""

    def __init__(self, model: Model, points: dict[str, tuple[list[str], str]], workers: int | None,
                 finished: dict[str, dict], clock=time.monotonic):
        """points: name -> (stages it runs, method, density); workers: None on a cluster of unknown size
        (then as many as have run points at once); finished: name -> record of the folder's points."""
        self.model, self.points, self.workers, self.clock = model, dict(points), workers, clock
        self.records = dict(finished)
        model.learn(list(self.records.values()))
        self.started: dict[str, float] = {}
        self.most_running = 0
        # per point, until a finished point refines the stage times (the model learns through finish only)
        self.costs: dict[str, float | None] = {}

    def cost(self, name: str) -> float | None:
        """The point's predicted seconds, computed once per refinement: every stage event asks again."""
        if name not in self.costs:
            self.costs[name] = self.model.point(*self.points[name])
        return self.costs[name]

    def start(self, name: str) -> None:
        self.started.setdefault(name, self.clock())
        self.most_running = max(self.most_running, len(self.started))

    def finish(self, name: str, record: dict | None) -> None:
        """record: None when the point failed."""
        del self.points[name]
        self.costs.pop(name, None)
        self.started.pop(name, None)
        if record is not None:
            self.records[name] = record
            self.model.learn(list(self.records.values()))
            self.costs.clear()  # the stage times changed, and every point's cost with them

    def seconds(self) -> float | None:
        """None while some stage has no time to go on."""
        costs = {n: self.cost(n) for n in self.points}
        if None in costs.values():
            return None
        now = self.clock()
        busy = [max(costs[n] - (now - t), 0.0) for n, t in self.started.items()]
        waiting = [c for n, c in costs.items() if n not in self.started]
        return makespan(waiting, self.workers or max(self.most_running, 1), busy)

    def forecast(self) -> str:
        """The estimate printed before the run starts."""
        if not self.points:
            return "nothing to run"
        left = self.seconds()
        if left is None:
            return "time estimate after the first point (no recorded stage times for this network)"
        source = (f"{TABLE.name} scaled to {len(self.records)} finished point(s)" if self.model.known
                  else f"recorded stage times ({TABLE.name})")
        if self.workers is None:
            work = sum(self.cost(n) for n in self.points)
            return f"{describe(work)} of work in all, shared by the cluster's workers (from {source})"
        return f"about {describe(left)} on {self.workers} worker(s), longest points first (from {source})"


def describe(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def table_row(records: list[dict], synapses: int, layers: list[int], rtl_samples: int) -> dict:
    """The row of stage_seconds.json that a finished sweep's records measured: [a, b] per stage key."""
    return {"layers": layers, "synapses": synapses, "rtl_samples": rtl_samples,
            "seconds": {k: [round(a, 2), round(b, 2), round(lo, 3), round(hi, 3)]
                        for k, (a, b, lo, hi) in sorted(measured(records).items())}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.eta",
                                 description="Print the stage_seconds.json row that a finished sweep folder measured "
                                             "(run the sweep with --workers 0 on an otherwise idle machine).")
    ap.add_argument("out", type=Path, help="a sweep's --out folder")
    ap.add_argument("--rtl-samples", type=int, required=True, help="the sweep's --rtl-samples")
    args = ap.parse_args(argv)
    from experiments import store, sweep

    try:
        identity = store.read_json(args.out / "settings.json")
        layers = sweep.layer_sizes(identity["model"])
        records = [store.read_json(p) for p in sorted((args.out / "points").glob("*.json"))]
    except (OSError, ValueError) as e:
        print(f"error: {args.out}: {e}", file=sys.stderr)
        return 2
    if layers is None:
        print(f"error: {args.out}: cannot read the model's layer sizes", file=sys.stderr)
        return 2
    print(json.dumps(table_row(records, sweep.synapses(layers), layers, args.rtl_samples)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
