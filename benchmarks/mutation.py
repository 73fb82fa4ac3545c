"""Mutation score of the pure-Python core with mutmut, written to docs/testing.md.

    python -m benchmarks.mutation [--modules sim.reference,...] [--survivors] [--max-children N]   # pip install mutmut

mutmut (configured in pyproject.toml, [tool.mutmut]) plants one small change at a time in the
modules whose mistakes would silently change results (the artifact format and membrane bound, the
integer reference, the OBS/GPTQ algorithm, the hardware plan, the wire and flash-image formats),
runs the fast tests that cover each change, and records whether any test failed (killed) or none
did (survived). This script runs it, then writes the score per module and every surviving mutant's
diff between the markers of docs/testing.md; the table covers every module mutmut has results for
(its cache in mutants/), so runs over different --modules add up. --survivors runs only the
mutants not detected so far (after tests were added, or code changed), against the tests as they
are now. Mutants argued equivalent in benchmarks/mutation_equivalent.txt are left out of the score
and printed with their argument. RTL mutants are planted by tests/hw/gateware/test_rtl_mutants.py
(slow) instead: a mutated generator needs a simulator run.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import functools
import os
import re
import subprocess
import sys
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"
EQUIVALENT = ROOT / "benchmarks" / "mutation_equivalent.txt"
BEGIN, END = "<!-- mutation:begin -->", "<!-- mutation:end -->"
# Only a failing test detects a mutant. A timeout can be a mutant that hangs (a real detection) or a
# test slowed by a busy machine past mutmut's limit, so timed-out mutants are listed, not counted.
DETECTED = ("killed",)
RESULT = re.compile(r"^\s*(\S+)__mutmut_(\d+): (\w.*?)\s*$", re.M)  # status: killed, survived, no tests, ...


def mutmut(*args: str, **kwargs) -> subprocess.CompletedProcess:
    # mutmut forks one child per mutant from a process that has run torch; a forked child that enters
    # torch's OpenMP thread pool hangs until its timeout, so every test process runs single-threaded.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=ROOT, text=True, env=env, **kwargs)


def results() -> str:
    return mutmut("results", "--all", "true", capture_output=True, check=True).stdout


def report(results: str) -> str:
    """Markdown: score per module, then the timed-out, surviving and argued-equivalent mutants with their diffs."""
    arguments = equivalents()
    status = {f"{name}__mutmut_{number}": s for name, number, s in checked(results)}
    for name, s in status.items():
        if s != "killed" and name in arguments:
            status[name] = "equivalent"
    counts: dict[str, Counter] = {}
    for name, s in status.items():
        counts.setdefault(module_of(name), Counter())[s] += 1
    lines = ["| module | mutants | killed | timed out | survived | equivalent | other | score |",
             "|---|---|---|---|---|---|---|---|"]
    total = Counter()
    for module, c in sorted(counts.items()):
        total.update(c)
        lines.append(row(module, c))
    lines.append(row("**all**", total))
    hung = [name for name, s in status.items() if s == "timeout"]
    lines += ["", f"Timed out ({len(hung)}; not counted as detected: a hang, or tests slowed past mutmut's limit): "
                  + (", ".join(f"`{name}`" for name in hung) or "none") + "."]
    survivors = [name for name, s in status.items() if s not in DETECTED + ("equivalent", "timeout")]
    lines += ["", f"Surviving mutants ({len(survivors)}; `mutmut show NAME` prints the whole diff):", "", "```"]
    lines += [f"{name} [{status[name]}]: {diff(name)}" for name in survivors] + ["```"]
    equivalent = [name for name, s in status.items() if s == "equivalent"]
    lines += ["", f"Argued equivalent ({len(equivalent)}; the arguments are in {EQUIVALENT.relative_to(ROOT)}):", ""]
    for argument in dict.fromkeys(arguments[name] for name in equivalent):
        lines += [f"* {argument}", "", "  ```"]
        lines += [f"  {name}: {diff(name)}" for name in equivalent if arguments[name] == argument] + ["  ```"]
    return "\n".join(lines)


def equivalents() -> dict[str, str]:
    """Mutant name -> the argument why it cannot change behaviour, from EQUIVALENT: a line
    "## argument" followed by the names it covers."""
    found, argument = {}, None
    for line in EQUIVALENT.read_text().splitlines():
        line = line.strip()
        if line.startswith("## "):
            argument = line[3:]
        elif line and not line.startswith("#"):
            found[line] = argument
    return found


def module_of(name: str) -> str:
    return name.split(".x")[0]  # mutmut names a function f of module m "m.x_f" (methods "m.xǁCǁf")


@functools.cache
def functions(module: str) -> dict[str, str]:
    """Source of every function in mutmut's copy of `module`, originals ("..._mutmut_orig") and mutants."""
    source = (ROOT / "mutants" / (module.replace(".", "/") + ".py")).read_text()
    lines = source.splitlines()
    return {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno]).replace(node.name, "f", 1)
            for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)}


def diff(name: str) -> str:
    """The changed lines of a mutant, "old -> new" (what `mutmut show` prints, without its run)."""
    module = module_of(name)
    funcs = functions(module)
    function = name[len(module) + 1:]
    original = funcs[function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"].splitlines()
    changed = difflib.unified_diff(original, funcs[function].splitlines(), lineterm="", n=0)
    return " -> ".join(line[1:].strip() for line in changed if line[:1] in "+-" and line[:3] not in ("+++", "---"))


def checked(results: str) -> list[tuple[str, str, str]]:
    """(function, number, status) of every mutant run so far ("not checked": never run, left out)."""
    return [r for r in RESULT.findall(results) if r[2] != "not checked"]


def surviving(results: str) -> list[str]:
    """Names of the mutants that no test detected (survived, no test covers them, ...)."""
    return [f"{name}__mutmut_{number}" for name, number, status in checked(results) if status not in DETECTED]


def row(module: str, c: Counter) -> str:
    """Score: detected / mutants that could be detected (argued-equivalent ones left out)."""
    n = sum(c.values())
    other = n - c["killed"] - c["timeout"] - c["survived"] - c["equivalent"]  # no tests cover it, suspicious, ...
    score = sum(c[s] for s in DETECTED) / max(n - c["equivalent"], 1)
    return (f"| {module} | {n} | {c['killed']} | {c['timeout']} | {c['survived']} | {c['equivalent']} | {other} "
            f"| {score:.1%} |")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mutation", description=__doc__.splitlines()[0])
    p.add_argument("--max-children", type=int, default=os.cpu_count() or 1, help="parallel test runs (default: cores)")
    p.add_argument("--modules", help="comma-separated modules to mutate, or mutant name patterns with * "
                                     "(default: all of [tool.mutmut] only_mutate)")
    p.add_argument("--survivors", action="store_true",
                   help="run only the mutants (of --modules) not detected so far: survivors and mutants never "
                        "run (new or changed code), not the argued-equivalent ones")
    args = p.parse_args(argv)
    if args.max_children < 1:
        p.error(f"--max-children: must be >= 1, got {args.max_children}")
    patterns = [m if "*" in m else f"{m}.*" for m in (m.strip() for m in args.modules.split(","))] if args.modules else []
    if args.survivors:
        if not (ROOT / "mutants").is_dir():
            p.error("--survivors: no previous run (mutants/ is missing); run without --survivors first")
        argued, found = equivalents(), results()
        unrun = [f"{name}__mutmut_{number}" for name, number, s in RESULT.findall(found) if s == "not checked"]
        patterns = [n for n in surviving(found) + unrun
                    if n not in argued and (not patterns or any(fnmatch(n, p) for p in patterns))]
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
