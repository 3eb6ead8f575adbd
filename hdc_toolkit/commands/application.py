"""``hdc application``: start a research application from the templates, and validate one.

``hdc application new DIR [--id ID]`` copies the blank ``project.yaml`` and ``data_request.yaml`` into
DIR (never overwriting). ``hdc application validate FILE`` checks the schema and every rule and exits
0 when valid (warnings allowed), 1 when a rule fails, 2 when the files cannot be read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path
from typing import Any

from hdc_toolkit.exceptions import ApplicationError, HdcUserError, NotFoundError

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates" / "application"
TEMPLATE_FILES = ("project.yaml", "data_request.yaml")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "application", help="create and validate research applications (the permit)"
    )
    sub = parser.add_subparsers(dest="application_command", metavar="ACTION")
    sub.required = True

    new = sub.add_parser("new", help="copy the blank application templates into DIR")
    new.add_argument("dir", metavar="DIR", help="directory for project.yaml and data_request.yaml")
    new.add_argument("--id", help="the project id (default: the directory's name), e.g. p2026-001-diabetes")
    new.set_defaults(handler=_new)

    val = sub.add_parser("validate", help="check an application's schema and rules")
    val.add_argument("file", metavar="FILE", help="the application's project.yaml")
    val.add_argument("--for-provisioning", action="store_true", help="pending approvals fail (not just warn)")
    val.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    val.add_argument(
        "--contracts", metavar="DIR", help="data contracts directory (default: the repository's)"
    )
    val.add_argument("--today", type=_iso_date, metavar="YYYY-MM-DD", help="judge dates as of this day")
    val.set_defaults(handler=_validate)
    from hdc_toolkit.commands.documents import add_check_parser, add_render_parser

    add_render_parser(sub)
    add_check_parser(sub)


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _new(args: argparse.Namespace) -> int:
    from hdc_toolkit._io import atomic_write_text
    from hdc_toolkit.projects import vocabularies as voc

    target = Path(args.dir)
    pid = args.id or target.resolve().name
    if len(pid) > voc.PROJECT_ID_MAX_LENGTH or not voc.PROJECT_ID_PATTERN.fullmatch(pid):
        raise ApplicationError(
            f"{pid!r} is not a valid project id (lowercase letters, digits and hyphens, at most "
            f"{voc.PROJECT_ID_MAX_LENGTH} characters, e.g. p2026-001-diabetes); pass one with --id"
        )
    for name in TEMPLATE_FILES:
        if not (TEMPLATES_DIR / name).is_file():
            raise NotFoundError(f"the application template {TEMPLATES_DIR / name} is missing")
        if (target / name).exists():
            raise HdcUserError(f"{target / name} already exists; not overwriting it")
    for name in TEMPLATE_FILES:
        text = (TEMPLATES_DIR / name).read_text(encoding="utf-8")
        if name == "project.yaml":
            text = re.sub(r"(?m)^id:.*$", f"id: {pid}", text, count=1)
        atomic_write_text(target / name, text)
    print(f"created {target / 'project.yaml'} and {target / 'data_request.yaml'} for project {pid}")
    print(f"fill them in, then run: hdc application validate {target / 'project.yaml'}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from hdc_toolkit.projects.application import load_application
    from hdc_toolkit.projects.application_rules import check_application

    try:
        app = load_application(args.file)
    except ApplicationError as exc:
        if args.json:
            _unreadable_run(exc).write_json(args.json)
        raise
    run = check_application(
        app, contracts_dir=args.contracts, today=args.today, for_provisioning=args.for_provisioning
    )
    if args.json:
        run.write_json(args.json)
    _print_run(run)
    return 0 if run.passed else 1


def _unreadable_run(exc: ApplicationError) -> Any:
    from hdc_toolkit.results import Check, Run, Verdict

    problems = [{"verdict": "error", "text": p} for p in exc.problems] or [
        {"verdict": "error", "text": str(exc)}
    ]
    check = Check(
        key="application.schema",
        kind="application",
        verdict=Verdict.ERROR,
        message=str(exc),
        details={"problems": problems},
    )
    return Run(name="application", checks=[check], metadata={"location": exc.location}).finish()


def _print_run(run: Any, *, what: str = "") -> None:
    """Print a rule run as a table of problems and a verdict line (shared with ``hdc application check``)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    meta = run.metadata
    head = f"application {meta['project']}{what} (sha256 {meta['application_hash'][:12]})"
    rows = [(p["verdict"], c.key, p["text"]) for c in run.checks for p in c.details.get("problems", [])]
    if rows:
        style = {"warning": "yellow", "failed": "red", "error": "bold red"}
        table = Table(title=head, show_lines=False)
        table.add_column("verdict")
        table.add_column("check")
        table.add_column("problem", overflow="fold")
        for verdict, key, text in rows:
            table.add_row(f"[{style.get(verdict, '')}]{verdict}[/]", key, text)
        console.print(table)
    else:
        console.print(head, highlight=False)
    if meta.get("dpia_triggers"):
        console.print(f"DPIA triggers: {', '.join(meta['dpia_triggers'])}", highlight=False)
    counts = ", ".join(f"{n} {v}" for v, n in run.counts().items() if n)
    outcome = "valid" if run.passed else "NOT valid"
    mode = " for provisioning" if meta.get("for_provisioning") else ""
    console.print(f"{outcome}{mode}: {len(run.checks)} checks ({counts})", highlight=False)
