"""ODCS conformance: the standard's published examples load, its negative tests are refused with a
line number, and no input (published or mutated) raises anything but ContractError.

Fixtures: ``tests/fixtures/odcs/`` (see its README for provenance and the apiVersion policy).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hdc_toolkit.contracts.loader import load_document
from hdc_toolkit.exceptions import ContractError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "odcs"
VALID = sorted((FIXTURES / "valid").rglob("*.yaml"))
INVALID = sorted((FIXTURES / "invalid").rglob("*.yaml"))
DRIFT = sorted((FIXTURES / "drift").rglob("*.yaml"))
OURS = sorted((ROOT / "data_contracts").glob("*.yaml"))


def _id(path: Path) -> str:
    return str(path.relative_to(FIXTURES))


def test_fixture_sets_are_present_and_documented() -> None:
    assert len(VALID) >= 25 and len(INVALID) >= 10
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    assert "bitol-io/open-data-contract-standard" in readme
    for path in [*VALID, *INVALID, *DRIFT]:
        assert f"`{_id(path)}`" in readme, f"{_id(path)} has no provenance line in the README"


@pytest.mark.parametrize("path", VALID, ids=_id)
def test_published_example_loads_without_errors(path: Path) -> None:
    document = load_document(path, strict=False)
    assert not document.errors, "\n".join(map(str, document.errors))
    for problem in document.warnings:
        assert problem.file == str(path) and problem.message
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    tables = [o for o in raw.get("schema") or [] if isinstance(o, dict)]
    assert [c.name for c in document.contracts] == [str(o["name"]) for o in tables]
    load_document(path)  # strict mode accepts it too


@pytest.mark.parametrize("path", INVALID, ids=_id)
def test_negative_test_is_refused_with_a_line(path: Path) -> None:
    document = load_document(path, strict=False)
    assert document.errors, f"{_id(path)} loaded without errors"
    assert any(p.line for p in document.errors), [str(p) for p in document.errors]
    assert not document.contracts
    with pytest.raises(ContractError) as info:
        load_document(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("path", DRIFT, ids=_id)
def test_schema_drift_fixture_does_not_crash(path: Path) -> None:
    try:
        document = load_document(path, strict=False)
    except ContractError as exc:
        assert str(path) in str(exc)  # a refusal names the file
    else:
        assert all(p.file == str(path) for p in document.problems)


def test_v30_constructs_are_warned_not_refused() -> None:
    document = load_document(FIXTURES / "valid" / "v3.0.0" / "all" / "full-example.odcs.yaml", strict=False)
    messages = [p.message for p in document.warnings]
    assert any("'comment' read as 'description'" in m for m in messages)
    assert any("'nullCheck'" in m and "not enforced" in m for m in messages)


def test_unused_v32_features_are_warnings() -> None:
    document = load_document(FIXTURES / "valid" / "schema" / "map.odcs.yaml", strict=False)
    [contract] = document.contracts
    assert contract.column("user_preferences").logical_type == "object"
    assert any("'map' is read as 'object'" in p.message for p in document.warnings)
    enum = load_document(FIXTURES / "valid" / "schema" / "enum.odcs.yaml").contracts[0]
    assert enum.column("status").allowed_values == ("pending", "processing", "shipped", "cancelled")


def test_date_bound_written_as_a_datetime_is_read_as_its_date() -> None:
    import datetime as dt

    [contract] = load_document(FIXTURES / "valid" / "data-types" / "all-data-types.odcs.yaml").contracts
    column = contract.column("txn_timestamp")
    assert (column.minimum, column.maximum) == (dt.date(2020, 1, 1), dt.date(2021, 1, 1))
    assert contract.column("txn_ref_date").exclusive_minimum


# ---------------------------------------------------------------------------------------------------
# Fuzzing: mutated versions of our contracts either load or raise ContractError, nothing else.

SEEDS = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in OURS]
TEXTS = [p.read_text(encoding="utf-8") for p in OURS]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


SEED_PATHS = [_paths(s) for s in SEEDS]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "v2.2.2", "v3.1.0", "string", "date", "integer", "^(?=x)$", "[", "2020-13-45", "a.b.c", "direct_identifier"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["name", "logicalType", "x", "mustBe", "metric"]), inner, max_size=3),
    ),
    max_leaves=6,
)
operations = st.lists(st.tuples(st.sampled_from(["delete", "set", "duplicate"]), st.integers(min_value=0), values), min_size=1, max_size=4)


def _mutate(doc: Any, paths: list[tuple[Any, ...]], ops: list[tuple[str, int, Any]]) -> Any:
    doc = copy.deepcopy(doc)
    for op, index, value in ops:
        path = paths[index % len(paths)]
        parent: Any = doc
        try:
            for part in path[:-1]:
                parent = parent[part]
            key = path[-1]
            if op == "delete":
                del parent[key]
            elif op == "set":
                parent[key] = value
            elif isinstance(parent, list):
                parent.append(copy.deepcopy(parent[key]))
            else:
                parent[f"{key}_copy"] = copy.deepcopy(parent[key])
        except (KeyError, IndexError, TypeError):
            continue  # an earlier operation removed the path
    return doc


def _load_quietly(path: Path) -> Any:
    """Load without strictness: a ContractError or a document whose problems are well-formed."""
    try:
        document = load_document(path, strict=False)
    except ContractError as exc:
        assert str(path) in str(exc)
        return None
    for problem in document.problems:
        assert problem.severity in ("error", "warning")
        assert isinstance(problem.message, str) and problem.message
    return document


@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=len(SEEDS) - 1), ops=operations)
def test_fuzz_structural_mutations(tmp_path: Path, seed: int, ops: list[tuple[str, int, Any]]) -> None:
    mutated = _mutate(SEEDS[seed], SEED_PATHS[seed], ops)
    path = tmp_path / "fuzz.odcs.yaml"
    try:
        text = yaml.safe_dump(mutated, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return
    path.write_text(text, encoding="utf-8")
    _load_quietly(path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=len(TEXTS) - 1),
    cut=st.floats(min_value=0, max_value=1),
    length=st.integers(min_value=0, max_value=40),
    insert=st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@` \n\t\x00éx1")), max_size=8),
)
def test_fuzz_text_mutations(tmp_path: Path, seed: int, cut: float, length: int, insert: str) -> None:
    text = TEXTS[seed]
    at = math.floor(cut * len(text))
    mutated = text[:at] + insert + text[at + length :]
    path = tmp_path / "fuzz.odcs.yaml"
    path.write_text(mutated, encoding="utf-8")
    _load_quietly(path)


@pytest.mark.parametrize(
    "doc",
    [
        {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "a",
         "schema": [{"name": "t", "quality": [{"metric": "rowCount", "mustBe": "many"}]}]},
        {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "a",
         "schema": [{"name": "t", "quality": [{"metric": "duplicateValues", "arguments": {"properties": 5}, "mustBe": 0}]}]},
        {"apiVersion": "v3.0.2", "kind": "DataContract", "id": "x", "version": "1", "status": "a", "team": "nobody",
         "schema": [{"name": "t", "quality": [{"rule": "nullCheck"}], "properties": [{"name": "a", "quality": "x"}]}]},
        {"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "a",
         "schema": [{"name": "t", "properties": [{"name": "d", "logicalType": "date", "logicalTypeOptions": {"minimum": [1]}}]}]},
    ],
)  # fmt: skip
def test_odd_but_schema_valid_values_do_not_crash(tmp_path: Path, doc: dict[str, Any]) -> None:
    path = tmp_path / "odd.odcs.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    document = _load_quietly(path)
    assert document is None or all(p.file == str(path) for p in document.problems)
