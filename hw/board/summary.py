"""What `hw.board.build.build` returns: the build report, readable in a shell and a notebook.

`BuildReport` is the dict written to report.json (`r["timing"]["fmax_mhz"]`, `json.dumps(r)` work
as before); its `repr` is the CLI's table and Jupyter shows it as HTML tables: resources against
the pre-synthesis estimate, timing, where each memory went, the weight memory and throughput.
"""
from __future__ import annotations

from html import escape

from console.html import table as html_table

from . import report


class BuildReport(dict):
    def __repr__(self) -> str:
        return report.table(self)

    def _repr_html_(self) -> str:
        model, t, est = self["model"], self["timing"], self["estimate"]
        head = (f"<p><b>{self['board']}</b> ({self['device']}): model {' → '.join(map(str, model['shape']))}, "
                f"{model['w_bits'][0]}-bit weights stored {'/'.join(model['storage'])}; fmax {t['fmax_mhz']:.2f} MHz "
                f"vs core clock {t['target_mhz']:.2f} MHz: <b>{'met' if t['met'] else 'NOT MET'}</b></p>")
        resources = html_table(
            ["resource", "used", "available", "use", "estimate"],
            [[name, r["used"], r["available"], f"{r['used'] / r['available']:.0%}", _estimate(est.get(name))]
             for name, r in self["resources"].items()], "resources")
        memories = html_table(["memory", "placed in", "blocks"],
                              [[name.split(".", 1)[-1], m["to"], m["blocks"]] for name, m in self["memories"].items()],
                              "memory placement (netlist)")
        mm = self["model_memory"]
        weights = html_table(["layer", "stored", "as", "floor", "stored / floor", "dense", "CSR", "delta"],
                             [[k, r["stored_bits"], r["encoding"], r["floor_bits"], f"{r['ratio']:.2f}", r["dense_bits"],
                               r["csr_bits"], r["delta_bits"]]
                              for k, r in [*enumerate(mm["layers"]), ("all", mm["total"])]],
                             "weight memory (bits)")
        tail = ""
        if "throughput" in self:
            th = self["throughput"]
            sps = th["core_samples_per_s"]
            tail += (f"<p>core: {sps['min']}..{sps['max']} samples/s at fmax ({th['workload']}); UART at "
                     f"{self['uart']['baud']} baud: {th['uart_samples_per_s']} samples/s</p>")
        if "bitstream" in self:
            b = self["bitstream"]
            tail += (f"<p>bitstream <code>{escape(b['path'])}</code> ({b['bytes']} B), build "
                     f"{self['build_seconds']['total']} s</p>")
        return head + resources + memories + weights + tail


def _estimate(guess: dict | None) -> str:
    """The fit check's pre-synthesis figure of a resource: a range or a count."""
    if not guess:
        return ""
    return f"{guess['low']}..{guess['high']}" if "low" in guess else str(guess["used"])
