"""Mutation score of the pure-Python core with mutmut, written to docs/testing.md.

    python -m benchmarks.mutation [--modules sim.reference,...] [--survivors] [--max-children N]   # pip install mutmut

mutmut (configured in pyproject.toml, [tool.mutmut]) plants one small change at a time in the
modules whose mistakes would silently change results (the artifact format and membrane bound, the
integer reference, the OBS/GPTQ algorithm, the hardware plan, the wire and flash-image formats),
runs the fast tests that cover each change, and records whether any test failed (killed) or none
did (survived). This script runs it, then writes the score per module and every surviving mutant's
diff between the markers of docs/testing.md; the table covers every module mutmut has results for
(its cache in mutants/), so runs over different --modules add up. --survivors re-runs only the
mutants that survived before, against the tests as they are now. RTL mutants are planted by
tests/hw/gateware/test_rtl_mutants.py (slow) instead: a mutated generator needs a simulator run.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"
BEGIN, END = "<!-- mutation:begin -->", "<!-- mutation:end -->"
DETECTED = ("killed", "timeout")  # a mutant that makes a test fail or hang (past mutmut's timeout)
RESULT = re.compile(r"^\s*(\S+)__mutmut_(\d+): (\w+)", re.M)


def mutmut(*args: str, **kwargs) -> subprocess.CompletedProcess:
    # mutmut forks one child per mutant from a process that has run torch; a forked child that enters
    # torch's OpenMP thread pool hangs until its timeout, so every test process runs single-threaded.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=ROOT, text=True, env=env, **kwargs)


def results() -> str:
    return mutmut("results", "--all", "true", capture_output=True, check=True).stdout


def report(results: str) -> str:
    """Markdown: score per module and the surviving mutants with their diffs."""
    counts: dict[str, Counter] = {}
    for name, _, status in checked(results):
        module = name.split(".x")[0]  # mutmut names a function f of module m "m.x_f" (methods "m.xǁCǁf")
        counts.setdefault(module, Counter())[status] += 1
    survivors = surviving(results)
    hung = [f"{name}__mutmut_{number}" for name, number, status in checked(results) if status == "timeout"]
    lines = ["| module | mutants | killed | timed out | survived | other | score |", "|---|---|---|---|---|---|---|"]
    total = Counter()
    for module, c in sorted(counts.items()):
        total.update(c)
        lines.append(row(module, c))
    lines.append(row("**all**", total))
    lines += ["", f"Timed out ({len(hung)}; detected: the tests hang under the mutant instead of passing): "
                  + (", ".join(f"`{name}`" for name in hung) or "none") + "."]
    lines += ["", f"Surviving mutants ({len(survivors)}; `mutmut show NAME` prints the whole diff):", "", "```"]
    for name in survivors:
        diff = mutmut("show", name, capture_output=True).stdout.splitlines()
        changed = [line[1:].strip() for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        lines.append(f"{name}: {' -> '.join(changed)}")
    return "\n".join(lines + ["```"])


def checked(results: str) -> list[tuple[str, str, str]]:
    """(function, number, status) of every mutant run so far ("not checked": never run, left out)."""
    return [r for r in RESULT.findall(results) if r[2] != "not"]


def surviving(results: str) -> list[str]:
    """Names of the mutants that no test detected (survived, no test covers them, ...)."""
    return [f"{name}__mutmut_{number}" for name, number, status in checked(results) if status not in DETECTED]


def row(module: str, c: Counter) -> str:
    n = sum(c.values())
    other = n - c["killed"] - c["timeout"] - c["survived"]  # no tests cover it, suspicious, ...
    score = sum(c[s] for s in DETECTED) / max(n, 1)
    return f"| {module} | {n} | {c['killed']} | {c['timeout']} | {c['survived']} | {other} | {score:.1%} |"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__.splitlines()[0])
    p.add_argument("--max-children", type=int, default=os.cpu_count() or 1, help="parallel test runs (default: cores)")
    p.add_argument("--modules", help="comma-separated modules to mutate (default: all of [tool.mutmut] only_mutate; "
                                     "sim.artifact and compress.osbc have over 1 000 mutants each)")
    p.add_argument("--survivors", action="store_true",
                   help="re-run only the mutants (of --modules) that survived the previous runs")
    args = p.parse_args(argv)
    if args.max_children < 1:
        p.error(f"--max-children: must be >= 1, got {args.max_children}")
    patterns = [f"{m.strip()}.*" for m in args.modules.split(",")] if args.modules else []
    if args.survivors:
        if not (ROOT / "mutants").is_dir():
            p.error("--survivors: no previous run (mutants/ is missing); run without --survivors first")
        patterns = [n for n in surviving(results()) if not patterns or any(fnmatch(n, p) for p in patterns)]
        if not patterns:
            p.error("--survivors: no surviving mutants to re-run (run without --survivors first)")
    mutmut("run", "--max-children", str(args.max_children), *patterns)
    section = report(results())
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + section + "\n" + text[end:])
    print(section.split("\n\n")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
