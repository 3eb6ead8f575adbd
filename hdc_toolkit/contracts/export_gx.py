"""Compile a contract into a Great Expectations 1.x expectation suite (GX on pandas is the audit target).

Written from the check IR (:func:`~hdc_toolkit.contracts.checks.compile_checks`), one expectation per
check, so a GX result maps back to the toolkit check through ``meta.check_key``:

====================  ===================================================================================
check kind            GX 1.x expectation
====================  ===================================================================================
schema                ``ExpectTableColumnsToMatchSet(column_set, exact_match=True)``
type                  ``ExpectColumnValuesToBeInTypeList(type_list)``: the pandas dtype family names the
                      logicalType accepts after ``pyarrow.Table.to_pandas()`` (:data:`GX_TYPE_FAMILIES`)
not_null              ``ExpectColumnValuesToNotBeNull``
unique                ``ExpectColumnValuesToBeUnique``
range                 ``ExpectColumnValuesToBeBetween`` (``strict_min``/``strict_max`` from the exclusive
                      flags; date and timestamp bounds are ``datetime.date``/``datetime`` objects in
                      :func:`build_gx_suite`, ISO strings plus ``meta.bound_type`` in the JSON form)
allowed_values        ``ExpectColumnValuesToBeInSet``
pattern               ``ExpectColumnValuesToMatchRegex`` (translated to Python ``re``, see :func:`gx_regex`)
length                ``ExpectColumnValueLengthsToBeBetween``
pair rule             ``ExpectColumnPairValuesAToBeGreaterThanB`` (``or_equal``; rows with a null ignored)
compound unique       ``ExpectCompoundColumnsToBeUnique`` (rows whose key columns are all null ignored)
row_count             ``ExpectTableRowCountToBeBetween``
foreign_key           **none**: GX 1.x has no cross-table expectation for pandas. Foreign keys are listed
                      in the suite's ``meta["hdc_unmapped_checks"]`` (meta only) and are enforced by the
                      toolkit's validator alone.
====================  ===================================================================================

Type checks for ``array`` columns are unmapped too (pandas holds arrow lists as numpy arrays, which
GX's type list cannot name).

**Thresholds.** A zero threshold (the default) is GX's default ``mostly=1``. ``unit: percent`` with
``mustBeLessOrEqualTo p`` (or ``mustBeLessThan p``, ``mustBeBetween [0, p]``) becomes
``mostly = 1 - p/100``. It is exact for ``not_null`` only: for the other row checks GX's ``mostly``
divides by the non-null rows, while the contract's percent divides by all rows. Other thresholds
(``rows`` units above zero, "at least" operators) have no GX form: the expectation then demands every
row pass. ``meta.threshold_in_gx`` says which case applies (``exact``/``approximate``/``stricter``).

**Where GX (pandas, after ``to_pandas()``) cannot see what the validator sees**, documented rather than
papered over:

* an integer column with nulls arrives as ``float64``, so the integer type family includes
  ``float64`` (GX then cannot tell a ``double`` column where an integer was promised);
* NaN is a value in arrow/Parquet but a null in pandas: GX's not-null check counts NaN, the
  validator does not (and neither counts NaN against range checks);
* dictionary-encoded strings arrive as pandas ``category``, and timezone-aware timestamps as
  ``datetime64[.., tz]``: GX's type list can name neither, so those type expectations fail in GX.

**Restricted columns** (direct identifiers, sensitive): the expectation's ``meta`` carries
``masked: true`` and ``render_values: false`` and its ``notes`` say so. GX itself ignores this: a GX run
over patient data must use :data:`SAFE_RESULT_FORMAT` (``partial_unexpected_count: 0`` and
``exclude_unexpected_values``). GX's ``BASIC`` format is *not* safe: it still stores up to 20 raw
failing values (``partial_unexpected_list``), as ``SUMMARY`` does.

``import great_expectations`` costs seconds: only :func:`build_gx_suite` imports it, lazily.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

from hdc_toolkit.contracts.checks import CheckKind, CheckSpec, compile_checks
from hdc_toolkit.contracts.model import Contract

__all__ = [
    "GX_SEVERITY",
    "GX_TYPE_FAMILIES",
    "SAFE_RESULT_FORMAT",
    "build_gx_suite",
    "contract_to_gx_suite",
    "expectation_for_check",
    "gx_regex",
    "import_gx",
    "suite_name",
    "unmapped_checks",
]

#: Contract severity → GX ``FailureSeverity``.
GX_SEVERITY = {"error": "critical", "warning": "warning", "info": "info"}

_INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_NULLABLE_INTS = ("Int8Dtype", "Int16Dtype", "Int32Dtype", "Int64Dtype", "UInt8Dtype", "UInt16Dtype", "UInt32Dtype", "UInt64Dtype")
_FLOATS = ("float16", "float32", "float64", "Float32Dtype", "Float64Dtype")

#: logicalType → the names ``ExpectColumnValuesToBeInTypeList`` accepts for the column after
#: ``pyarrow.Table.to_pandas()``. Names resolve through numpy dtypes (``int16``,
#: ``datetime64[ms]``), pandas extension dtypes (``Int64Dtype``) and, for object columns checked value
#: by value, Python types (``str``, ``dict``; ``date``, ``time`` and ``Decimal`` resolve through
#: ``pandas.core.dtypes.dtypes`` to the :mod:`datetime` and :mod:`decimal` classes).
GX_TYPE_FAMILIES: dict[str, tuple[str, ...]] = {
    "string": ("str", "StringDtype"),
    "integer": (*_INTS, *_NULLABLE_INTS, "float64"),
    "number": (*_INTS, *_NULLABLE_INTS, *_FLOATS, "Decimal"),
    "date": ("date",),
    "timestamp": ("datetime64[s]", "datetime64[ms]", "datetime64[us]", "datetime64[ns]"),
    "time": ("time",),
    "boolean": ("bool", "BooleanDtype"),
    "object": ("dict", "list"),
}

#: The result format for running a GX suite over patient data: counts only, no failing values.
SAFE_RESULT_FORMAT: dict[str, Any] = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": 0,
    "exclude_unexpected_values": True,
    "include_unexpected_rows": False,
}

_RESTRICTED_NOTE = "Restricted column (direct identifier or sensitive): failing values must never be shown."


def import_gx() -> Any:
    """Import Great Expectations (slow; seconds) with analytics off, or explain how to install it."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    try:
        import great_expectations as gx
    except ImportError:  # pragma: no cover - depends on the installation
        from hdc_toolkit.exceptions import MissingExtraError

        raise MissingExtraError("gx", "great-expectations") from None
    return gx


