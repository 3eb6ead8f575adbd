"""Contract → synthesis plan and SDV 2.x metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdc_toolkit.contracts import exporters, load_contract_dir
from hdc_toolkit.synth.metadata import contract_to_sdv_dict, plan_schema, to_sdv_metadata

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def contracts():
    return load_contract_dir(REPO / "data_contracts")


def test_roles_links_and_order(contracts) -> None:
    plan = plan_schema(contracts)
    assert plan.order[0] == "patients"
    assert plan.order.index("episodes") < plan.order.index("diagnoses")
    assert plan.order.index("episodes") < plan.order.index("lab_results")
    p = plan.tables["patients"]
    assert p.column("national_id").role == "key" and not p.column("national_id").modelled
    assert p.column("birth_date").role == "datetime"
    d = plan.tables["diagnoses"]
    links = {link.column: link for link in d.links}
    assert links["episode_id"].kind == "primary" and d.parent == "episodes"
    assert links["national_id"].kind == "derived" and links["national_id"].via == ("episodes", "patients")
    lab = {link.column: link for link in plan.tables["lab_results"].links}
    assert lab["national_id"].kind == "primary"
    assert lab["episode_id"].kind == "sibling" and not lab["episode_id"].required
    assert plan.ancestors("diagnoses") == ("episodes", "patients")


def test_sdv_metadata_holds_contract_facts_only(contracts) -> None:
    d = contract_to_sdv_dict(contracts)
    assert d["METADATA_SPEC_VERSION"] == "V2"
    pat = d["tables"]["patients"]
    assert pat["primary_key"] == "national_id"
    assert pat["columns"]["national_id"] == {"sdtype": "id", "regex_format": "[0-9]{11}"}
    assert pat["columns"]["sex"] == {"sdtype": "categorical", "range_values": ["F", "M"]}
    assert pat["columns"]["birth_date"]["range_min"] == "1900-01-01"  # the contract's public bound
    rels = {
        (r["parent_table_name"], r["child_table_name"], r["child_foreign_key"]) for r in d["relationships"]
    }
    assert ("episodes", "diagnoses", "episode_id") in rels
    assert ("patients", "lab_results", "national_id") in rels
    bare = contract_to_sdv_dict(contracts, public_bounds=False)
    assert "range_values" not in json.dumps(bare) and "range_min" not in json.dumps(bare)


def test_sdv_metadata_object_validates(contracts) -> None:
    meta = to_sdv_metadata(contracts)
    meta.validate()
    assert set(meta.tables) == set(contracts)


def test_registered_as_contract_exporter(contracts) -> None:
    import hdc_toolkit.synth  # noqa: F401  (registers on import)

    assert "sdv" in exporters.names()
    text = exporters.export(contracts["episodes"], "sdv")
    assert json.loads(text)["tables"]["episodes"]["primary_key"] == "episode_id"
