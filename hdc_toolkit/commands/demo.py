"""``hdc demo-data``: write a synthetic demo source extract (five tables, partitioned Parquet)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "demo-data",
        help="write a realistic synthetic source extract (patients, episodes, diagnoses, ...)",
        description=(
            "Write DIR/<table>/part-NNNNN.parquet for the five tables of the data contracts, and "
            "DIR/defects.json with the exact failing count per check of any injected defects. The same "
            "seed gives the same files."
        ),
    )
    parser.add_argument(
        "--patients", type=int, default=10_000, metavar="N", help="number of patients (default 10000)"
    )
    parser.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="output directory (new or empty)"
    )
    parser.add_argument(
        "--defects",
        type=float,
        default=0.0,
        metavar="RATE",
        help="share of each table's rows given a known defect, 0 <= RATE < 0.5 (default 0: clean extract)",
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        metavar="N",
        help="patients per chunk: one Parquet file per table per chunk (default 200000)",
    )
    parser.add_argument("--force", action="store_true", help="replace an earlier demo extract in DIR")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary table")
    parser.set_defaults(handler=_demo_data)


def _demo_data(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from hdc_toolkit.demo import DEFAULT_CHUNK_SIZE, generate_extract

    chunk_size = DEFAULT_CHUNK_SIZE if args.chunk_size is None else args.chunk_size
    options = dict(
        patients=args.patients,
        seed=args.seed,
        defect_rate=args.defects,
        chunk_size=chunk_size,
        force=args.force,
    )
    if args.quiet:
        generate_extract(args.out, **options)
        return 0

    err = Console(stderr=True)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("patients"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("generating", total=args.patients)
        summary = generate_extract(
            args.out, **options, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )

    out = Console()
    table = Table(title=f"demo extract in {summary.out_dir}", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("files", justify="right")
    for name, rows in summary.rows.items():
        table.add_row(name, f"{rows:,}", str(len(summary.files[name])))
    table.add_row(
        "total", f"{summary.total_rows:,}", str(sum(len(f) for f in summary.files.values())), style="bold"
    )
    out.print(table)
    if summary.expected_defects:
        defects = Table(
            title=f"injected defects (rate {summary.defect_rate:g}), also in defects.json",
            title_justify="left",
        )
        defects.add_column("check")
        defects.add_column("failing rows", justify="right")
        for key, count in summary.expected_defects.items():
            defects.add_row(key, f"{count:,}")
        out.print(defects)
    out.print(f"{summary.patients:,} patients, seed {summary.seed}, {summary.seconds:.1f} s")
    return 0
