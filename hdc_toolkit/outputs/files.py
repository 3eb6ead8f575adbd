"""File-level output rules: allowed types, size, no row-level data, no pseudonyms.

Modelled on OpenSAFELY's level-4 file check (``agent/executors/local.py::check_l4_file``) and ACRO's
blocked extensions:

* the type must be one a checker can read: known table, text and image types pass; data, archive,
  notebook and vector-graphics types fail (they carry row-level data or hide it); anything else is
  *reviewed*;
* files over :data:`MAX_FILE_BYTES` are reviewed (their content checks still run, streamed);
* a CSV/TSV with more than :data:`MAX_CSV_ROWS` rows looks like row-level data and fails;
* no file may name a pseudonym column in a table header, or contain any value of the project's
  pseudonym columns (``pid`` in releases), anywhere in its bytes.

Failures here are *blocking*: two reviewers cannot approve them away (``details["blocking"]``).
Results never contain a pseudonym: only line numbers and counts.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hdc_toolkit.results import Check, Verdict

__all__ = [
    "ALLOWED_EXTENSIONS",
    "BLOCKED_EXTENSIONS",
    "MAX_CSV_ROWS",
    "MAX_FILE_BYTES",
    "PSEUDONYM_COLUMNS",
    "FileFacts",
    "PseudonymIndex",
    "check_file",
    "file_sha256",
    "load_pseudonyms",
    "pseudonym_columns",
]

MAX_FILE_BYTES = 16 * 1024 * 1024  # OpenSAFELY controller/config.py LEVEL4_MAX_FILESIZE
MAX_CSV_ROWS = 5000  # OpenSAFELY: a CSV with more rows is treated as row-level data
PSEUDONYM_COLUMNS: tuple[str, ...] = ("pid",)
# Column roles in a release manifest whose values identify someone inside the project.
PSEUDONYM_ROLES: frozenset[str] = frozenset({"pseudonym", "surrogate"})
MIN_PSEUDONYM_LENGTH = 6  # shorter values would match ordinary numbers and words
CHUNK_BYTES = 1 << 20
TABLE_EXTENSIONS: frozenset[str] = frozenset({".csv", ".tsv"})
ALLOWED_EXTENSIONS: frozenset[str] = TABLE_EXTENSIONS | frozenset(
    {".txt", ".md", ".json", ".html", ".htm", ".log", ".png", ".jpg", ".jpeg", ".pdf"}
)
BLOCKED_EXTENSIONS: dict[str, str] = {
    **dict.fromkeys(
        (".parquet", ".feather", ".arrow", ".orc", ".avro", ".pkl", ".pickle", ".joblib", ".npy", ".npz"),
        "a data file format (row-level data); release aggregated tables as CSV",
    ),
    **dict.fromkeys(
        (".h5", ".hdf5", ".sqlite", ".db", ".duckdb", ".dta", ".sav", ".sas7bdat", ".rds", ".rdata"),
        "a database or statistics-package data file (row-level data); release aggregated tables as CSV",
    ),
    **dict.fromkeys(
        (".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar"),
        "an archive, whose contents cannot be checked; request the files themselves",
    ),
    ".ipynb": "a notebook, whose outputs can hold row-level data; export the results as tables or HTML",
    ".svg": "vector graphics carry the exact coordinates of every point (ACRO blocks it); use PNG",
    ".gph": "a Stata graph carries its data (ACRO blocks it); use PNG",
}
CHECK_TYPE = "file-type"
CHECK_SIZE = "file-size"
CHECK_ROWS = "row-level"
CHECK_PSEUDONYM_COLUMN = "pseudonym-column"
CHECK_PSEUDONYM_VALUES = "pseudonym-values"


@dataclass(frozen=True)
class FileFacts:
    """What the checks learnt about one file (sha256 and size of exactly the bytes checked)."""

    name: str
    sha256: str
    size: int
    extension: str
    rows: int | None


class PseudonymIndex:
    """The project's pseudonym values, searched as whole tokens of a file's text.

    A token is a maximal run of letters, digits, ``_`` and ``-`` plus any other character that
    occurs in a pseudonym, so a value is found inside CSV, JSON, HTML or free text.
    """

    def __init__(self, values: Iterable[str], columns: tuple[str, ...] = PSEUDONYM_COLUMNS) -> None:
        cleaned = {v for v in (str(x).strip() for x in values) if v}
        self.values = frozenset(v for v in cleaned if len(v) >= MIN_PSEUDONYM_LENGTH)
        self.columns = columns
        self.short = len(cleaned) - len(self.values)
        extra = sorted({ch for v in self.values for ch in v if not (ch.isalnum() or ch in "_-")})
        self.pattern = re.compile(r"[A-Za-z0-9_\-" + "".join(re.escape(c) for c in extra) + r"]+")

    def __len__(self) -> int:
        return len(self.values)

    def matches(self, text: str) -> int:
        """How many tokens of ``text`` are pseudonyms."""
        return sum(1 for tok in self.pattern.findall(text) if tok in self.values)


def pseudonym_columns(data_dir: str | Path) -> tuple[str, ...]:
    """``pid`` plus every column the release manifest marks as a pseudonym or re-keyed surrogate key."""
    names = list(PSEUDONYM_COLUMNS)
    manifest = Path(data_dir) / "manifest.json"
    try:
        tables = json.loads(manifest.read_text(encoding="utf-8")).get("tables") or {}
    except (OSError, ValueError):
        tables = {}
    for table in tables.values():
        for column, spec in ((table or {}).get("columns") or {}).items():
            if isinstance(spec, dict) and spec.get("role") in PSEUDONYM_ROLES and column not in names:
                names.append(column)
    return tuple(names)


def load_pseudonyms(data_dir: str | Path, columns: tuple[str, ...] | None = None) -> PseudonymIndex | None:
    """The values of the pseudonym columns in every Parquet file under a project's ``data/``.

    ``columns`` defaults to :func:`pseudonym_columns`. None when there is no released data to compare
    with (the check is then reviewed, not passed).
    """
    import pyarrow.parquet as pq

    root = Path(data_dir)
    columns = columns or pseudonym_columns(root)
    files = sorted(root.rglob("*.parquet")) if root.is_dir() else []
    values: set[str] = set()
    found = False
    for path in files:
        names = set(pq.ParquetFile(path).schema_arrow.names)
        for column in (c for c in columns if c in names):
            found = True
            column_values = pq.read_table(path, columns=[column]).column(column).to_pylist()
            values.update(str(v) for v in column_values if v is not None)
    return PseudonymIndex(values, columns) if found else None


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check(name: str, kind: str, verdict: Verdict, message: str, **details: object) -> Check:
    blocking = verdict in (Verdict.FAILED, Verdict.ERROR)
    return Check(
        key=f"{name}.{kind}",
        kind=kind,
        verdict=verdict,
        table=name,
        message=message,
        details={"blocking": blocking, **details},
    )


def _type_check(name: str, ext: str) -> Check:
    if ext in BLOCKED_EXTENSIONS:
        return _check(name, CHECK_TYPE, Verdict.FAILED, f"{ext} is {BLOCKED_EXTENSIONS[ext]}", extension=ext)
    if ext in ALLOWED_EXTENSIONS:
        return _check(name, CHECK_TYPE, Verdict.PASSED, f"{ext} is an allowed type", extension=ext)
    return _check(
        name,
        CHECK_TYPE,
        Verdict.WARNING,
        f"unknown file type {ext or '(no extension)'!r}: the checks cannot read it; review by hand",
        extension=ext,
    )


def _size_check(name: str, size: int) -> Check:
    if size > MAX_FILE_BYTES:
        message = (
            f"{size / 2**20:.1f} MiB is over the {MAX_FILE_BYTES // 2**20} MiB limit: too large to review "
            "comfortably and the table checks were skipped; review (split it, or aggregate further)"
        )
        return _check(name, CHECK_SIZE, Verdict.WARNING, message, size=size, limit=MAX_FILE_BYTES)
    return _check(name, CHECK_SIZE, Verdict.PASSED, f"{size} bytes", size=size, limit=MAX_FILE_BYTES)


def _chunks(path: Path) -> Iterator[tuple[int, str]]:
    """(line number of the chunk's start, text) in whole tokens: a chunk never splits a line."""
    line = 1
    carry = b""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_BYTES), b""):
            data = carry + block
            cut = data.rfind(b"\n")
            if cut < 0 and len(data) < 16 * CHUNK_BYTES:  # keep a long line together, within reason
                carry = data
                continue
            head, carry = (data[: cut + 1], data[cut + 1 :]) if cut >= 0 else (data, b"")
            yield line, head.decode("latin-1")
            line += head.count(b"\n")
    if carry:
        yield line, carry.decode("latin-1")


