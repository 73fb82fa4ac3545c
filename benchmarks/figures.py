"""The figures README.md quotes, computed by the code at HEAD and written between markers.

    python -m benchmarks.figures            # recompute every figure and rewrite README.md
    python -m benchmarks.figures --check    # exit 1, naming each figure, when README.md differs

A quoted figure sits between `<!-- fig:NAME -->` and `<!-- /fig -->`; nothing else in the file is
touched. Every figure here is deterministic under the fixed seeds (LUT/EBR/fmax of the default build
with nextpnr's fixed seed, accuracies of the integer and float models on the fixed test inputs), so
`--check` compares exactly; the `slow` test tests/test_figures.py runs it.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
MARKED = re.compile(r"<!-- fig:([a-z0-9-]+) -->(.*?)<!-- /fig -->", re.S)


def percent(x: float) -> str:
    return f"{100 * x:.1f} %"


def default_build() -> str:
    """What `python -m hw.build --board icebreaker` reports for the bundled model."""
    import boards
    from hw.board.build import build
    from sim.artifact import load

    with tempfile.TemporaryDirectory() as out:
        r = build(load(), boards.get("icebreaker"), Path(out), artifact_path="bundled", progress=False)
    res, t = r["resources"], r["timing"]
    lut = f"{res['lut']['used']:,}".replace(",", " ")
    return (f"{lut} LUT4, {res['ebr']['used']} of {res['ebr']['available']} EBR, "
            f"{t['fmax_mhz']:.2f} MHz against a {t['target_mhz']:g} MHz clock")


def bundled_accuracy() -> str:
    """Integer accuracy of the bundled RTN 4-bit digits model on the whole test split."""
    from sim.artifact import load
    from sim.evaluate import evaluate

    return percent(evaluate(load(), progress=False))


def digits_float_accuracy() -> str:
    """Float (snnTorch) accuracy of the bundled digits checkpoint on the same test inputs."""
    from compress.snntorch_import import CHECKPOINT_DEFAULT, load_checkpoint
    from compress.train import float_accuracy
    from compress.train_reference import test_counts

    model, spec = load_checkpoint(CHECKPOINT_DEFAULT)
    return percent(float_accuracy(model, *test_counts(spec["encoding"])))


FIGURES = {"default-build": default_build, "bundled-accuracy": bundled_accuracy,
           "digits-float": digits_float_accuracy}


def update(text: str, values: dict[str, str]) -> str:
    return MARKED.sub(lambda m: f"<!-- fig:{m[1]} -->{values.get(m[1], m[2])}<!-- /fig -->", text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.figures", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare instead of rewriting; exit 1 on any difference")
    args = p.parse_args(argv)
    text = README.read_text()
    quoted = dict((name, value) for name, value in MARKED.findall(text))
    unknown = set(quoted) - set(FIGURES)
    if unknown:
        print(f"error: README.md quotes figures no script computes: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    values = {name: FIGURES[name]() for name in quoted}
    drift = {name: (quoted[name], v) for name, v in values.items() if quoted[name] != v}
    for name, (old, new) in drift.items():
        print(f"{name}: README says {old!r}, HEAD gives {new!r}")
    if args.check:
        return 1 if drift else 0
    README.write_text(update(text, values))
    print(f"README.md: {len(values)} figures, {len(drift)} updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