def suite_name(contract: Contract) -> str:
    """The GX suite name for a contract's table (no dots: GX turns dots into directories)."""
    return f"{contract.name}_contract".replace(".", "_")


# ---------------------------------------------------------------------------------------------------
# regex


_RE2_SPACE = "\\t\\n\\f\\r "
_OPEN_REPEAT = re.compile(r"\{,\d*\}")


def gx_regex(pattern: str) -> str:
    """A Python ``re`` pattern that matches what RE2 (the validator) matches for ``pattern``.

    The contract's regex is in the subset Python ``re`` and RE2 both compile, but some constructs mean
    different things:

    * ``$`` is the end of the text in RE2 but also matches before a final newline in Python: it
      becomes ``\\Z`` outside character classes (unless multi-line mode is on anywhere in the pattern);
    * ``\\d``, ``\\w``, ``\\b`` are ASCII-only in RE2: the pattern gets Python's ``(?a)`` flag;
    * ``\\s`` is ``[\\t\\n\\f\\r ]`` in RE2 while ASCII Python adds ``\\v``: it is spelled out;
    * ``{,n}`` and ``{,}`` are literal text in RE2 (and ECMA-262) but a repetition in Python: escaped.

    Not translated (documented limits): case-insensitive matching of non-ASCII letters (RE2 folds
    Unicode case, ``(?a)`` Python does not) and ``\\S`` inside a character class.
    """
    multiline = _has_flag(pattern, "m")
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            esc = pattern[i : i + 2]
            if esc == "\\s":
                out.append(_RE2_SPACE if in_class else f"[{_RE2_SPACE}]")
            elif esc == "\\S" and not in_class:
                out.append(f"[^{_RE2_SPACE}]")
            else:
                out.append(esc)
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch)
        elif ch == "[":
            in_class = True
            out.append(ch)
            # a ']' right after '[' or '[^' is a literal
            j = i + 1
            if j < n and pattern[j] == "^":
                out.append("^")
                j += 1
            if j < n and pattern[j] == "]":
                out.append("]")
                j += 1
            i = j
            continue
        elif ch == "$" and not multiline:
            out.append(r"\Z")
        elif ch == "{" and _OPEN_REPEAT.match(pattern, i):
            out.append(r"\{")
        else:
            out.append(ch)
        i += 1
    body = "".join(out)
    return body if _has_flag(pattern, "u") else "(?a)" + body