def _pseudonym_scan(path: Path, index: PseudonymIndex) -> tuple[int, list[int]]:
    hits, lines = 0, list[int]()
    for start, text in _chunks(path):
        for offset, raw_line in enumerate(text.splitlines()):
            found = index.matches(raw_line)
            if found:
                hits += found
                if len(lines) < 10:
                    lines.append(start + offset)
    return hits, lines


def _header(path: Path, ext: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        first = fh.readline()
    reader = csv.reader(io.StringIO(first), delimiter="\t" if ext == ".tsv" else ",")
    return [h.strip().lower() for h in next(reader, [])]


def _count_rows(path: Path) -> int:
    rows = 0
    last = b"\n"
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_BYTES), b""):
            rows += block.count(b"\n")
            last = block[-1:]
    rows += 0 if last == b"\n" else 1
    return max(rows - 1, 0)  # minus the header


def check_file(
    path: str | Path, pseudonyms: PseudonymIndex | None, *, name: str | None = None
) -> tuple[FileFacts, list[Check]]:
    """Run the file rules on ``path``; ``name`` is how the file is called in results (its file name)."""
    path = Path(path)
    name = name or path.name
    ext = path.suffix.lower()
    size = path.stat().st_size
    checks = [_type_check(name, ext), _size_check(name, size)]
    rows = None
    if ext in TABLE_EXTENSIONS:
        rows = _count_rows(path)
        too_many = rows > MAX_CSV_ROWS
        checks.append(
            _check(
                name,
                CHECK_ROWS,
                Verdict.FAILED if too_many else Verdict.PASSED,
                f"{rows} rows" + (f" > {MAX_CSV_ROWS}: looks like row-level data" if too_many else ""),
                rows=rows,
                limit=MAX_CSV_ROWS,
            )
        )
        columns = pseudonyms.columns if pseudonyms else PSEUDONYM_COLUMNS
        named = sorted(set(_header(path, ext)) & {c.lower() for c in columns})
        checks.append(
            _check(
                name,
                CHECK_PSEUDONYM_COLUMN,
                Verdict.FAILED if named else Verdict.PASSED,
                f"the header names the pseudonym column(s) {named}" if named else "no pseudonym column",
                columns=named,
            )
        )
    checks.append(_pseudonym_check(name, path, pseudonyms))
    return FileFacts(name, file_sha256(path), size, ext, rows), checks


