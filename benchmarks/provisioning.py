"""Benchmark: a full project release against a plain pyarrow copy of the same columns.

One run generates (or reuses, ``--source``) a demo source extract of about 10M rows (500k patients),
then times, on warm page cache and in the same process:

* **copy**    - the floor: every source file of every table read (the columns provisioning reads)
                and written back as Parquet with the same writer settings and the same thread pool;
* **release** - :func:`hdc_toolkit.projects.provision.write_release`: derive the project contracts,
                find the cohort, select + filter (cohort and window) + coarsen + pseudonymise (HMAC
                per person, hash join per row, surrogate keys re-keyed) + write, then the release
                gate (the foundation validator over every table, k-anonymity) and the manifest
                (sha256 of every file).

The release uses the demo application's data request (its columns and granularities) with a wide
cohort (every ICD-10 chapter and ATC group, window 2000-2026) so the release keeps nearly all rows.
Figures: wall time and process CPU time of each (median of ``--repeat``, copy and release
alternating), rows, and both ratios release / copy (target: wall <= 3). On a shared machine the CPU
ratio is the steadier one; the load average before and after is printed so a busy run shows.
Usage: ``python benchmarks/provisioning.py [--patients 500000] [--source DIR] [--threads N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APPLICATION = ROOT / "templates" / "application" / "examples" / "demo-diabetes" / "project.yaml"


def wide_cohort() -> Any:
    """Everyone with any diagnosis or prescription in 2000-2026."""
    from hdc_toolkit.projects.application import Cohort

    return Cohort.model_validate(
        {
            "description": "benchmark: everyone with any diagnosis or prescription 2000-2026",
            "icd10": [{"code": c, "name": f"chapter {c}"} for c in "ABCDEFGHIJKLMNOPQRSTVWXYZ"],
            "atc": [{"code": c, "name": f"group {c}"} for c in "ABCDGHJLMNPRSV"],
            "window": {"start": "2000-01-01", "end": "2026-12-31"},
        }
    )


def plan() -> tuple[Any, dict[str, Any], Any, Any]:
    """The release plan of the example data request with the wide cohort."""
    from hdc_toolkit.contracts import load_contract_dir
    from hdc_toolkit.projects.application import load_application
    from hdc_toolkit.projects.derive import derive_release

    app = load_application(APPLICATION)
    sources = load_contract_dir(ROOT / "data_contracts")
    permitted = {d: {c: app.granularity(d, c) for c in cols} for d, cols in app.permitted_columns().items()}
    cohort = wide_cohort()
    spec = derive_release(
        sources,
        permitted,
        project_id="bench-provisioning",
        window=(cohort.window.start, cohort.window.end),
        permit_version=1,
        permit_sha256="0" * 64,
    )
    return spec, sources, cohort, app


def plain_copy(spec: Any, source: Path, out: Path, threads: int | None) -> int:
    """Read the same columns of every source file and write them as Parquet: the floor."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hdc_toolkit.contracts.validate import find_table_data

    jobs = []
    for t in spec.tables:
        files = sorted((find_table_data(source, t.name) or source / t.name).glob("*.parquet"))
        (out / t.name).mkdir(parents=True)
        jobs += [
            (f, list(t.source_columns), out / t.name / f"part-{i:05d}.parquet") for i, f in enumerate(files)
        ]

    def copy(job: tuple[Path, list[str], Path]) -> int:
        path, columns, target = job
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow.remove_metadata()
        rows = 0
        with pq.ParquetWriter(target, pa.schema([schema.field(c) for c in columns])) as writer:
            for g in range(pf.num_row_groups):
                tbl = pf.read_row_group(g, columns=columns)
                writer.write_table(tbl)
                rows += tbl.num_rows
        with open(target, "rb+") as fh:
            os.fsync(fh.fileno())
        return rows

    with ThreadPoolExecutor(threads or os.cpu_count() or 2) as pool:
        return sum(pool.map(copy, jobs))


def release(
    spec: Any, sources: dict[str, Any], cohort: Any, app: Any, source: Path, out: Path, threads: int | None
) -> Any:
    from hdc_toolkit.projects.provision import write_release

    out.mkdir(parents=True)
    return write_release(
        spec,
        sources,
        source,
        out,
        key=os.urandom(32),
        cohort=cohort,
        risk_profile=app.risk_profile,
        threads=threads,
    )


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()`` with its wall time and this process's CPU time (all threads)."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def warm(source: Path) -> None:
    for p in source.rglob("*.parquet"):
        with open(p, "rb") as fh:
            while fh.read(1 << 24):
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--patients", type=int, default=500_000, help="patients to generate (~22 rows each)")
    parser.add_argument("--source", type=Path, help="reuse this extract instead of generating one")
    parser.add_argument("--threads", type=int, help="worker threads (default: one per CPU)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each (median)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hdc-bench-provision-"))
    try:
        source = args.source
        if source is None:
            from hdc_toolkit.demo import generate_extract

            t = time.perf_counter()
            summary = generate_extract(work / "extract", patients=args.patients, seed=11)
            source = work / "extract"
            print(
                f"extract: {summary.total_rows:,} rows ({args.patients:,} patients), {time.perf_counter() - t:.1f} s"
            )
        spec, sources, cohort, app = plan()
        warm(source)
        load_before = os.getloadavg()[0]
        copies: list[tuple[float, float]] = []
        releases: list[tuple[float, float]] = []
        result: Any = None
        copied = 0
        for i in range(args.repeat):
            copied, wall, cpu = timed(lambda i=i: plain_copy(spec, source, work / f"copy{i}", args.threads))
            copies.append((wall, cpu))
            result, wall, cpu = timed(
                lambda i=i: release(spec, sources, cohort, app, source, work / f"release{i}", args.threads)
            )
            releases.append((wall, cpu))
            shutil.rmtree(work / f"copy{i}")
            if not args.keep and i + 1 < args.repeat:
                shutil.rmtree(work / f"release{i}")
        copy_wall, copy_cpu = (statistics.median(x) for x in zip(*copies, strict=True))
        rel_wall, rel_cpu = (statistics.median(x) for x in zip(*releases, strict=True))
        print(f"cpus {os.cpu_count()}, threads {args.threads or os.cpu_count()}, python {sys.version.split()[0]}, "
              f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")  # fmt: skip
        print(f"copy     {copy_wall:7.2f} s wall {copy_cpu:7.2f} s cpu  {copied:,} rows read and written")
        print(f"release  {rel_wall:7.2f} s wall {rel_cpu:7.2f} s cpu  {sum(result.rows.values()):,} rows released "
              f"of {sum(result.source_rows.values()):,}; gate {result.gate.verdict.value}; "
              f"cohort {result.cohort_size:,} persons")  # fmt: skip
        print("  stages " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items()))
        print(
            f"ratio    {rel_wall / copy_wall:.2f}x wall, {rel_cpu / copy_cpu:.2f}x cpu (target: wall <= 3.0x)"
        )
        return 0
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
