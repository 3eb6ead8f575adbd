"""Write the fast validator's counts back as Great Expectations 1.x validation results and Data Docs.

The toolkit's validator (pyarrow over Parquet row groups) is ~20× faster than GX on pandas and gives
identical counts; GX is kept for what it is good at: a familiar, auditable HTML report. So a
:class:`~hdc_toolkit.results.Run` is turned into an ``ExpectationSuiteValidationResult``:

* one ``ExpectationValidationResult`` per check, with the expectation configuration the GX compiler
  (:mod:`hdc_toolkit.contracts.export_gx`) emits for that check (``meta.check_key`` links them);
* row checks carry ``element_count``, ``unexpected_count``, ``unexpected_percent`` (over non-null
  rows when the run's profile knows the column's null count, as GX computes it),
  ``unexpected_percent_total`` and ``missing_count``; table checks carry ``observed_value`` (row count,
  column list, arrow type);
* ``success`` is the toolkit verdict ``passed``; a check that could not run (verdict ``error``) is
  reported as a raised exception with its message;
* failing values: **never** for masked checks (restricted columns: direct identifiers, sensitive).
  For other checks the validator's few examples become ``partial_unexpected_list`` (off with
  ``include_examples=False``);
* foreign keys (no GX expectation on pandas) appear as ``unexpected_rows_expectation`` results with
  the equivalent SQL as their query, so their counts show on the Data Docs page too.

:func:`write_gx_data_docs` stores the result in a file-mode GX project under ``out_dir`` and builds
the ordinary GX Data Docs site. Only that function imports GX.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

from hdc_toolkit.contracts.checks import CheckKind, CheckSpec, compile_checks
from hdc_toolkit.contracts.export_gx import GX_SEVERITY, expectation_for_check, import_gx, suite_name
from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.results import Check, Run, Verdict

__all__ = ["run_to_gx_result", "write_gx_data_docs"]

_MAP_KINDS = {
    CheckKind.NOT_NULL, CheckKind.UNIQUE, CheckKind.RANGE, CheckKind.ALLOWED_VALUES, CheckKind.PATTERN,
    CheckKind.LENGTH, CheckKind.PAIR, CheckKind.COMPOUND_UNIQUE,
}  # fmt: skip
#: GX keeps at most this many partial unexpected values.
_PARTIAL_LIMIT = 20


def _gx_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("great-expectations")
    except PackageNotFoundError:  # pragma: no cover
        return "1.x"


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def _fk_config(spec: CheckSpec) -> dict[str, Any]:
    col, table, ref = spec.column, spec.params["ref_table"], spec.params["ref_column"]
    query = f"SELECT * FROM {{batch}} WHERE {col} IS NOT NULL AND {col} NOT IN (SELECT {ref} FROM {table})"
    meta = {"check_key": spec.key, "check_kind": spec.kind.value, "table": spec.table, "column": col,
            "severity": spec.severity, "threshold": spec.threshold.describe(), "description": spec.description,
            "masked": spec.masked, "gx_equivalent": "none on pandas: shown as an unexpected-rows query; enforced by the hdc-toolkit validator"}  # fmt: skip
    if spec.masked:
        meta["render_values"] = False
    return {"type": "unexpected_rows_expectation", "kwargs": {"unexpected_rows_query": query},
            "meta": meta, "severity": GX_SEVERITY.get(spec.severity, "critical"), "description": spec.description}  # fmt: skip


def _result_body(spec: CheckSpec, check: Check, masked: bool, profile: dict[str, Any], include_examples: bool, rows: int) -> dict[str, Any]:
    kind = spec.kind
    if check.verdict is Verdict.ERROR:
        return {}
    if kind is CheckKind.ROW_COUNT:
        return {"observed_value": check.element_count if check.element_count is not None else rows}
    if kind is CheckKind.SCHEMA:
        missing = list(check.details.get("missing") or [])
        extra = list(check.details.get("extra") or [])
        present = [c for c in spec.params["columns"] if c not in missing] + extra
        body: dict[str, Any] = {"observed_value": present}
        if missing or extra:
            body["details"] = {"mismatched": {"unexpected": extra, "missing": missing}}
        return body
    if kind is CheckKind.TYPE:
        return {"observed_value": str(check.details.get("physical_type") or check.message or "")}
    if kind is CheckKind.FOREIGN_KEY:
        return {"observed_value": int(check.failing_count or 0)}
    n = int(check.element_count if check.element_count is not None else rows)
    f = int(check.failing_count or 0)
    body = {"element_count": n, "unexpected_count": f}
    nulls = (profile.get(spec.column) or {}).get("null_count") if spec.column else None
    if kind is CheckKind.NOT_NULL:
        body["unexpected_percent"] = _pct(f, n)
    elif isinstance(nulls, int):
        nonmissing = max(n - nulls, 0)
        body.update(unexpected_percent=_pct(f, nonmissing), missing_count=nulls, missing_percent=_pct(nulls, n),
                    unexpected_percent_total=_pct(f, n), unexpected_percent_nonmissing=_pct(f, nonmissing))  # fmt: skip
    else:
        body.update(unexpected_percent=_pct(f, n), unexpected_percent_total=_pct(f, n))
    if not masked and include_examples and f and kind is not CheckKind.NOT_NULL:
        body["partial_unexpected_list"] = list(check.examples)[:_PARTIAL_LIMIT]
    return body


def run_to_gx_result(run: Run, contract: Contract, *, include_examples: bool = True) -> dict[str, Any]:
    """The validator's ``run`` as GX 1.x ``ExpectationSuiteValidationResult`` JSON (no GX import).

    Checks of the contract absent from the run (e.g. not run) are left out; a run check whose key the
    contract does not know is listed in ``meta.hdc_toolkit.unknown_checks``.
    """
    by_key = run.by_key()
    profile = run.metadata.get("profile") or {}
    rows = int(run.metadata.get("rows") or 0)
    results: list[dict[str, Any]] = []
    known: set[str] = set()
    for spec in compile_checks(contract):
        check = by_key.get(spec.key)
        known.add(spec.key)
        if check is None:
            continue
        config = _fk_config(spec) if spec.kind is CheckKind.FOREIGN_KEY else expectation_for_check(spec, contract)
        if config is None:
            config = {"type": "expect_column_to_exist", "kwargs": {"column": spec.column},
                      "meta": {"check_key": spec.key, "check_kind": spec.kind.value,
                               "gx_equivalent": "none: only the column's presence is shown here"}}  # fmt: skip
        masked = spec.masked or bool(check.details.get("masked")) or any(
            contract.has_column(c) and contract.column(c).restricted for c in spec.columns
        )
        error = check.verdict is Verdict.ERROR
        meta: dict[str, Any] = {"check_key": spec.key, "hdc_verdict": check.verdict.value}
        if not masked and check.message:
            meta["message"] = check.message
        results.append({
            "success": check.verdict is Verdict.PASSED,
            "expectation_config": config,
            "result": _result_body(spec, check, masked, profile, include_examples, rows),
            "meta": meta,
            "exception_info": {"raised_exception": error,
                               "exception_message": (check.message or "the check could not run") if error else None,
                               "exception_traceback": None},
        })  # fmt: skip
    successful = sum(1 for r in results if r["success"])
    started = run.started
    return {
        "success": successful == len(results),
        "results": results,
        "suite_name": suite_name(contract),
        "suite_parameters": {},
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": successful,
            "unsuccessful_expectations": len(results) - successful,
            "success_percent": _pct(successful, len(results)) if results else None,
        },
        "meta": {
            "great_expectations_version": _gx_version(),
            "run_id": {"run_name": run.name, "run_time": started},
            "validation_time": run.finished or started,
            "batch_spec": {"data_asset_name": contract.name, "path": str(run.metadata.get("data", "")),
                           "engine": "hdc-toolkit validator (pyarrow over Parquet row groups)"},  # fmt: skip
            "batch_markers": {"rows": rows, "files": len(run.metadata.get("files") or [])},
            "active_batch_definition": {"datasource_name": "hdc-toolkit", "data_connector_name": "fast-validator",
                                        "data_asset_name": contract.name,
                                        "batch_identifiers": {"data": str(run.metadata.get("data", ""))}},  # fmt: skip
            "checkpoint_id": None,
            "validation_id": None,
            "hdc_toolkit": {
                "contract_id": contract.contract_id,
                "contract_version": contract.version,
                "table": contract.name,
                "verdict": run.verdict.value,
                "passed": run.passed,
                "counts": run.counts(),
                "unknown_checks": sorted(k for k in by_key if k not in known),
            },
        },
        "id": None,
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "batch"


def _run_time(value: str | None) -> dt.datetime:
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        t = dt.datetime.now(dt.timezone.utc)
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def write_gx_data_docs(run: Run, contract: Contract, out_dir: str | Path, *, include_examples: bool = True) -> Path:
    """Render ``run`` as a normal GX Data Docs validation page under ``out_dir`` (a file-mode GX
    project in ``out_dir/gx``); returns the page's path. Restricted columns' values never appear.

    Several runs may share ``out_dir``: each adds a page, and the site index lists them all.
    """
    from hdc_toolkit.contracts.export_gx import build_gx_suite

    gx = import_gx()
    from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(out))
    suite = context.suites.add_or_update(build_gx_suite(contract))
    payload = run_to_gx_result(run, contract, include_examples=include_examples)
    result = expectationSuiteValidationResultSchema.load(payload)
    run_id = RunIdentifier(run_name=_slug(run.name), run_time=_run_time(run.started))
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=run_id,
        batch_identifier=_slug(contract.name),
    )
    context.validation_results_store.set(key, result)
    # Render only this run's page and its suite's page (plus the index), not every stored run again:
    # a full rebuild grows with the number of stored validations (GX issue #5378).
    context.build_data_docs(resource_identifiers=[key, ExpectationSuiteIdentifier(name=suite.name)])
    for site in context.get_docs_sites_urls(resource_identifier=key):
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            return Path(url[len("file://") :])
    raise RuntimeError("GX built no local Data Docs site")  # pragma: no cover
