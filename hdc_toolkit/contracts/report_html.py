"""A self-contained HTML report of a contract validation :class:`~hdc_toolkit.results.Run`.

One file, inline CSS, no JavaScript and no external assets, rendered from the Jinja2 template
``templates/report.html.j2`` with autoescaping on (every message, key and value is escaped).

Patient data: the validator already masks examples of restricted columns; this module is a second
line of defence. It never renders examples of a check whose column (or any column the check reads,
for column-pair and compound checks) is restricted, and never renders the min / max / most frequent
values of a restricted column's profile. A column counts as restricted when ``contract`` says so,
when the profile's own ``classification`` says so, or when the check is marked ``masked``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hdc_toolkit._io import atomic_write_text
from hdc_toolkit.contracts.model import RESTRICTED_CLASSIFICATIONS, Contract
from hdc_toolkit.results import Check, Run, Verdict

__all__ = ["render_html_report", "write_html_report"]

_TEMPLATE = "report.html.j2"
MAX_EXAMPLES = 10
MAX_VALUE_CHARS = 120
MASKED = "masked (restricted column)"


def write_html_report(run: Run, path: str | Path, *, contract: Contract | None = None) -> Path:
    """Render ``run`` as one HTML file at ``path`` (written atomically) and return the path."""
    return atomic_write_text(path, render_html_report(run, contract=contract))


def render_html_report(run: Run, *, contract: Contract | None = None) -> str:
    """The HTML text of the report (see :func:`write_html_report`)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template(_TEMPLATE)
    meta = run.metadata or {}
    profile = meta.get("profile") if isinstance(meta.get("profile"), dict) else {}
    restricted = _restricted(contract, profile)
    return template.render(
        summary=_summary(run, meta, contract),
        checks=[_check_row(c, restricted) for c in _ordered(run.checks)],
        profile=[_profile_row(name, stats, restricted) for name, stats in profile.items()],
        masked_text=MASKED,
    )


def _restricted(contract: Contract | None, profile: dict[str, Any]) -> frozenset[str]:
    names = set(contract.restricted_columns()) if contract is not None else set()
    for name, stats in profile.items():
        if isinstance(stats, dict) and stats.get("classification") in RESTRICTED_CLASSIFICATIONS:
            names.add(str(name))
        elif contract is not None and not contract.has_column(str(name)) and isinstance(stats, dict) and "classification" not in stats:
            names.add(str(name))  # a column the contract does not know: nothing says it is safe to show
    return frozenset(names)


def _summary(run: Run, meta: dict[str, Any], contract: Contract | None) -> dict[str, Any]:
    files = meta.get("files")
    file_list = [str(f) for f in files] if isinstance(files, (list, tuple)) else []
    counts = run.counts()
    return {
        "name": run.name,
        "verdict": run.verdict.value,
        "passed": run.passed,
        "contract_id": meta.get("contract_id") or (contract.contract_id if contract else "") or "",
        "contract_version": meta.get("contract_version") or (contract.version if contract else "") or "",
        "table": meta.get("table") or (contract.name if contract else "") or "",
        "data": str(meta.get("data") or ""),
        "rows": _number(meta.get("rows")),
        "file_count": len(file_list) if file_list else (files if isinstance(files, int) else None),
        "files": file_list[:200],
        "more_files": max(0, len(file_list) - 200),
        "counts": [(v.value, counts.get(v.value, 0)) for v in Verdict],
        "total": len(run.checks),
        "started": run.started,
        "finished": run.finished or "",
        "generated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _ordered(checks: Iterable[Check]) -> list[Check]:
    """Worst verdict first, otherwise in the run's order."""
    indexed = list(enumerate(checks))
    return [c for _, c in sorted(indexed, key=lambda ic: (-ic[1].verdict.rank, ic[0]))]


def _check_row(check: Check, restricted: frozenset[str]) -> dict[str, Any]:
    details = check.details if isinstance(check.details, dict) else {}
    read = {check.column} if check.column else set()
    for key in ("columns", "left", "right"):
        value = details.get(key)
        if isinstance(value, str):
            read.add(value)
        elif isinstance(value, (list, tuple)):
            read.update(str(v) for v in value)
    masked = bool(details.get("masked")) or bool(read & restricted)
    examples = [] if masked else [_value(v) for v in list(check.examples or [])[:MAX_EXAMPLES]]
    fraction = check.failing_fraction
    threshold = details.get("threshold")
    return {
        "key": check.key,
        "kind": check.kind,
        "table": check.table or "",
        "column": check.column or "",
        "verdict": check.verdict.value,
        "failing": _number(check.failing_count),
        "elements": _number(check.element_count),
        "fraction": _percent(fraction),
        "description": str(details.get("description") or ""),
        "threshold": _threshold(threshold),
        "message": check.message or "",
        "examples": examples,
        "more_examples": 0 if masked else max(0, len(check.examples or []) - MAX_EXAMPLES),
        "masked": masked and bool(check.examples),
    }


def _profile_row(name: Any, stats: Any, restricted: frozenset[str]) -> dict[str, Any]:
    stats = stats if isinstance(stats, dict) else {}
    masked = str(name) in restricted
    top = stats.get("top") if not masked else None
    top_rows = []
    if isinstance(top, (list, tuple)):
        for item in list(top)[:10]:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                top_rows.append((_value(item[0]), _number(item[1])))
    return {
        "name": str(name),
        "logical_type": str(stats.get("logical_type") or ""),
        "classification": str(stats.get("classification") or ""),
        "null_count": _number(stats.get("null_count")),
        "distinct": _number(stats.get("distinct")),
        "masked": masked,
        "min": "" if masked or stats.get("min") is None else _value(stats.get("min")),
        "max": "" if masked or stats.get("max") is None else _value(stats.get("max")),
        "top": top_rows,
    }


def _threshold(threshold: Any) -> str:
    if threshold is None:
        return ""
    if isinstance(threshold, dict) and "op" in threshold:
        return " ".join(str(threshold.get(k, "")) for k in ("op", "value", "unit")).strip()
    return _value(threshold)


def _value(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _number(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.6g}"
    return str(value)


def _percent(fraction: float | None) -> str:
    if fraction is None:
        return ""
    if fraction == 0:
        return "0%"
    pct = 100.0 * fraction
    return f"{pct:.3g}%" if pct >= 0.0001 else "<0.0001%"
