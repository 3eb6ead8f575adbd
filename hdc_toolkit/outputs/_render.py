"""HTML for a table with its flagged cells highlighted (notebook display and the review page)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

__all__ = ["STYLE", "table_html"]

STYLE = """
table.hdc-sdc { border-collapse: collapse; font: 13px/1.4 system-ui, sans-serif; }
table.hdc-sdc th, table.hdc-sdc td { border: 1px solid #bbb; padding: 2px 8px; text-align: right; }
table.hdc-sdc th { background: #f0f0f0; }
table.hdc-sdc td.flagged { background: #ffd6d6; outline: 2px solid #c00; }
table.hdc-sdc td.suppressed { color: #888; font-style: italic; }
"""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _label(value: Any) -> str:
    return _fmt(value) if not isinstance(value, tuple) else " / ".join(_fmt(v) for v in value)


def table_html(
    frame: pd.DataFrame,
    flags: Mapping[tuple[int, int], Sequence[str]] | None = None,
    *,
    caption: str | None = None,
    table_id: str | None = None,
) -> str:
    """``frame`` as an HTML table; cells at the (row, column) positions in ``flags`` are highlighted
    (class ``flagged``, the rules in ``title`` and ``data-rules``). Every text is escaped."""
    flags = flags or {}
    esc = html.escape
    names = [esc(_fmt(n) or "") for n in frame.index.names]
    id_attr = f' id="{esc(table_id)}"' if table_id else ""
    out = [f'<table class="hdc-sdc"{id_attr}>']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    head = "".join(f"<th>{n}</th>" for n in names)
    head += "".join(f"<th>{esc(_label(c))}</th>" for c in frame.columns)
    out.append(f"<thead><tr>{head}</tr></thead><tbody>")
    for r, (key, row) in enumerate(zip(frame.index, frame.itertuples(index=False), strict=True)):
        keys = key if isinstance(key, tuple) else (key,)
        cells = "".join(f"<th>{esc(_fmt(k))}</th>" for k in keys)
        for c, value in enumerate(row):
            text = _fmt(value)
            rules = flags.get((r, c))
            classes = (["flagged"] if rules else []) + ([] if text else ["suppressed"])
            attrs = f' class="{" ".join(classes)}"' if classes else ""
            if rules:
                joined = esc(", ".join(rules))
                attrs += f' title="flagged: {joined}" data-rules="{joined}"'
            cells += f"<td{attrs}>{esc(text)}</td>"
        out.append(f"<tr>{cells}</tr>")
    out.append("</tbody></table>")
    return "".join(out)
