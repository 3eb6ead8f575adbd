"""Generate a whole demo source extract: chunks of patients, five tables, partitioned Parquet.

The patients are generated in chunks (``chunk_size`` patients each); every chunk yields one Parquet
file per table (``<table>/part-00000.parquet``, ``part-00001.parquet``, ...), so memory stays bounded
whatever the size. Ids (episode, diagnosis, prescription, lab result) and national ids are unique
across chunks. While one chunk is written (pyarrow releases the GIL), the next one is generated.

Each chunk draws from its own random streams, derived from ``(seed, chunk index)``: the same seed,
number of patients, chunk size and defect rate give byte-identical files, and defects are drawn from a
separate stream, so an extract with defects equals the clean one apart from the defective rows.

The extract is written to a temporary directory beside ``out_dir`` and renamed into place at the
end: nothing half-written is ever visible under ``out_dir``.
"""

from __future__ import annotations

import math
import numbers
import os
import secrets
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from hdc_toolkit._io import atomic_write_json
from hdc_toolkit.demo.defects import MAX_DEFECT_RATE, inject_defects
from hdc_toolkit.demo.diagnoses import generate_diagnoses
from hdc_toolkit.demo.episodes import generate_episodes
from hdc_toolkit.demo.frame import Frame
from hdc_toolkit.demo.lab_results import generate_lab_results
from hdc_toolkit.demo.national_id import IndividualNumberAllocator
from hdc_toolkit.demo.population import generate_population
from hdc_toolkit.demo.prescriptions import generate_prescriptions
from hdc_toolkit.exceptions import DataError, HdcUserError

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFECTS_FILE",
    "MAX_PATIENTS",
    "ROW_GROUP_SIZE",
    "TABLES",
    "ExtractSummary",
    "Progress",
    "generate_extract",
]

TABLES: tuple[str, ...] = ("patients", "episodes", "diagnoses", "prescriptions", "lab_results")
#: Patients per chunk: about 1.2M rows in the largest tables' files.
DEFAULT_CHUNK_SIZE = 200_000
#: Rows per Parquet row group.
ROW_GROUP_SIZE = 512 * 1024
#: Norway has about 5.6 million people; the fødselsnummer space per birth date is sized for that.
MAX_PATIENTS = 5_000_000
DEFECTS_FILE = "defects.json"

#: ``progress(patients_done, patients_total)``, called after each chunk is written.
Progress = Callable[[int, int], None]

_STREAMS = ("population", "episodes", "diagnoses", "prescriptions", "lab_results", "defects")
#: String columns with few distinct values: dictionary-encoded in Parquet.
_DICTIONARY_COLUMNS = {
    "patients": ["sex", "municipality"],
    "episodes": ["department", "care_type", "urgency"],
    "diagnoses": ["icd10_code", "diagnosis_type"],
    "prescriptions": ["atc_code"],
    "lab_results": ["analysis_code", "unit"],
}


