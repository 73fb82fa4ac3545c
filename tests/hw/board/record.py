"""Record the tool outputs the report tests read (tests/hw/board/data/) from a real build folder.

    python -m hw.build --board icebreaker --out /tmp/b && python tests/hw/board/record.py /tmp/b/icebreaker icebreaker

Keeps only what hw/board/report.py reads: nextpnr's fmax and utilisation, yosys' cell counts, the
memory_libmap lines of the yosys log and the netlist's memory cells (name -> type), so the files
stay small and the tests run on what the tools really wrote for the current design.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

NAME = "snn_top"
MEMORY_CELLS = ("SB_RAM40_4K", "SB_SPRAM256KA", "DP16KD")
_LIBMAP = re.compile(r"^(?:mapping memory \S+ via \S+|using FF mapping for memory \S+)$", re.M)


def record(build: Path, name: str, data: Path) -> None:
    pnr = json.loads((build / f"{NAME}.report.json").read_text())
    stat = json.loads((build / f"{NAME}.stat.json").read_text())
    netlist = json.loads((build / f"{NAME}.json").read_text())
    log = (build / f"{NAME}.rpt").read_text(errors="replace")
    cells = {cell_name: cell["type"] for module in netlist["modules"].values()
             for cell_name, cell in module["cells"].items() if cell["type"] in MEMORY_CELLS}
    files = {
        "nextpnr.json": {"fmax": pnr["fmax"], "utilization": pnr["utilization"]},
        "stat.json": {"design": {"num_cells_by_type": stat["design"]["num_cells_by_type"]}},
        "cells.json": dict(sorted(cells.items())),
    }
    for suffix, content in files.items():
        (data / f"{name}.{suffix}").write_text(json.dumps(content, indent=1) + "\n")
    (data / f"{name}.libmap.log").write_text("\n".join(_LIBMAP.findall(log)) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    record(Path(sys.argv[1]), sys.argv[2], Path(__file__).parent / "data")