def _pseudonym_check(name: str, path: Path, pseudonyms: PseudonymIndex | None) -> Check:
    if pseudonyms is None:
        return _check(
            name,
            CHECK_PSEUDONYM_VALUES,
            Verdict.WARNING,
            "the project has no released data to compare with, so pseudonym values were not searched; review",
        )
    hits, lines = _pseudonym_scan(path, pseudonyms)
    if hits:
        return _check(
            name,
            CHECK_PSEUDONYM_VALUES,
            Verdict.FAILED,
            f"{hits} pseudonym value(s) found (lines {', '.join(map(str, lines))}): pseudonyms never leave",
            hits=hits,
            lines=lines,
        )
    if pseudonyms.short:
        return _check(
            name,
            CHECK_PSEUDONYM_VALUES,
            Verdict.WARNING,
            f"no pseudonym found, but {pseudonyms.short} pseudonym(s) are shorter than "
            f"{MIN_PSEUDONYM_LENGTH} characters and could not be searched reliably; review",
            searched=len(pseudonyms),
            short=pseudonyms.short,
        )
    return _check(
        name,
        CHECK_PSEUDONYM_VALUES,
        Verdict.PASSED,
        f"none of the project's {len(pseudonyms)} pseudonyms occurs",
        searched=len(pseudonyms),
    )