def _has_flag(pattern: str, flag: str) -> bool:
    """Whether an inline flag group such as ``(?m)`` or ``(?im:...)`` turns ``flag`` on."""
    i = pattern.find("(?")
    while i >= 0:
        j = i + 2
        while j < len(pattern) and pattern[j].isalpha():
            j += 1
        if flag in pattern[i + 2 : j] and j < len(pattern) and pattern[j] in "):-":
            return True
        i = pattern.find("(?", i + 1)
    return False


# ---------------------------------------------------------------------------------------------------
# thresholds


def _mostly(spec: CheckSpec) -> tuple[float | None, str]:
    """GX ``mostly`` for the check's threshold, and how faithful it is."""
    t = spec.threshold
    hi = None  # the most failing rows (or percent) the threshold allows, for "at most" thresholds
    if t.op == "mustBe" and t.value == 0:
        return None, "exact"
    if t.op in ("mustBeLessOrEqualTo", "mustBeLessThan"):
        hi = t.value
    elif t.op == "mustBeBetween" and t.value[0] <= 0:
        hi = t.value[1]
    if hi is not None and (hi == 0 or (t.unit == "rows" and t.op == "mustBeLessThan" and hi <= 1)):
        return None, "exact"  # "at most 0 rows/percent": every row must pass
    if hi is None or t.unit != "percent":
        return None, "stricter: GX cannot express this threshold and requires every row to pass"
    mostly = min(1.0, max(0.0, 1.0 - float(hi) / 100.0))
    exact = spec.kind is CheckKind.NOT_NULL and t.op != "mustBeLessThan"
    how = "exact" if exact else "approximate: GX's mostly counts non-null rows (or is inclusive), the contract's percent all rows"
    return (None if mostly >= 1.0 else mostly), how


# ---------------------------------------------------------------------------------------------------
# one expectation per check


def _bound(value: Any, contract: Contract, column: str) -> Any:
    """A range bound as the Python value GX-pandas compares the column's values with."""
    if value is None:
        return None
    col = contract.column(column)
    if col.logical_type == "date":
        return value.date() if isinstance(value, dt.datetime) else value
    if col.logical_type == "timestamp":
        if not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        from hdc_toolkit.contracts.export_arrow import parse_physical_type

        t = parse_physical_type(col.physical_type)
        tz = getattr(t, "tz", None)
        if tz and value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        if not tz and value.tzinfo is not None:
            return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _meta(spec: CheckSpec, contract: Contract, threshold_in_gx: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "check_key": spec.key,
        "check_kind": spec.kind.value,
        "table": spec.table,
        "severity": spec.severity,
        "threshold": spec.threshold.describe(),
        "threshold_in_gx": threshold_in_gx,
        "description": spec.description,
        "contract_id": contract.contract_id,
        "contract_version": contract.version,
        "masked": spec.masked,
    }
    if spec.column:
        meta["column"] = spec.column
        meta["classification"] = contract.column(spec.column).classification
    if spec.masked:
        meta["render_values"] = False
        meta["restricted_columns"] = sorted(c for c in spec.columns if contract.column(c).restricted)
    return meta


