"""File rules: types, size, row-level data, pseudonym columns and values; and the request checks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hdc_toolkit.outputs import files
from hdc_toolkit.outputs.checking import check_outputs, read_table
from hdc_toolkit.outputs.profiles import ACRO_DEFAULT, NHS_SDE
from hdc_toolkit.outputs.tables import frequency_table, magnitude_table
from hdc_toolkit.results import Verdict

PIDS = ["3fa9c01d77e2b410", "a0b1c2d3e4f50617", "ffee00112233aabb"]


def kinds(checks: list) -> dict[str, Verdict]:
    return {c.kind: c.verdict for c in checks}


@pytest.fixture
def index() -> files.PseudonymIndex:
    return files.PseudonymIndex(PIDS)


class TestTypes:
    @pytest.mark.parametrize(
        ("name", "verdict"),
        [
            ("t.csv", Verdict.PASSED),
            ("plot.PNG", Verdict.PASSED),
            ("notes.md", Verdict.PASSED),
            ("cohort.parquet", Verdict.FAILED),
            ("model.pkl", Verdict.FAILED),
            ("all.zip", Verdict.FAILED),
            ("analysis.ipynb", Verdict.FAILED),
            ("scatter.svg", Verdict.FAILED),
            ("thing.xyz", Verdict.WARNING),
            ("README", Verdict.WARNING),
        ],
    )
    def test_type(self, tmp_path: Path, index: files.PseudonymIndex, name: str, verdict: Verdict) -> None:
        path = tmp_path / name
        path.write_text("hello\n")
        _, checks = files.check_file(path, index)
        assert kinds(checks)[files.CHECK_TYPE] is verdict
        check = next(c for c in checks if c.kind == files.CHECK_TYPE)
        assert check.details["blocking"] is (verdict is Verdict.FAILED)


class TestSize:
    @pytest.mark.parametrize(
        ("size", "verdict"), [(99, Verdict.PASSED), (100, Verdict.PASSED), (101, Verdict.WARNING)]
    )
    def test_limit(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, verdict: Verdict
    ) -> None:
        monkeypatch.setattr(files, "MAX_FILE_BYTES", 100)
        path = tmp_path / "big.txt"
        path.write_bytes(b"x" * size)
        facts, checks = files.check_file(path, None)
        assert kinds(checks)[files.CHECK_SIZE] is verdict and facts.size == size

    def test_huge_file_is_reviewed_and_still_scanned(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, index: files.PseudonymIndex
    ) -> None:
        monkeypatch.setattr(files, "MAX_FILE_BYTES", 1000)
        monkeypatch.setattr(files, "CHUNK_BYTES", 64)
        path = tmp_path / "huge.txt"
        path.write_text(("filler " * 300) + "\n" + PIDS[1] + "\n")
        run, checked = check_outputs([path], profile=ACRO_DEFAULT, pseudonyms=index)
        verdicts = kinds(checked[0].checks)
        assert verdicts[files.CHECK_SIZE] is Verdict.WARNING
        assert verdicts[files.CHECK_PSEUDONYM_VALUES] is Verdict.FAILED
        assert verdicts["custom-output"] is Verdict.WARNING


class TestRowLevel:
    @pytest.mark.parametrize(
        ("rows", "verdict"), [(4999, Verdict.PASSED), (5000, Verdict.PASSED), (5001, Verdict.FAILED)]
    )
    def test_rows(self, tmp_path: Path, rows: int, verdict: Verdict) -> None:
        path = tmp_path / "t.csv"
        path.write_text("a,b\n" + "x,1\n" * rows)
        facts, checks = files.check_file(path, None)
        assert facts.rows == rows and kinds(checks)[files.CHECK_ROWS] is verdict

    def test_no_trailing_newline(self, tmp_path: Path) -> None:
        path = tmp_path / "t.csv"
        path.write_text("a\n1\n2")
        assert files.check_file(path, None)[0].rows == 2


class TestPseudonyms:
    def test_pseudonym_column_header(self, tmp_path: Path) -> None:
        path = tmp_path / "t.csv"
        path.write_text("PID,n\nx,1\n")
        assert kinds(files.check_file(path, None)[1])[files.CHECK_PSEUDONYM_COLUMN] is Verdict.FAILED

    @pytest.mark.parametrize(
        "text",
        [
            f"a,b\nx,{PIDS[0]}\n",
            f'{{"who": "{PIDS[1]}"}}',
            f"<td>{PIDS[2]}</td>",
            f"the patient {PIDS[0]} was admitted",
        ],
        ids=["csv", "json", "html", "text"],
    )
    def test_values_found_anywhere(self, tmp_path: Path, index: files.PseudonymIndex, text: str) -> None:
        path = tmp_path / "out.txt"
        path.write_text(text)
        check = next(c for c in files.check_file(path, index)[1] if c.kind == files.CHECK_PSEUDONYM_VALUES)
        assert check.verdict is Verdict.FAILED and check.details["blocking"]
        assert not any(p in json.dumps(check.to_dict()) for p in PIDS)  # never echoed

    def test_longer_tokens_are_not_matches(self, tmp_path: Path, index: files.PseudonymIndex) -> None:
        path = tmp_path / "out.txt"
        path.write_text(f"x{PIDS[0]} {PIDS[0][:-1]}\n")
        assert kinds(files.check_file(path, index)[1])[files.CHECK_PSEUDONYM_VALUES] is Verdict.PASSED

    def test_without_released_data_the_search_is_reviewed(self, tmp_path: Path) -> None:
        path = tmp_path / "t.txt"
        path.write_text("x")
        assert kinds(files.check_file(path, None)[1])[files.CHECK_PSEUDONYM_VALUES] is Verdict.WARNING

    def test_short_pseudonyms_are_reviewed(self, tmp_path: Path) -> None:
        path = tmp_path / "t.txt"
        path.write_text("12 patients")
        idx = files.PseudonymIndex(["12", *PIDS])
        assert kinds(files.check_file(path, idx)[1])[files.CHECK_PSEUDONYM_VALUES] is Verdict.WARNING

    def test_load_from_release(self, tmp_path: Path) -> None:
        data = tmp_path / "data"
        data.mkdir()
        pq.write_table(pa.table({"pid": PIDS, "episode_id": [10**15, 10**15 + 1, None], "x": [1, 2, 3]}),
                       data / "t.parquet")  # fmt: skip
        (data / "manifest.json").write_text(
            json.dumps(
                {"tables": {"t": {"columns": {"episode_id": {"role": "surrogate"}, "x": {"role": "value"}}}}}
            )
        )
        idx = files.load_pseudonyms(data)
        assert idx is not None and idx.values == frozenset(PIDS + ["1000000000000000", "1000000000000001"])
        assert files.load_pseudonyms(tmp_path / "nowhere") is None


class TestRequestChecks:
    def test_notebook_table_is_rechecked_not_trusted(
        self, tmp_path: Path, index: files.PseudonymIndex
    ) -> None:
        df = pd.DataFrame({"a": ["x"] * 30 + ["y"] * 3})
        csv = frequency_table(df, "a").save(tmp_path)
        # edit the published table after its checks ran: the 3 comes back
        assert "\ny,\n" in csv.read_text()
        csv.write_text(csv.read_text().replace("\ny,\n", "\ny,3\n"))
        run, (item,) = check_outputs([csv], profile=ACRO_DEFAULT, pseudonyms=index)
        verdicts = kinds(item.checks)
        assert verdicts["sdc-record"] is Verdict.WARNING  # hash mismatch
        assert verdicts["threshold"] is Verdict.FAILED  # re-checked from the file
        assert item.flags[(1, 0)] == ["threshold"]
        assert verdicts["mitigation-threshold"] is Verdict.WARNING  # what the notebook suppressed
        assert not run.passed

    def test_custom_csv_whole_numbers_checked_as_counts(self, tmp_path: Path) -> None:
        path = tmp_path / "mine.csv"
        path.write_text("group,n\na,12\nb,4\n")
        _, (item,) = check_outputs([path], profile=NHS_SDE, pseudonyms=files.PseudonymIndex(PIDS))
        verdicts = kinds(item.checks)
        assert verdicts["custom-output"] is Verdict.WARNING
        assert verdicts["threshold"] is Verdict.FAILED and verdicts["unrounded"] is Verdict.FAILED
        assert item.ledger is not None and item.layout == {
            "index_cols": 1,
            "index_names": ["group"],
            "columns_name": None,
        }

    def test_magnitude_checks_are_carried_from_the_notebook(self, tmp_path: Path) -> None:
        df = pd.DataFrame({"g": ["a"] * 12, "v": [1000.0, 900.0] + [1.0] * 10})
        csv = magnitude_table(df, "g", values="v", mitigate=False).save(tmp_path)
        _, (item,) = check_outputs([csv], profile=ACRO_DEFAULT, pseudonyms=files.PseudonymIndex(PIDS))
        nk = next(c for c in item.checks if c.kind == "nk-rule")
        assert nk.verdict is Verdict.FAILED and "notebook" in nk.details["source"]
        assert item.ledger is None  # sums are not counts: no differencing

    def test_profile_mismatch_is_reviewed(self, tmp_path: Path) -> None:
        df = pd.DataFrame({"a": ["x"] * 30})
        csv = frequency_table(df, "a", profile="opensafely").save(tmp_path)
        _, (item,) = check_outputs([csv], profile=ACRO_DEFAULT, pseudonyms=files.PseudonymIndex(PIDS))
        assert kinds(item.checks)["sdc-profile"] is Verdict.WARNING

    def test_image_is_reviewed_by_hand(self, tmp_path: Path) -> None:
        path = tmp_path / "plot.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
        _, (item,) = check_outputs([path], profile=ACRO_DEFAULT, pseudonyms=files.PseudonymIndex(PIDS))
        assert kinds(item.checks)["custom-output"] is Verdict.WARNING and item.layout is None

    def test_unreadable_table_is_reviewed(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.csv"
        path.write_bytes(b'a,b\n"unterminated,1\n')
        _, (item,) = check_outputs([path], profile=ACRO_DEFAULT, pseudonyms=None)
        assert item.verdict is Verdict.WARNING

    def test_read_table_roundtrip(self, tmp_path: Path) -> None:
        df = pd.DataFrame({"a": ["x"] * 30 + ["y"] * 20, "b": ["p", "q"] * 25})
        t = frequency_table(df, "a", "b")
        frame = read_table(t.save(tmp_path), t.layout())
        assert frame.index.name == "a" and frame.columns.name == "b"
        assert frame.loc["Total", "Total"] == 50
