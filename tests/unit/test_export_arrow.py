"""Contract → pyarrow schema (provisioning, SDV), and its entry in the exporter registry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hdc_toolkit.contracts import exporters, load_contract_dir
from hdc_toolkit.contracts.dataset import type_matches
from hdc_toolkit.contracts.export_arrow import (
    arrow_type,
    contract_to_arrow_schema,
    logical_default,
    parse_physical_type,
    schema_to_json,
)
from hdc_toolkit.contracts.model import LOGICAL_TYPES, Column, Contract
from hdc_toolkit.exceptions import ContractError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("int8", pa.int8()), ("int16", pa.int16()), ("INT32", pa.int32()), ("int64", pa.int64()), ("uint8", pa.uint8()),
        ("double", pa.float64()), ("float", pa.float32()), ("float64", pa.float64()), ("halffloat", pa.float16()),
        ("string", pa.string()), ("utf8", pa.string()), ("large_string", pa.large_string()), ("bool", pa.bool_()),
        ("date32", pa.date32()), ("date32[day]", pa.date32()), ("date64", pa.date64()),
        ("timestamp[ms]", pa.timestamp("ms")), ("timestamp[ns]", pa.timestamp("ns")),
        ("timestamp[us, tz=UTC]", pa.timestamp("us", tz="UTC")), ("timestamp[ms, Europe/Oslo]", pa.timestamp("ms", tz="Europe/Oslo")),
        ("time32[ms]", pa.time32("ms")), ("time64[ns]", pa.time64("ns")),
        ("decimal128(10, 2)", pa.decimal128(10, 2)), ("numeric(12)", pa.decimal128(12, 0)), ("decimal(40,3)", pa.decimal256(40, 3)),
        ("bigint", pa.int64()), ("smallint", pa.int16()), ("integer", pa.int32()), ("double precision", pa.float64()),
        ("varchar(20)", pa.string()), ("VARCHAR", pa.string()), ("text", pa.string()), ("timestamptz", pa.timestamp("us", tz="UTC")),
        ("timestamp", pa.timestamp("us")), ("date", pa.date32()),
        ("table", None), ("", None), (None, None), ("time32[us]", None), ("decimal(0, 1)", None), ("VARCHAR2 BYTE", None),
    ],
)  # fmt: skip
def test_parse_physical_type(text: str | None, expected: pa.DataType | None) -> None:
    assert parse_physical_type(text) == expected


@pytest.mark.parametrize("logical", LOGICAL_TYPES)
def test_logical_defaults_pass_the_validators_type_check(logical: str) -> None:
    t = logical_default(logical)
    assert type_matches(logical, t), (logical, t)
    assert arrow_type(Column("x", logical, None)) == t
    assert arrow_type(Column("x", logical, "some free text")) == t


def test_physical_type_wins_when_it_fits_the_logical_type() -> None:
    assert arrow_type(Column("age", "integer", "int16")) == pa.int16()
    assert arrow_type(Column("n", "number", "int32")) == pa.int32()  # number accepts integers
    assert arrow_type(Column("d", "date", "date32")) == pa.date32()
    with pytest.raises(ContractError, match="not a integer type"):
        arrow_type(Column("age", "integer", "double"))
    with pytest.raises(ContractError, match="physicalType 'timestamp\\[ms\\]'"):
        arrow_type(Column("d", "date", "timestamp[ms]"))
    with pytest.raises(ContractError):
        logical_default("blob")


def test_demo_contract_schemas() -> None:
    contracts = load_contract_dir(REPO / "data_contracts")
    patients = contract_to_arrow_schema(contracts["patients"])
    assert patients.names == list(contracts["patients"].column_names)
    assert patients.field("birth_date").type == pa.date32()
    assert patients.field("national_id").nullable is False  # required
    assert patients.field("death_date").nullable is True
    assert patients.field("national_id").metadata[b"classification"] == b"direct_identifier"
    assert patients.field("national_id").metadata[b"codeSystem"] == b"fodselsnummer"
    assert patients.metadata[b"hdc.contract_id"] == b"urn:hdc:contract:source:patients"
    episodes = contract_to_arrow_schema(contracts["episodes"])
    assert episodes.field("admission_time").type == pa.timestamp("ms")
    for contract in contracts.values():
        schema = contract_to_arrow_schema(contract, metadata=False)
        assert schema.metadata is None
        for col in contract.columns:
            assert type_matches(col.logical_type, schema.field(col.name).type)
        assert all(f.nullable for f in contract_to_arrow_schema(contract, all_nullable=True))


def test_data_written_with_the_schema_passes_the_type_checks(tmp_path: Path) -> None:
    from hdc_toolkit.contracts.validate import validate

    contract = Contract(
        name="t",
        columns=(
            Column("id", "integer", "int32", required=True),
            Column("amount", "number", "decimal(10, 2)"),
            Column("day", "date", None),
            Column("at", "timestamp", "timestamp[us, tz=UTC]"),
            Column("ok", "boolean", None),
            Column("name", "string", "varchar(20)"),
        ),
    )
    schema = contract_to_arrow_schema(contract)
    import decimal

    table = pa.table(
        {"id": [1], "amount": [decimal.Decimal("1.50")], "day": [dt.date(2020, 1, 1)],
         "at": [dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)], "ok": [True], "name": ["a"]},
        schema=schema,
    )  # fmt: skip
    pq.write_table(table, tmp_path / "t.parquet")
    run = validate(contract, tmp_path / "t.parquet")
    types = {c.key: c.verdict.value for c in run.checks if c.kind in ("type", "schema")}
    assert set(types.values()) == {"passed"}, types


def test_exporter_registry_entry() -> None:
    contracts = load_contract_dir(REPO / "data_contracts")
    schema = exporters.export_object(contracts["prescriptions"], "pyarrow")
    assert isinstance(schema, pa.Schema) and schema == contract_to_arrow_schema(contracts["prescriptions"])
    assert exporters.get("pyarrow") is contract_to_arrow_schema
    text = exporters.export(contracts["prescriptions"], "pyarrow")  # what `hdc contract export --format pyarrow` prints
    doc = json.loads(text)
    assert doc == schema_to_json(schema)
    assert doc["fields"][0]["name"] == "prescription_id" and doc["fields"][0]["type"] == "int64"
    assert doc["fields"][0]["nullable"] is False and doc["fields"][0]["metadata"]["logicalType"] == "integer"
    assert doc["metadata"]["hdc.table"] == "prescriptions"
    assert [parse_physical_type(f["type"]) for f in doc["fields"]] == schema.types  # the type text parses back