def expectation_for_check(spec: CheckSpec, contract: Contract, *, native: bool = False) -> dict[str, Any] | None:
    """The GX expectation configuration (``type``, ``kwargs``, ``meta``, ``severity``, ``notes``) of one
    check, or None when GX has no equivalent (foreign keys, array types).

    With ``native`` date/timestamp bounds stay ``date``/``datetime`` objects (what GX-pandas compares
    with); otherwise they are ISO strings and the result is plain JSON.
    """
    k = spec.kind
    p = spec.params
    col = spec.column
    kwargs: dict[str, Any]
    bound_type = None
    match k:
        case CheckKind.SCHEMA:
            etype, kwargs = "expect_table_columns_to_match_set", {"column_set": list(p["columns"]), "exact_match": True}
        case CheckKind.TYPE:
            family = GX_TYPE_FAMILIES.get(p["logical_type"])
            if family is None:
                return None
            etype, kwargs = "expect_column_values_to_be_in_type_list", {"column": col, "type_list": list(family)}
        case CheckKind.NOT_NULL:
            etype, kwargs = "expect_column_values_to_not_be_null", {"column": col}
        case CheckKind.UNIQUE:
            etype, kwargs = "expect_column_values_to_be_unique", {"column": col}
        case CheckKind.RANGE:
            assert col is not None
            etype = "expect_column_values_to_be_between"
            kwargs = {"column": col, "min_value": _bound(p["min"], contract, col), "max_value": _bound(p["max"], contract, col),
                      "strict_min": bool(p["exclusive_min"]), "strict_max": bool(p["exclusive_max"])}  # fmt: skip
            lt = contract.column(col).logical_type
            if lt in ("date", "timestamp"):
                bound_type = lt
        case CheckKind.ALLOWED_VALUES:
            etype, kwargs = "expect_column_values_to_be_in_set", {"column": col, "value_set": list(p["values"])}
        case CheckKind.PATTERN:
            etype, kwargs = "expect_column_values_to_match_regex", {"column": col, "regex": gx_regex(p["regex"])}
        case CheckKind.LENGTH:
            etype, kwargs = "expect_column_value_lengths_to_be_between", {"column": col, "min_value": p["min"], "max_value": p["max"]}
        case CheckKind.PAIR:
            # The rule is violated when `left op right`; GX asserts A > B (or A >= B) on every row.
            left, op, right = p["left"], p["op"], p["right"]
            a, b, or_equal = {"<": (left, right, True), "<=": (left, right, False),
                              ">": (right, left, True), ">=": (right, left, False)}[op]  # fmt: skip
            etype = "expect_column_pair_values_a_to_be_greater_than_b"
            kwargs = {"column_A": a, "column_B": b, "or_equal": or_equal, "ignore_row_if": "either_value_is_missing"}
        case CheckKind.COMPOUND_UNIQUE:
            etype = "expect_compound_columns_to_be_unique"
            kwargs = {"column_list": list(p["columns"]), "ignore_row_if": "all_values_are_missing"}
        case CheckKind.ROW_COUNT:
            etype, kwargs = "expect_table_row_count_to_be_between", {"min_value": p["min"], "max_value": p["max"]}
        case _:
            return None
    if k in (CheckKind.SCHEMA, CheckKind.TYPE, CheckKind.ROW_COUNT):
        mostly, how = None, "exact"
    else:
        mostly, how = _mostly(spec)
    if mostly is not None:
        kwargs["mostly"] = mostly
    meta = _meta(spec, contract, how)
    if bound_type:
        meta["bound_type"] = bound_type
    if k is CheckKind.PATTERN:
        meta["contract_regex"] = p["regex"]
    if k is CheckKind.TYPE:
        meta["logical_type"] = p["logical_type"]
        if p.get("physical_type"):
            meta["physical_type"] = p["physical_type"]
    notes = f"Contract check `{spec.key}`: {spec.description} (threshold: {spec.threshold.describe()})."
    if spec.masked:
        notes += " " + _RESTRICTED_NOTE
    if not native:
        kwargs = _json_safe(kwargs)
    return {"type": etype, "kwargs": kwargs, "meta": meta, "severity": GX_SEVERITY.get(spec.severity, "critical"), "notes": notes}


