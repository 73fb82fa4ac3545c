"""Mutation score of the pure-Python core with mutmut, written to docs/testing.md.

    python -m benchmarks.mutation [--modules sim.reference,...] [--max-children N]   # pip install mutmut

mutmut (configured in pyproject.toml, [tool.mutmut]) plants one small change at a time in the
modules whose mistakes would silently change results (the artifact format and membrane bound, the
integer reference, the OBS/GPTQ algorithm, the hardware plan, the wire and flash-image formats),
runs the fast tests that cover each change, and records whether any test failed (killed) or none
did (survived). This script runs it, then writes the score per module and every surviving mutant's
diff between the markers of docs/testing.md. RTL mutants are planted by
tests/hw/gateware/test_rtl_mutants.py (slow) instead: a mutated generator needs a simulator run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"
BEGIN, END = "<!-- mutation:begin -->", "<!-- mutation:end -->"
RESULT = re.compile(r"^\s*(\S+)__mutmut_(\d+): (\w+)", re.M)


def mutmut(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=ROOT, text=True, **kwargs)


def report(results: str) -> str:
    """Markdown: score per module and the surviving mutants with their diffs."""
    counts: dict[str, Counter] = {}
    survivors = []
    for name, number, status in RESULT.findall(results):
        if status == "not":  # "not checked": outside --modules
            continue
        module = name.split(".x")[0]  # mutmut names a function f of module m "m.x_f" (methods "m.xǁCǁf")
        counts.setdefault(module, Counter())[status] += 1
        if status != "killed":
            survivors.append(f"{name}__mutmut_{number}")
    lines = ["| module | mutants | killed | survived | other | score |", "|---|---|---|---|---|---|"]
    total = Counter()
    for module, c in sorted(counts.items()):
        total.update(c)
        lines.append(row(module, c))
    lines.append(row("**all**", total))
    lines += ["", f"Surviving mutants ({len(survivors)}; `mutmut show NAME` prints the whole diff):", "", "```"]
    for name in survivors:
        diff = mutmut("show", name, capture_output=True).stdout.splitlines()
        changed = [line[1:].strip() for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        lines.append(f"{name}: {' -> '.join(changed)}")
    return "\n".join(lines + ["```"])


def row(module: str, c: Counter) -> str:
    n = sum(c.values())
    other = n - c["killed"] - c["survived"]
    return f"| {module} | {n} | {c['killed']} | {c['survived']} | {other} | {c['killed'] / max(n, 1):.1%} |"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__.splitlines()[0])
    p.add_argument("--max-children", type=int, default=os.cpu_count() or 1, help="parallel test runs (default: cores)")
    p.add_argument("--modules", help="comma-separated modules to mutate (default: all of [tool.mutmut] only_mutate; "
                                     "sim.artifact and compress.osbc have over 1 000 mutants each, hours on 2 cores)")
    args = p.parse_args(argv)
    if args.max_children < 1:
        p.error(f"--max-children: must be >= 1, got {args.max_children}")
    patterns = [f"{m.strip()}.*" for m in args.modules.split(",")] if args.modules else []
    mutmut("run", "--max-children", str(args.max_children), *patterns)
    results = mutmut("results", "--all", "true", capture_output=True, check=True).stdout
    section = report(results)
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + section + "\n" + text[end:])
    print(section.split("\n\n")[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
