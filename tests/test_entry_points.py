"""Every `python -m` command of the project imports and answers --help (found by scanning the
packages, so a new command is covered without editing this file)."""
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("compress", "sim", "data", "hw", "experiments", "benchmarks", "boards")


def commands() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "__main__.py" or 'if __name__ == "__main__":' in path.read_text():
                module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                found.append(module)
    return found


def test_the_scan_finds_the_documented_commands():
    assert {"compress.__main__", "sim.__main__", "hw.build", "hw.verify", "hw.run", "hw.sweep",
            "benchmarks.accuracy"} <= set(commands())


@pytest.mark.parametrize("module", commands())
def test_help(module, capsys):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ") and len(out.splitlines()) > 2, out
