"""The CLI imports no heavy package for --help (its speed is measured in benchmarks/cli_startup.py)
and maps user errors to exit codes."""

import subprocess
import sys

from hdc_toolkit.cli import main

HEAVY = ["great_expectations", "sdv", "torch", "opacus", "dask", "pandas", "pyarrow", "sqlalchemy", "jupyterhub"]


def test_help_imports_no_heavy_package():
    code = (
        "import sys, contextlib, io\n"
        "from hdc_toolkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_user_error_is_one_line_without_traceback(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("apiVersion: v3.1.0\nkind: [unclosed\n")
    code = main(["contract", "validate", str(bad), str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert f"{bad}:3" in err and "malformed YAML" in err


def test_missing_data_exit_2(tmp_path, capsys):
    code = main(["contract", "validate", "data_contracts/patients.odcs.yaml", str(tmp_path / "nope")])
    assert code == 2
    assert "no such file or directory" in capsys.readouterr().err


def test_corrupt_parquet_pages_give_a_clear_message(tmp_path, capsys):
    """A file whose footer parses but whose data pages are damaged: exit 2, file named, no traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_dir = tmp_path / "patients"
    table_dir.mkdir()
    path = table_dir / "part-0.parquet"
    n = 5000
    pq.write_table(
        pa.table({"national_id": [f"{i:011d}" for i in range(n)], "birth_date": pa.array([None] * n, pa.date32()),
                  "sex": ["F"] * n, "municipality": ["5001"] * n, "death_date": pa.array([None] * n, pa.date32())}),
        path, compression="snappy",
    )  # fmt: skip
    data = bytearray(path.read_bytes())
    for i in range(200, 4000, 7):  # damage the first column's pages, keep the footer
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    code = main(["contract", "validate", "data_contracts/patients.odcs.yaml", str(table_dir), "--json", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "part-0.parquet" in err
    assert not (tmp_path / "r.json").exists()
