"""The demo extract generator end to end: real Parquet files checked with pandas against the contracts.

The contract checks are recomputed here independently of the toolkit's validator, straight from the
ODCS YAML files, with the counting semantics the validator uses:

* ``{table}.{column}.not_null``: null values of a required column;
* ``{table}.{column}.unique``: all rows whose non-null value occurs more than once;
* ``{table}.{column}.range``: non-null values outside [minimum, maximum];
* ``{table}.{column}.allowed_values``: non-null values not in the list;
* ``{table}.{column}.pattern``: non-null values the regex (``re.search``) does not match;
* ``{table}.{column}.foreign_key``: non-null values absent from the parent column;
* ``{table}.rule.{name}``: rows where both columns are non-null and ``a < b``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hdc_toolkit.demo import TABLES, generate_extract, is_valid_national_id

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "data_contracts"
PATIENTS = 2000
CHUNK = 600  # four chunks: 600, 600, 600, 200
SEED = 20240501
RATE = 0.05

_ARROW_TYPES = {
    "string": pa.string(),
    "date32": pa.date32(),
    "timestamp[ms]": pa.timestamp("ms"),
    "int64": pa.int64(),
    "double": pa.float64(),
}


def load_contracts() -> dict[str, dict]:
    contracts = {}
    for path in sorted(CONTRACTS.glob("*.odcs.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        schema = doc["schema"][0]
        contracts[schema["name"]] = schema
    return contracts


def read_tables(root: Path) -> dict[str, pd.DataFrame]:
    return {t: pq.read_table(root / t).to_pandas() for t in TABLES}


def _bound(value: object, series: pd.Series) -> object:
    if pd.api.types.is_numeric_dtype(series):
        return float(value)
    return pd.Timestamp(str(value))


def _as_comparable(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series):
        return series
    return pd.to_datetime(series)


def reference_failures(root: Path) -> dict[str, int]:
    """Every check of every contract, recomputed with pandas: check key -> failing count."""
    contracts = load_contracts()
    frames = read_tables(root)
    result: dict[str, int] = {}
    for table, schema in contracts.items():
        df = frames[table]
        for prop in schema["properties"]:
            name = prop["name"]
            col = df[name]
            nn = col.dropna()
            key = f"{table}.{name}"
            if prop.get("required"):
                result[f"{key}.not_null"] = int(col.isna().sum())
            if prop.get("unique"):
                result[f"{key}.unique"] = int(nn.duplicated(keep=False).sum())
            options = prop.get("logicalTypeOptions", {})
            if "pattern" in options:
                search = re.compile(options["pattern"]).search
                result[f"{key}.pattern"] = int(sum(search(v) is None for v in nn))
            if "minimum" in options or "maximum" in options:
                values = _as_comparable(nn)
                bad = pd.Series(False, index=values.index)
                if "minimum" in options:
                    bad |= values < _bound(options["minimum"], values)
                if "maximum" in options:
                    bad |= values > _bound(options["maximum"], values)
                result[f"{key}.range"] = int(bad.sum())
            for quality in prop.get("quality", []):
                if quality.get("metric") == "invalidValues":
                    valid = quality["arguments"]["validValues"]
                    result[f"{key}.allowed_values"] = int((~nn.isin(valid)).sum())
            for rel in prop.get("relationships", []):
                parent_table, parent_col = rel["to"].split(".")
                parent = set(frames[parent_table][parent_col].dropna())
                result[f"{key}.foreign_key"] = int((~nn.isin(parent)).sum())
        for quality in schema.get("quality", []):
            if quality.get("type") == "sql":
                a, b = re.search(r"WHERE (\w+) < (\w+)", quality["query"]).groups()
                both = df[a].notna() & df[b].notna()
                lhs, rhs = _as_comparable(df.loc[both, a]), _as_comparable(df.loc[both, b])
                result[f"{table}.rule.{quality['name']}"] = int((lhs < rhs).sum())
            elif quality.get("metric") == "rowCount":
                result[f"{table}.row_count"] = 0 if len(df) > quality["mustBeGreaterThan"] else 1
    return result


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "clean"
    generate_extract(out, patients=PATIENTS, seed=SEED, chunk_size=CHUNK)
    return out


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "defects"
    generate_extract(out, patients=PATIENTS, seed=SEED, chunk_size=CHUNK, defect_rate=RATE)
    return out


@pytest.fixture(scope="module")
def tables(clean: Path) -> dict[str, pd.DataFrame]:
    return read_tables(clean)


# --------------------------------------------------------------------------------------------------
# Layout and schema


def test_one_file_per_chunk_and_table(clean: Path) -> None:
    for table in TABLES:
        names = sorted(p.name for p in (clean / table).iterdir())
        assert names == [f"part-{i:05d}.parquet" for i in range(4)]
    assert not [p for p in clean.parent.iterdir() if p.name.startswith(".")], "temporary directories left"


def test_schema_matches_contracts(clean: Path) -> None:
    for table, schema in load_contracts().items():
        expected = pa.schema([(p["name"], _ARROW_TYPES[p["physicalType"]]) for p in schema["properties"]])
        for path in (clean / table).iterdir():
            assert pq.read_schema(path).remove_metadata() == expected, path
            meta = pq.ParquetFile(path).metadata
            assert meta.row_group(0).column(0).compression == "SNAPPY"


def test_defects_file_of_clean_extract(clean: Path) -> None:
    truth = json.loads((clean / "defects.json").read_text())
    assert truth == {"rate": 0.0, "seed": SEED, "expected": {}}


# --------------------------------------------------------------------------------------------------
# Contract checks: clean extract passes all, defects are exactly as declared


def test_clean_extract_passes_every_contract_check(clean: Path) -> None:
    failures = reference_failures(clean)
    assert len(failures) > 40
    assert {k: v for k, v in failures.items() if v} == {}


def test_defect_truth_is_exact(defective: Path) -> None:
    truth = json.loads((defective / "defects.json").read_text())
    assert truth["rate"] == RATE and truth["seed"] == SEED
    failures = reference_failures(defective)
    assert {k: v for k, v in failures.items() if v} == truth["expected"]
    # every defect kind was injected at least once at this size
    assert len(truth["expected"]) == 19


def test_defect_rate_is_respected(defective: Path, tables: dict[str, pd.DataFrame]) -> None:
    truth = json.loads((defective / "defects.json").read_text())["expected"]
    for table in TABLES:
        n = len(tables[table])
        rows = sum(
            v // 2 if k.endswith(".unique") else v for k, v in truth.items() if k.startswith(f"{table}.")
        )
        assert abs(rows - RATE * n) <= 0.25 * RATE * n + 10, (table, rows, n)


def test_defects_leave_other_rows_alone(clean: Path, defective: Path) -> None:
    a, b = read_tables(clean), read_tables(defective)
    for table in TABLES:
        # appended duplicates come after the original rows of each chunk, so compare by id
        key = {"patients": "national_id"}.get(table, f"{table.rstrip('s')}_id")
        if table == "diagnoses":
            key = "diagnosis_id"
        if table == "lab_results":
            key = "lab_result_id"
        left = a[table].drop_duplicates(key).set_index(key)
        right = b[table].drop_duplicates(key).set_index(key)
        common = left.index.intersection(right.index)
        changed = (left.loc[common] != right.loc[common]) & ~(
            left.loc[common].isna() & right.loc[common].isna()
        )
        n_changed = int(changed.any(axis=1).sum())
        assert 0 < n_changed <= RATE * len(left) * 1.3 + 10, table


# --------------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_gives_identical_files(clean: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_extract(again, patients=PATIENTS, seed=SEED, chunk_size=CHUNK)
    for table in TABLES:
        for path in (clean / table).iterdir():
            assert path.read_bytes() == (again / table / path.name).read_bytes(), path


def test_other_seed_gives_other_data(clean: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    generate_extract(other, patients=200, seed=SEED + 1, chunk_size=CHUNK)
    a = pq.read_table(clean / "patients" / "part-00000.parquet").column("national_id").to_pylist()[:200]
    b = pq.read_table(other / "patients").column("national_id").to_pylist()
    assert a != b


# --------------------------------------------------------------------------------------------------
# Internal consistency


def test_ids_unique_across_chunks(tables: dict[str, pd.DataFrame]) -> None:
    assert tables["patients"]["national_id"].is_unique
    assert len(tables["patients"]) == PATIENTS
    for table, key in [
        ("episodes", "episode_id"),
        ("diagnoses", "diagnosis_id"),
        ("prescriptions", "prescription_id"),
        ("lab_results", "lab_result_id"),
    ]:
        ids = tables[table][key]
        assert ids.is_unique and ids.min() == 1 and ids.max() == len(ids), table


def test_national_ids_match_birth_date_and_sex(tables: dict[str, pd.DataFrame]) -> None:
    p = tables["patients"]
    assert p["national_id"].map(is_valid_national_id).all()
    ddmmyy = pd.to_datetime(p["birth_date"]).dt.strftime("%d%m%y")
    assert (p["national_id"].str[:6] == ddmmyy).all()
    odd = p["national_id"].str[8].astype(int) % 2 == 1
    assert ((p["sex"] == "M") == odd).all()


def _with_patient(df: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
    p = patients[["national_id", "birth_date", "death_date", "sex"]].copy()
    p["birth"] = pd.to_datetime(p["birth_date"])
    p["death"] = pd.to_datetime(p["death_date"])
    merged = df.merge(p, on="national_id", how="left", validate="many_to_one")
    assert merged["birth"].notna().all()
    return merged


def test_no_event_before_birth_or_after_death(tables: dict[str, pd.DataFrame]) -> None:
    p = tables["patients"]
    assert (
        pd.to_datetime(p["death_date"]).dropna()
        >= pd.to_datetime(p.loc[p["death_date"].notna(), "birth_date"])
    ).all()
    assert (pd.to_datetime(p["death_date"]).dropna() <= pd.Timestamp("2026-12-31")).all()
    events = {
        "episodes": ("admission_time", "discharge_time"),
        "diagnoses": ("diagnosis_date", "diagnosis_date"),
        "prescriptions": ("dispense_date", "dispense_date"),
        "lab_results": ("sample_time", "sample_time"),
    }
    for table, (start, end) in events.items():
        m = _with_patient(tables[table], p)
        first = pd.to_datetime(m[start])
        last = pd.to_datetime(m[end])
        assert (first >= m["birth"]).all(), table
        dead = m["death"].notna()
        assert (last[dead] < m.loc[dead, "death"] + pd.Timedelta(days=1)).all(), table


def test_episode_times(tables: dict[str, pd.DataFrame]) -> None:
    e = tables["episodes"]
    stay = e["discharge_time"] - e["admission_time"]
    assert (stay >= pd.Timedelta(0)).all()
    same_day = e["care_type"].isin(["outpatient", "day"])
    assert (
        e.loc[same_day, "discharge_time"].dt.date == e.loc[same_day, "admission_time"].dt.date
    ).mean() > 0.99
    assert stay[e["care_type"] == "inpatient"].median() >= pd.Timedelta(days=1)
    # winter peak: more admissions in January than in July
    month = e["admission_time"].dt.month
    assert (month == 1).sum() > (month == 7).sum()


def test_foreign_keys_resolve(tables: dict[str, pd.DataFrame]) -> None:
    ids = set(tables["patients"]["national_id"])
    episode_ids = set(tables["episodes"]["episode_id"])
    for table in ("episodes", "diagnoses", "prescriptions", "lab_results"):
        assert tables[table]["national_id"].isin(ids).all(), table
    assert tables["diagnoses"]["episode_id"].isin(episode_ids).all()
    assert tables["lab_results"]["episode_id"].dropna().isin(episode_ids).all()
    assert tables["lab_results"]["episode_id"].isna().any()


def test_diagnoses_within_their_episode(tables: dict[str, pd.DataFrame]) -> None:
    d = tables["diagnoses"].merge(
        tables["episodes"], on=["episode_id", "national_id"], validate="many_to_one"
    )
    date = pd.to_datetime(d["diagnosis_date"])
    assert (date >= d["admission_time"].dt.normalize()).all()
    assert (date <= d["discharge_time"].dt.normalize()).all()
    per_episode = d.groupby("episode_id")["diagnosis_type"].agg(lambda s: (s == "main").sum())
    assert (per_episode == 1).all()
    assert len(per_episode) == len(tables["episodes"])


def test_lab_samples_within_their_episode(tables: dict[str, pd.DataFrame]) -> None:
    lab = tables["lab_results"].dropna(subset=["episode_id"])
    m = lab.merge(tables["episodes"], on=["episode_id", "national_id"], validate="many_to_one")
    assert len(m) == len(lab)
    assert ((m["sample_time"] >= m["admission_time"]) & (m["sample_time"] <= m["discharge_time"])).all()


def test_codes_are_plausible_for_sex_and_age(tables: dict[str, pd.DataFrame]) -> None:
    d = _with_patient(tables["diagnoses"], tables["patients"])
    assert not ((d["sex"] == "M") & d["icd10_code"].str.startswith("O")).any()
    assert not ((d["sex"] == "F") & (d["icd10_code"] == "C61")).any()
    age = (pd.to_datetime(d["diagnosis_date"]) - d["birth"]).dt.days / 365.25
    assert not ((age < 18) & d["icd10_code"].str.startswith("I21")).any()
    codes = set(d["icd10_code"])
    for expected in ("E119", "I10", "J449", "F329", "J189"):
        assert expected in codes
    rx = _with_patient(tables["prescriptions"], tables["patients"])
    assert not ((rx["sex"] == "M") & rx["atc_code"].str.startswith("G03A")).any()


def test_diabetics_get_a10(tables: dict[str, pd.DataFrame]) -> None:
    d = tables["diagnoses"]
    diabetics = set(d.loc[d["icd10_code"].str.match(r"E1[01]"), "national_id"])
    rx = tables["prescriptions"]
    treated = set(rx.loc[rx["atc_code"].str.startswith("A10"), "national_id"])
    assert len(diabetics) > 20
    assert len(diabetics & treated) / len(diabetics) > 0.9
    assert rx["atc_code"].value_counts().index[0] in {"A10BA02", "C08CA01", "N02BE01", "B01AC06", "C10AA05"}


def test_realistic_shape(tables: dict[str, pd.DataFrame]) -> None:
    p = tables["patients"]
    age = (pd.Timestamp("2025-12-31") - pd.to_datetime(p["birth_date"])).dt.days / 365.25
    assert 35 < age.mean() < 45
    assert 0.45 < (p["sex"] == "M").mean() < 0.55
    assert 0.03 < p["death_date"].notna().mean() < 0.2
    assert (p["municipality"] == "5001").mean() > 0.15  # Trondheim is the largest
    assert p["municipality"].str[:2].isin(["50", "15"]).all()
    per_patient = tables["episodes"].groupby("national_id").size().reindex(p["national_id"], fill_value=0)
    old = (age >= 70).to_numpy()
    assert per_patient[old].mean() > 1.5 * per_patient[~old].mean()
    e = tables["episodes"]
    shares = e["care_type"].value_counts(normalize=True)
    assert shares["outpatient"] > shares["inpatient"] > 0.1
    lab = tables["lab_results"]
    hba1c = lab[lab["analysis_code"] == "NPU27300"]
    assert (hba1c["unit"] == "mmol/mol").all() and 30 < hba1c["value"].median() < 70
    assert np.isfinite(lab["value"]).all()
    assert (tables["prescriptions"]["ddd"] > 0).all()


def test_summary(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    summary = generate_extract(
        tmp_path / "x",
        patients=250,
        seed=1,
        chunk_size=100,
        defect_rate=0.1,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen == [(100, 250), (200, 250), (250, 250)]
    assert (
        summary.rows["patients"] == 250 + summary.expected_defects.get("patients.national_id.unique", 0) // 2
    )
    assert all(len(summary.files[t]) == 3 and all(f.exists() for f in summary.files[t]) for t in TABLES)
    truth = json.loads((tmp_path / "x" / "defects.json").read_text())
    assert truth["expected"] == dict(summary.expected_defects)
    assert summary.total_rows == sum(pq.read_metadata(f).num_rows for t in TABLES for f in summary.files[t])