@dataclass(frozen=True)
class ExtractSummary:
    """What :func:`generate_extract` wrote."""

    out_dir: Path
    patients: int
    seed: int
    defect_rate: float
    #: rows per table (including injected duplicate rows)
    rows: Mapping[str, int]
    #: Parquet files per table, in order
    files: Mapping[str, tuple[Path, ...]]
    #: failing count per check key that the quality gate must report; checks not listed have none
    expected_defects: Mapping[str, int]
    seconds: float = 0.0
    chunks: int = field(default=0)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class _State:
    """What carries over from chunk to chunk: the national id allocator and the next ids."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.allocator = IndividualNumberAllocator(seed)
        self.next_id = {"episodes": 1, "diagnoses": 1, "prescriptions": 1, "lab_results": 1}

    def rngs(self, chunk: int) -> dict[str, np.random.Generator]:
        children = np.random.SeedSequence(self.seed, spawn_key=(1, chunk)).spawn(len(_STREAMS))
        return {name: np.random.default_rng(ss) for name, ss in zip(_STREAMS, children, strict=True)}


def generate_chunk(
    state: _State, chunk: int, n: int, defect_rate: float = 0.0
) -> tuple[dict[str, Frame], Counter[str]]:
    """Generate the five tables for ``n`` patients; returns the frames and the injected defect counts."""
    rng = state.rngs(chunk)
    pop = generate_population(rng["population"], n, state.allocator)
    eps = generate_episodes(rng["episodes"], pop, state.next_id["episodes"])
    frames = {
        "patients": pop.to_frame(),
        "episodes": eps.to_frame(pop),
        "diagnoses": generate_diagnoses(rng["diagnoses"], pop, eps, state.next_id["diagnoses"]),
        "prescriptions": generate_prescriptions(rng["prescriptions"], pop, state.next_id["prescriptions"]),
        "lab_results": generate_lab_results(rng["lab_results"], pop, eps, state.next_id["lab_results"]),
    }
    for table in state.next_id:
        state.next_id[table] += len(frames[table])
    expected = inject_defects(frames, defect_rate, rng["defects"])
    return frames, expected


def _write_chunk(frames: dict[str, Frame], root: Path, chunk: int) -> dict[str, tuple[Path, int]]:
    written = {}
    for table in TABLES:
        arrow = frames[table].to_arrow()
        path = root / table / f"part-{chunk:05d}.parquet"
        pq.write_table(
            arrow,
            path,
            row_group_size=ROW_GROUP_SIZE,
            compression="snappy",
            use_dictionary=_DICTIONARY_COLUMNS[table],
        )
        written[table] = (path, arrow.num_rows)
    return written


def _is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _check_arguments(patients: object, seed: object, defect_rate: object, chunk_size: object) -> None:
    if not _is_whole(patients) or patients <= 0:  # type: ignore[operator]
        raise HdcUserError(f"the number of patients must be a positive whole number, got {patients!r}")
    if patients > MAX_PATIENTS:  # type: ignore[operator]
        raise HdcUserError(
            f"at most {MAX_PATIENTS:,} patients fit the fødselsnummer space of the demo, got {patients:,}"
        )
    if not _is_whole(seed) or seed < 0:  # type: ignore[operator]
        raise HdcUserError(f"the seed must be a whole number of 0 or more, got {seed!r}")
    if (
        not isinstance(defect_rate, numbers.Real)
        or isinstance(defect_rate, bool | np.bool_)
        or not math.isfinite(float(defect_rate))
        or not 0 <= float(defect_rate) < MAX_DEFECT_RATE
    ):
        raise HdcUserError(
            f"the defect rate must be at least 0 and below {MAX_DEFECT_RATE}, got {defect_rate!r}"
        )
    if not _is_whole(chunk_size) or chunk_size <= 0:  # type: ignore[operator]
        raise HdcUserError(f"the chunk size must be a positive whole number, got {chunk_size!r}")


def _extract_entries() -> set[str]:
    return {*TABLES, DEFECTS_FILE}


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise DataError(f"{out_dir} exists and is not a directory")
    entries = sorted(p.name for p in out_dir.iterdir())
    if not entries:
        return
    if not force:
        raise DataError(
            f"{out_dir} is not empty; choose another output directory or pass --force to replace it"
        )
    foreign = [e for e in entries if e not in _extract_entries()]
    if foreign:
        raise DataError(
            f"refusing to replace {out_dir}: it holds files that are not part of a demo extract "
            f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''})"
        )


def _make_temporary_dir(out_dir: Path) -> Path:
    """A new hidden directory beside ``out_dir`` (``os.mkdir``, so the umask applies, unlike mkdtemp)."""
    for _ in range(100):
        tmp = out_dir.parent / f".{out_dir.name}.{os.getpid()}.{secrets.token_hex(4)}.partial"
        try:
            tmp.mkdir()
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"cannot create a temporary directory beside {out_dir}")


def _move_into_place(tmp: Path, out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
        os.replace(out_dir, old)
        try:
            os.replace(tmp, out_dir)
        except BaseException:
            os.replace(old, out_dir)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)  # replaces an empty directory too


def generate_extract(
    out_dir: str | os.PathLike[str],
    *,
    patients: int,
    seed: int,
    defect_rate: float = 0.0,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    force: bool = False,
) -> ExtractSummary:
    """Write a demo source extract of ``patients`` patients to ``out_dir``.

    Writes ``out_dir/<table>/part-NNNNN.parquet`` for the five tables of the data contracts and
    ``out_dir/defects.json`` (``{"rate", "seed", "expected": {check key: failing count}}``; empty
    ``expected`` for a clean extract). ``defect_rate`` (0 ≤ rate < 0.5) is the share of each table's
    rows that get a known defect (see :mod:`hdc_toolkit.demo.defects`).

    ``out_dir`` must not exist or be empty; with ``force`` an earlier demo extract there is replaced.
    Raises :class:`~hdc_toolkit.exceptions.HdcUserError` for bad arguments and
    :class:`~hdc_toolkit.exceptions.DataError` for an unusable output directory.
    """
    started = time.perf_counter()
    _check_arguments(patients, seed, defect_rate, chunk_size)
    patients, seed, chunk_size, defect_rate = int(patients), int(seed), int(chunk_size), float(defect_rate)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, force)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _make_temporary_dir(out_dir)
    try:
        for table in TABLES:
            (tmp / table).mkdir()
        rows, names, expected, n_chunks = _generate_into(
            tmp, patients, seed, defect_rate, chunk_size, progress
        )
        expected_sorted = dict(sorted(expected.items()))
        atomic_write_json(
            tmp / DEFECTS_FILE, {"rate": defect_rate, "seed": seed, "expected": expected_sorted}
        )
        _check_out_dir(out_dir, force)  # still as it was?
        _move_into_place(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ExtractSummary(
        out_dir=out_dir,
        patients=patients,
        seed=seed,
        defect_rate=defect_rate,
        rows=rows,
        files={t: tuple(out_dir / t / name for name in names[t]) for t in TABLES},
        expected_defects=expected_sorted,
        seconds=time.perf_counter() - started,
        chunks=n_chunks,
    )


def _generate_into(
    root: Path, patients: int, seed: int, defect_rate: float, chunk_size: int, progress: Progress | None
) -> tuple[dict[str, int], dict[str, list[str]], Counter[str], int]:
    state = _State(seed)
    rows = dict.fromkeys(TABLES, 0)
    names: dict[str, list[str]] = {t: [] for t in TABLES}
    expected: Counter[str] = Counter()
    n_chunks = math.ceil(patients / chunk_size)
    done = 0

    def collect(future: Future[dict[str, tuple[Path, int]]], n: int) -> None:
        nonlocal done
        for table, (path, count) in future.result().items():
            rows[table] += count
            names[table].append(path.name)
        done += n
        if progress is not None:
            progress(done, patients)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hdc-demo-writer") as writer:
        pending: tuple[Future[dict[str, tuple[Path, int]]], int] | None = None
        for chunk in range(n_chunks):
            n = min(chunk_size, patients - chunk * chunk_size)
            try:
                frames, found = generate_chunk(state, chunk, n, defect_rate)
            except OverflowError as exc:
                raise HdcUserError(f"too many patients for the fødselsnummer space: {exc}") from exc
            expected.update(found)
            if pending is not None:
                collect(*pending)
            pending = (writer.submit(_write_chunk, frames, root, chunk), n)
            del frames
        if pending is not None:
            collect(*pending)
    return rows, names, expected, n_chunks
