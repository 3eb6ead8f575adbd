"""``hdc demo-data``: writes an extract, and refuses bad input with a clear message, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hdc_toolkit.cli import main
from hdc_toolkit.demo import generate_extract
from hdc_toolkit.exceptions import DataError, HdcUserError


def test_writes_extract_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "extract"
    code = main(
        [
            "demo-data",
            "--patients",
            "300",
            "--seed",
            "4",
            "--out",
            str(out),
            "--defects",
            "0.05",
            "--chunk-size",
            "100",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "episodes" in text and "defects.json" in text
    for table in ("patients", "episodes", "diagnoses", "prescriptions", "lab_results"):
        assert len(list((out / table).glob("part-*.parquet"))) == 3
    truth = json.loads((out / "defects.json").read_text())
    assert truth["rate"] == 0.05 and truth["seed"] == 4 and truth["expected"]


def test_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--patients", "50", "--out", str(tmp_path / "q"), "-q"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--patients", "0"], "positive whole number"),
        (["--patients", "-5"], "positive whole number"),
        (["--patients", "10", "--defects", "0.5"], "below 0.5"),
        (["--patients", "10", "--defects", "-0.1"], "below 0.5"),
        (["--patients", "10", "--defects", "nan"], "below 0.5"),
        (["--patients", "10", "--seed", "-1"], "seed"),
        (["--patients", "10", "--chunk-size", "0"], "chunk size"),
    ],
)
def test_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "x"
    assert main(["demo-data", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


def test_non_empty_directory_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    assert main(["demo-data", "--patients", "20", "--seed", "1", "--out", str(out), "-q"]) == 0
    first = (out / "patients" / "part-00000.parquet").read_bytes()
    assert main(["demo-data", "--patients", "20", "--seed", "2", "--out", str(out), "-q"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "patients" / "part-00000.parquet").read_bytes() == first
    assert main(["demo-data", "--patients", "20", "--seed", "2", "--out", str(out), "--force", "-q"]) == 0
    assert (out / "patients" / "part-00000.parquet").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"], "no temporary directories left"


def test_force_never_deletes_foreign_files(tmp_path: Path) -> None:
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(DataError, match="not part of a demo extract"):
        generate_extract(out, patients=10, seed=1, force=True)
    assert (out / "thesis.docx").read_text() == "precious"


def test_empty_directory_is_used(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    summary = generate_extract(out, patients=10, seed=1)
    assert summary.rows["patients"] == 10 and (out / "defects.json").exists()


def test_output_path_that_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "file"
    out.write_text("x")
    with pytest.raises(HdcUserError, match="not a directory"):
        generate_extract(out, patients=10, seed=1)


def test_library_rejects_bad_types(tmp_path: Path) -> None:
    with pytest.raises(HdcUserError):
        generate_extract(tmp_path / "a", patients=True, seed=1)  # type: ignore[arg-type]
    with pytest.raises(HdcUserError):
        generate_extract(tmp_path / "a", patients=10, seed=1, defect_rate="0.1")  # type: ignore[arg-type]
    with pytest.raises(HdcUserError, match="at most"):
        generate_extract(tmp_path / "a", patients=10**8, seed=1)


def test_library_accepts_numpy_numbers(tmp_path: Path) -> None:
    import numpy as np

    summary = generate_extract(
        tmp_path / "n", patients=np.int64(30), seed=np.uint32(5), defect_rate=np.float64(0)
    )
    assert summary.patients == 30 and type(summary.patients) is int
    assert json.loads((tmp_path / "n" / "defects.json").read_text())["seed"] == 5


def test_help_does_not_import_numpy() -> None:
    code = (
        "import argparse, sys; import hdc_toolkit.commands.demo as demo; "
        "demo.register(argparse.ArgumentParser().add_subparsers()); "
        "print(any(m in sys.modules for m in ('numpy', 'pyarrow', 'rich', 'hdc_toolkit.demo.generate')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
