"""Export a contract to a pyarrow schema: the physical layout provisioning and SDV write Parquet with.

Each column's arrow type comes from its ``physicalType`` when that names a type this module knows
(arrow names such as ``int16``, ``date32``, ``timestamp[ms]``, ``timestamp[us, tz=UTC]``,
``decimal128(10, 2)``, or SQL names such as ``bigint``, ``varchar(20)``, ``timestamptz``), and
otherwise from its ``logicalType``:

==========  ==============================  ==========  =====================================
logical     default arrow type              logical     default arrow type
==========  ==============================  ==========  =====================================
string      ``string``                      time        ``time64[us]``
integer     ``int64``                       boolean     ``bool``
number      ``double``                      object      ``map<string, string>``
date        ``date32``                      array       ``list<string>``
timestamp   ``timestamp[us]``
==========  ==============================  ==========  =====================================

A ``physicalType`` that parses but does not belong to the ``logicalType``'s family (the family the
validator's type check accepts, e.g. ``double`` for an ``integer`` column) is a contract error.
Free-text physical types the module does not know (``table``, ``VARCHAR2 BYTE``...) fall back to the
logical default. Fields are nullable unless the column is required; each field carries the column's
``logicalType``, ``classification`` (and ``codeSystem``) as field metadata, and the schema carries
the contract id, version and table name.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa

from hdc_toolkit.contracts.model import Column, Contract
from hdc_toolkit.exceptions import ContractError

__all__ = ["arrow_type", "contract_to_arrow_schema", "logical_default", "parse_physical_type", "schema_to_json", "schema_to_text"]

_LOGICAL_DEFAULTS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "time": pa.time64("us"),
    "boolean": pa.bool_(),
    "object": pa.map_(pa.string(), pa.string()),
    "array": pa.list_(pa.string()),
}

_SIMPLE: dict[str, pa.DataType] = {
    # arrow names
    "int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "uint8": pa.uint8(), "uint16": pa.uint16(), "uint32": pa.uint32(), "uint64": pa.uint64(),
    "float16": pa.float16(), "halffloat": pa.float16(), "float32": pa.float32(), "float": pa.float32(),
    "float64": pa.float64(), "double": pa.float64(),
    "string": pa.string(), "utf8": pa.string(), "large_string": pa.large_string(), "large_utf8": pa.large_string(),
    "binary": pa.binary(), "large_binary": pa.large_binary(),
    "bool": pa.bool_(), "boolean": pa.bool_(),
    "date32": pa.date32(), "date32[day]": pa.date32(), "date64": pa.date64(), "date64[ms]": pa.date64(),
    # SQL names
    "tinyint": pa.int8(), "smallint": pa.int16(), "int": pa.int32(), "integer": pa.int32(), "bigint": pa.int64(),
    "real": pa.float32(), "double precision": pa.float64(),
    "text": pa.string(), "varchar": pa.string(), "char": pa.string(), "character varying": pa.string(),
    "nvarchar": pa.string(), "nchar": pa.string(),
    "date": pa.date32(), "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"), "datetime": pa.timestamp("us"), "timestamp_ntz": pa.timestamp("us"),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"), "timestamp_tz": pa.timestamp("us", tz="UTC"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
}  # fmt: skip
_UNITS = ("s", "ms", "us", "ns")
_TIMESTAMP = re.compile(r"^timestamp\[\s*(s|ms|us|ns)\s*(?:,\s*(?:tz\s*=\s*)?([^\]]+?))?\s*\]$")
_TIME = re.compile(r"^time(32|64)\[\s*(s|ms|us|ns)\s*\]$")
_DECIMAL = re.compile(r"^(?:decimal(?:128|256)?|numeric)\s*\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)$")
_SIZED_TEXT = re.compile(r"^(?:varchar|char|nvarchar|nchar|character varying|character)\s*\(\s*\d+\s*\)$")


def parse_physical_type(text: str | None) -> pa.DataType | None:
    """The arrow type a ``physicalType`` names, or None when it names none this module knows."""
    if not text:
        return None
    t = " ".join(str(text).strip().lower().split())
    if t in _SIMPLE:
        return _SIMPLE[t]
    if m := _TIMESTAMP.match(t):
        tz = m.group(2)
        if tz is not None:
            tz = tz.strip().strip("'\"")
            tz = "UTC" if tz.lower() == "utc" else _original_case(str(text), tz)
        return pa.timestamp(m.group(1), tz=tz)
    if m := _TIME.match(t):
        bits, unit = m.groups()
        if bits == "32" and unit in ("s", "ms"):
            return pa.time32(unit)
        if bits == "64" and unit in ("us", "ns"):
            return pa.time64(unit)
        return None
    if m := _DECIMAL.match(t):
        precision, scale = int(m.group(1)), int(m.group(2) or 0)
        if not 1 <= precision <= 76:
            return None
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if _SIZED_TEXT.match(t):
        return pa.string()
    return None


def _original_case(text: str, lowered: str) -> str:
    """Time zone names are case sensitive (Europe/Oslo): recover the spelling from the original text."""
    i = text.lower().find(lowered)
    return text[i : i + len(lowered)] if i >= 0 else lowered


def logical_default(logical_type: str) -> pa.DataType:
    """The arrow type used for ``logical_type`` when the physical type says nothing usable."""
    try:
        return _LOGICAL_DEFAULTS[logical_type]
    except KeyError:
        raise ContractError(f"unknown logicalType {logical_type!r}") from None


def arrow_type(column: Column) -> pa.DataType:
    """The arrow type of one contract column (see the module docstring)."""
    from hdc_toolkit.contracts.dataset import type_matches

    physical = parse_physical_type(column.physical_type)
    if physical is None:
        return logical_default(column.logical_type)
    if not type_matches(column.logical_type, physical):
        raise ContractError(
            f"column {column.name!r}: physicalType {column.physical_type!r} ({physical}) is not a "
            f"{column.logical_type} type",
            location=f"line {column.line}" if column.line else None,
        )
    return physical


def contract_to_arrow_schema(contract: Contract, *, metadata: bool = True, all_nullable: bool = False) -> pa.Schema:
    """A pyarrow schema with one field per contract column, in contract order.

    Required columns are non-nullable fields unless ``all_nullable`` (for writing deliberately
    defective test data, where required columns do hold nulls). With ``metadata`` the fields carry ``logicalType``, ``classification`` (and ``codeSystem``) and
    the schema carries ``hdc.contract_id``, ``hdc.contract_version`` and ``hdc.table``.
    """
    fields = []
    for c in contract.columns:
        meta = None
        if metadata:
            meta = {"logicalType": c.logical_type, "classification": c.classification}
            if c.physical_type:
                meta["physicalType"] = str(c.physical_type)
            if c.code_system:
                meta["codeSystem"] = str(c.code_system)
        fields.append(pa.field(c.name, arrow_type(c), nullable=all_nullable or not c.required, metadata=meta))
    schema_meta = None
    if metadata:
        schema_meta = {"hdc.table": contract.name, "hdc.contract_id": contract.contract_id, "hdc.contract_version": contract.version}
    return pa.schema(fields, metadata=schema_meta)


def _decode(meta: dict[bytes, bytes] | None) -> dict[str, str]:
    return {k.decode("utf-8"): v.decode("utf-8") for k, v in (meta or {}).items()}


def schema_to_json(schema: pa.Schema) -> dict[str, Any]:
    """A JSON-able description of a schema: fields (name, arrow type text, nullable, metadata), metadata."""
    return {
        "fields": [{"name": f.name, "type": str(f.type), "nullable": f.nullable, "metadata": _decode(f.metadata)} for f in schema],
        "metadata": _decode(schema.metadata),
    }


def schema_to_text(schema: pa.Schema) -> str:
    """:func:`schema_to_json` as indented JSON text (``hdc contract export --format pyarrow``)."""
    return json.dumps(schema_to_json(schema), indent=2, ensure_ascii=False) + "\n"
