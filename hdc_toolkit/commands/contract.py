"""``hdc contract lint|validate|export|diff``: the data contract commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser("contract", help="lint, validate, export and diff ODCS data contracts")
    csub = parser.add_subparsers(dest="contract_command", metavar="ACTION")
    csub.required = True

    p = csub.add_parser("lint", help="check contract files for schema and semantic errors")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the lint result as JSON")
    p.set_defaults(handler=_lint)

    p = csub.add_parser(
        "validate",
        help="validate Parquet data against a contract (the quality gate)",
        description="Exit 0 when the gate passes, 1 when a check fails, 2 when the input cannot be used.",
    )
    p.add_argument("contract", type=Path, metavar="CONTRACT", help="a contract file, or a directory of contracts")
    p.add_argument("data", type=Path, metavar="DATA", help="a Parquet file, a table directory or an extract directory")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the machine-readable result here")
    p.add_argument("--html", type=Path, metavar="OUT", help="write the HTML report here")
    p.add_argument("--gx-docs", type=Path, metavar="DIR", help="also write the result as GX Data Docs into DIR")
    p.add_argument("--no-statistics", action="store_true", help="do not use Parquet footer statistics to skip row groups")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    p.set_defaults(handler=_validate)

    p = csub.add_parser("export", help="derive another format from a contract (gx, pyarrow)")
    p.add_argument("contract", type=Path, metavar="CONTRACT")
    p.add_argument("--format", required=True, help="gx (a GX 1.x expectation suite) or pyarrow (a schema)")
    p.add_argument("--out", type=Path, metavar="OUT", help="write here instead of standard output")
    p.set_defaults(handler=_export)

    p = csub.add_parser("diff", help="classify the changes between two versions of a contract")
    p.add_argument("old", type=Path, metavar="OLD")
    p.add_argument("new", type=Path, metavar="NEW")
    p.add_argument("--json", type=Path, metavar="OUT")
    p.set_defaults(handler=_diff)


def _lint(args: argparse.Namespace) -> int:
    from hdc_toolkit.contracts.lint import lint_paths

    run = lint_paths(args.files)
    if args.json:
        run.write_json(args.json)
    _print_problems(run)
    return 0 if run.passed else 1


def _validate(args: argparse.Namespace) -> int:
    from hdc_toolkit.contracts.loader import load_contract, load_contract_dir
    from hdc_toolkit.contracts.validate import find_table_data, validate
    from hdc_toolkit.exceptions import DataError
    from hdc_toolkit.results import Run

    if args.contract.is_dir():
        contracts = load_contract_dir(args.contract)
    else:
        c = load_contract(args.contract)
        contracts = {c.name: c}
    runs = {}
    with _progress(quiet=args.quiet) as progress:
        for name, contract in contracts.items():
            data = find_table_data(args.data, name)
            if data is None and len(contracts) > 1:
                raise DataError(f"no data for table {name!r} (expected {name}/ or {name}.parquet)", location=str(args.data))
            data = data or args.data
            refs = {r.table: p for col in contract.columns for r in col.references if (p := find_table_data(args.data, r.table))}
            task = progress(f"validating {name}")
            runs[name] = validate(contract, data, references=refs or None, use_statistics=not args.no_statistics, progress=task)
    if len(runs) == 1:
        run = next(iter(runs.values()))
    else:
        run = Run(
            name="contract:extract",
            metadata={
                "table": ", ".join(runs),
                "contract_id": ", ".join(f"{r.metadata['contract_id']} {r.metadata['contract_version']}" for r in runs.values()),
                "data": str(args.data),
                "rows": sum(r.metadata["rows"] for r in runs.values()),
                "files": [f"{n}/{f}" for n, r in runs.items() for f in r.metadata["files"]],
                "tables": {n: r.metadata for n, r in runs.items()},
            },
        )
        run.metadata["profile"] = {f"{n}.{col}": v for n, r in runs.items() for col, v in r.metadata.get("profile", {}).items()}
        run.checks = [c for r in runs.values() for c in r.checks]
        run.finish()
    if args.json:
        run.write_json(args.json)
    if args.html:
        from hdc_toolkit.contracts.report_html import write_html_report

        write_html_report(run, args.html, contract=next(iter(contracts.values())) if len(contracts) == 1 else None)
    if args.gx_docs:
        from hdc_toolkit.contracts.gx_results import write_gx_data_docs

        for name, r in runs.items():
            write_gx_data_docs(r, contracts[name], args.gx_docs)
    _print_run(run, quiet=args.quiet)
    return 0 if run.passed else 1


def _export(args: argparse.Namespace) -> int:
    from hdc_toolkit._io import atomic_write_text
    from hdc_toolkit.contracts.exporters import export
    from hdc_toolkit.contracts.loader import load_contract

    text = export(load_contract(args.contract), args.format)
    if args.out:
        atomic_write_text(args.out, text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from hdc_toolkit.contracts.diff import diff_paths

    run = diff_paths(args.old, args.new)
    if args.json:
        run.write_json(args.json)
    _print_problems(run, title="changes")
    return 0 if run.passed else 1


# ---------------------------------------------------------------------------------------------------
# output


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _print_problems(run: Any, title: str = "problems") -> None:
    console = _console()
    shown = [c for c in run.checks if c.verdict.value != "passed"]
    for c in shown:
        colour = {"warning": "yellow", "failed": "red", "error": "red"}.get(c.verdict.value, "green")
        console.print(f"[{colour}]{c.verdict.value:>7}[/] {c.message}", markup=True, soft_wrap=True)
    counts = run.counts()
    console.print(
        f"{'OK' if run.passed else 'FAILED'}: {counts['failed'] + counts['error']} error(s), {counts['warning']} warning(s), "
        f"{len(run.checks)} {title} checked"
    )


def _print_run(run: Any, *, quiet: bool) -> None:
    console = _console()
    if not quiet:
        from rich.table import Table

        table = Table(title=run.name, show_lines=False)
        for col in ("check", "verdict", "failing", "examples"):
            table.add_column(col)
        for c in run.checks:
            if c.verdict.value == "passed":
                continue
            colour = {"warning": "yellow"}.get(c.verdict.value, "red")
            table.add_row(c.key, f"[{colour}]{c.verdict.value}[/]", "" if c.failing_count is None else str(c.failing_count),
                          ", ".join(map(str, c.examples))[:60] or c.message[:60])  # fmt: skip
        if table.row_count:
            console.print(table)
    counts = run.counts()
    verdict = "PASSED" if run.passed else "FAILED"
    console.print(
        f"{verdict}: {counts['passed']} passed, {counts['warning']} warning(s), {counts['failed']} failed, {counts['error']} error(s)"
    )


class _progress:
    """A rich progress display on a terminal; silent otherwise. Calling it returns a callback."""

    def __init__(self, *, quiet: bool) -> None:
        self.enabled = not quiet and sys.stderr.isatty()
        self.bar: Any = None

    def __enter__(self) -> _progress:
        if self.enabled:
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def __call__(self, label: str) -> Any:
        if self.bar is None:
            return None
        task = self.bar.add_task(label, total=None)
        return lambda done, total: self.bar.update(task, completed=done, total=total)
