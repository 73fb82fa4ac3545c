"""docs/examples/researcher_loop.py runs top to bottom in a fresh kernel, and the committed notebook
is that script executed (same cells). Needs the `notebook` extra, Verilator or Icarus and the FPGA tools."""
import json

import pytest

from docs.examples import render

pytestmark = pytest.mark.slow


def test_the_researcher_loop_notebook_runs_and_matches_its_script(tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("jupytext")
    script = render.HERE / "researcher_loop.py"
    fresh = json.loads(render.render(script, tmp_path / "loop.ipynb").read_text())
    committed = json.loads(script.with_suffix(".ipynb").read_text())

    def sources(nb):
        return [(c["cell_type"], "".join(c["source"])) for c in nb["cells"]]

    assert sources(fresh) == sources(committed), "re-render: python -m docs.examples.render"
    outputs = [o for c in fresh["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "samples identical 20/20" in text and "MISMATCH" not in text
    assert "fmax" in text and ": met" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the plot is inline
