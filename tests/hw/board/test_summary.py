"""BuildReport, what hw.board.build.build returns: still the report dict, shown as the CLI's table in a
shell and as HTML tables in Jupyter (recorded tool output of the bundled model, tests/hw/board/data)."""
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

import boards
from hw.board import report
from hw.board.fit import estimate
from hw.board.summary import BuildReport
from sim.artifact import load

DATA = Path(__file__).parent / "data"


class Cells(HTMLParser):
    """The text of every table cell, row by row, per table caption."""

    def __init__(self):
        super().__init__()
        self.tables, self.row, self.text, self.where = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "caption":
            self.text = ""
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th"):
            self.text = ""

    def handle_endtag(self, tag):
        if tag == "caption":
            self.where, self.text = self.text, None
            self.tables[self.where] = []
        elif tag in ("td", "th"):
            self.row.append(self.text)
            self.text = None
        elif tag == "tr":
            self.tables[self.where].append(self.row)

    def handle_data(self, data):
        if self.text is not None:
            self.text += data


def test_build_report_is_the_dict_with_a_table_repr_and_html_tables():
    art, board = load(), boards.get("icebreaker")
    counts = np.zeros((art.steps, 1, art.n_in), np.uint8)
    r = BuildReport(report.assemble(
        art, board, estimate(art, board), pnr=json.loads((DATA / "icebreaker.nextpnr.json").read_text()),
        stat=json.loads((DATA / "icebreaker.stat.json").read_text()),
        synth_log=(DATA / "icebreaker.libmap.log").read_text(), netlist=None, target_hz=24e6, baud=115200,
        counts=counts, workload="silence"))
    assert json.loads(json.dumps(r)) == dict(r) and r["resources"]["lut"]["used"] == 1256
    assert repr(r) == report.table(r)

    parsed = Cells()
    parsed.feed(r._repr_html_())
    resources = {row[0]: row[1:3] for row in parsed.tables["resources"][1:]}
    assert resources == {name: [str(v["used"]), str(v["available"])] for name, v in r["resources"].items()}
    placed = {row[0]: row[1] for row in parsed.tables["memory placement (netlist)"][1:]}
    assert placed == {name.split(".", 1)[-1]: m["to"] for name, m in r["memories"].items()}
    weights = parsed.tables["weight memory (bits)"]
    total = r["model_memory"]["total"]
    assert weights[-1][:4] == ["all", str(total["stored_bits"]), total["encoding"], str(total["floor_bits"])]
