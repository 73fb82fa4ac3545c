"""Small HTML tables for the reports' `_repr_html_` (how Jupyter shows an object)."""
from __future__ import annotations

from html import escape


def table(header: list[str], rows: list[list], caption: str = "") -> str:
    """An HTML table; numbers right-aligned, every cell escaped."""
    def cell(tag, v):
        align = ' style="text-align:right"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
        return f"<{tag}{align}>{escape(str(v))}</{tag}>"

    head = "".join(cell("th", h) for h in header)
    body = "".join("<tr>" + "".join(cell("td", v) for v in row) + "</tr>" for row in rows)
    cap = f"<caption style=\"text-align:left\"><b>{escape(caption)}</b></caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
