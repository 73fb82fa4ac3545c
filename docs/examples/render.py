"""Execute the example scripts (percent format, `# %%` cells) into notebooks beside them.

    python -m docs.examples.render [SCRIPT.py ...]    (default: every docs/examples/*.py example)

Needs the `notebook` extra (pip install -e ".[notebook]"). The kernel runs in the repository root,
as a user following README would; the notebook keeps its outputs, without execution timestamps, so
a re-render only changes what the code printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ("researcher_loop.py",)


def render(script: Path, out: Path | None = None, timeout: int = 3600) -> Path:
    """Execute `script` top to bottom in a fresh python3 kernel; write `out` (default: script.ipynb)."""
    import jupytext
    import nbclient
    import nbformat

    notebook = jupytext.read(script)
    notebook.metadata.pop("jupytext", None)
    nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    out = out or script.with_suffix(".ipynb")
    nbformat.write(notebook, out)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m docs.examples.render", description=__doc__.splitlines()[0])
    p.add_argument("scripts", nargs="*", type=Path, default=[HERE / name for name in EXAMPLES])
    args = p.parse_args(argv)
    try:
        from nbclient.exceptions import CellExecutionError

        for script in args.scripts:
            if not script.is_file():
                raise ValueError(f"{script}: no such example script")
            try:
                print(render(script))
            except CellExecutionError as e:  # its message is the whole cell traceback
                print(f"error: {script}: a cell failed: {e.ename}: {e.evalue}", file=sys.stderr)
                return 1
    except ImportError as e:
        print(f"error: {e.name}: not installed; pip install -e \".[notebook]\"", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
