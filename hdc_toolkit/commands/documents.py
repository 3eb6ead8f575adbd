"""``hdc documents``: render an application's documents, and check every rule on it at once.

``hdc documents render APPLICATION [--lang nb|en] [--format md|html] --out DIR`` writes the REK-style
application, the data request, and each companion document that exists beside ``project.yaml`` (DPIA,
ROS, benefit plan, AI documentation, patient information) to ``DIR/<document>.<lang>.<format>``.

``hdc documents check APPLICATION`` runs the application rules and the document rules (DPIA triggers,
AI gate, risk acceptance, benefit KPIs, patient information) and lists every unmet rule at once: exit 0
when valid (warnings allowed), 1 when a rule fails, 2 when the files cannot be read.

APPLICATION is a ``project.yaml`` or the directory holding it.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "documents",
        help="render an application's documents (REK, DPIA, ROS, benefit plan, AI, patient information) "
        "and check its rules",
    )
    sub = parser.add_subparsers(dest="documents_command", metavar="ACTION")
    sub.required = True
    add_render_parser(sub)
    add_check_parser(sub)


def add_render_parser(sub: Any) -> argparse.ArgumentParser:
    """``render``: also used to wire ``hdc application render``."""
    render = sub.add_parser("render", help="render the application's documents to Markdown or HTML")
    render.add_argument("application", metavar="APPLICATION", help="project.yaml, or its directory")
    render.add_argument("--lang", choices=("nb", "en"), default="nb", help="label language (default nb)")
    render.add_argument("--format", choices=("md", "html"), default="md", dest="fmt", help="default md")
    render.add_argument("--out", required=True, metavar="DIR", help="directory for the documents")
    render.add_argument(
        "--only", action="append", metavar="NAME", help="render only this document (repeatable)"
    )
    render.set_defaults(handler=_render)
    return render


def add_check_parser(sub: Any) -> argparse.ArgumentParser:
    """``check``: also used to wire ``hdc application check``."""
    check = sub.add_parser("check", help="check the application and its documents; list every unmet rule")
    check.add_argument("application", metavar="APPLICATION", help="project.yaml, or its directory")
    check.add_argument("--for-provisioning", action="store_true", help="drafts and pending approvals fail")
    check.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    check.add_argument(
        "--contracts", metavar="DIR", help="data contracts directory (default: the repository's)"
    )
    check.add_argument("--today", type=_iso_date, metavar="YYYY-MM-DD", help="judge dates as of this day")
    check.set_defaults(handler=_check)
    return check


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _project_file(path: str) -> Path:
    p = Path(path)
    return p / "project.yaml" if p.is_dir() else p


def _render(args: argparse.Namespace) -> int:
    from hdc_toolkit.projects.documents import load_documents
    from hdc_toolkit.projects.render import MISSING_MARK, render_documents

    docs = load_documents(_project_file(args.application))
    written = render_documents(docs, args.out, lang=args.lang, fmt=args.fmt, names=args.only)
    gaps = 0
    for path in written:
        n = path.read_text(encoding="utf-8").count(MISSING_MARK)
        gaps += n
        print(f"wrote {path}" + (f" ({n} field{'s' if n != 1 else ''} not filled in)" if n else ""))
    print(f"{len(written)} documents for {docs.application.id} in {args.out}")
    if gaps:
        print(f"{gaps} fields are not filled in; run: hdc documents check {args.application}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from hdc_toolkit.exceptions import ApplicationError
    from hdc_toolkit.projects.document_rules import check_all
    from hdc_toolkit.projects.documents import load_documents

    try:
        docs = load_documents(_project_file(args.application))
    except ApplicationError as exc:
        if args.json:
            _unreadable_run(exc).write_json(args.json)
        raise
    run = check_all(
        docs, contracts_dir=args.contracts, today=args.today, for_provisioning=args.for_provisioning
    )
    if args.json:
        run.write_json(args.json)
    _print_run(run)
    return 0 if run.passed else 1


def _unreadable_run(exc: Any) -> Any:
    from hdc_toolkit.commands.application import _unreadable_run as unreadable

    return unreadable(exc)


def _print_run(run: Any) -> None:
    from hdc_toolkit.commands.application import _print_run as print_run

    print_run(run, what=" and its documents")