def _json_safe(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def unmapped_checks(contract: Contract) -> list[dict[str, Any]]:
    """The contract's checks that have no GX expectation, with the reason (meta only)."""
    out = []
    for spec in compile_checks(contract):
        if expectation_for_check(spec, contract) is None:
            if spec.kind is CheckKind.FOREIGN_KEY:
                reason = (f"foreign key to {spec.params['ref_table']}.{spec.params['ref_column']}: GX 1.x has no "
                          "cross-table expectation on pandas; enforced by the hdc-toolkit validator only")  # fmt: skip
            else:
                reason = f"no GX type name for logicalType {spec.params.get('logical_type')!r} after to_pandas()"
            out.append({"check_key": spec.key, "check_kind": spec.kind.value, "column": spec.column,
                        "description": spec.description, "severity": spec.severity, "reason": reason})  # fmt: skip
    return out


# ---------------------------------------------------------------------------------------------------
# suites


def _suite_meta(contract: Contract) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        gx_version = version("great-expectations")
    except PackageNotFoundError:  # pragma: no cover
        gx_version = "1.x"
    return {
        "great_expectations_version": gx_version,
        "hdc_toolkit": {
            "generator": "hdc_toolkit.contracts.export_gx",
            "contract_id": contract.contract_id,
            "contract_version": contract.version,
            "table": contract.name,
            "source": contract.source,
            "safe_result_format": SAFE_RESULT_FORMAT,
        },
        "hdc_unmapped_checks": unmapped_checks(contract),
    }


def contract_to_gx_suite(contract: Contract, *, name: str | None = None) -> dict[str, Any]:
    """The contract as a GX 1.x expectation suite in JSON form (no GX import).

    Date and timestamp range bounds are ISO strings here (``meta.bound_type`` says which); GX-pandas
    cannot compare strings with ``datetime.date`` values, so load the dict with :func:`build_gx_suite`,
    which restores them.
    """
    expectations = [e for s in compile_checks(contract) if (e := expectation_for_check(s, contract)) is not None]
    return {
        "name": name or suite_name(contract),
        "id": None,
        "expectations": expectations,
        "meta": _suite_meta(contract),
        "notes": _suite_notes(contract),
    }


def _suite_notes(contract: Contract) -> str:
    return (f"Generated from the ODCS data contract {contract.contract_id or contract.name} version "
            f"{contract.version or '?'} by hdc-toolkit. Do not edit: regenerate from the contract.")  # fmt: skip


def _restore_bounds(expectation: dict[str, Any]) -> dict[str, Any]:
    bound_type = (expectation.get("meta") or {}).get("bound_type")
    if not bound_type:
        return expectation
    kwargs = dict(expectation["kwargs"])
    for key in ("min_value", "max_value"):
        v = kwargs.get(key)
        if isinstance(v, str):
            if bound_type == "date":
                kwargs[key] = dt.date.fromisoformat(v[:10])
            else:
                kwargs[key] = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    return {**expectation, "kwargs": kwargs}


def build_gx_suite(contract: Contract | dict[str, Any], *, name: str | None = None) -> Any:
    """A real ``great_expectations.ExpectationSuite`` for ``contract`` (or for a suite dict from
    :func:`contract_to_gx_suite`), with typed date/timestamp bounds. Imports GX (slow)."""
    gx = import_gx()
    if isinstance(contract, Contract):
        expectations = [e for s in compile_checks(contract) if (e := expectation_for_check(s, contract, native=True)) is not None]
        return gx.ExpectationSuite(name=name or suite_name(contract), expectations=expectations,
                                   meta=_suite_meta(contract), notes=_suite_notes(contract))  # fmt: skip
    expectations = [_restore_bounds(e) for e in contract["expectations"]]
    return gx.ExpectationSuite(name=name or contract["name"], expectations=expectations,
                               meta=contract.get("meta") or {}, notes=contract.get("notes"))  # fmt: skip
