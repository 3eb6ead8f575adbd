"""``hdc output``: request the release of outputs, review them, list them, release them.

::

    hdc output request FILES... --context TEXT [--project P] [--code FILE] [--as USER]
    hdc output review ID --as USER (--approve | --reject | --return) --comment TEXT
    hdc output list [--project P] [--state S] [--json]
    hdc output show ID [--json]
    hdc output release ID [--as USER]
    hdc output withdraw ID [--as USER]
    hdc output resubmit ID FILES... [--context TEXT] [--code FILE] [--as USER]

``--project`` defaults to ``$HDC_PROJECT`` and ``--as`` to ``$JUPYTERHUB_USER`` or ``$USER`` (the
sandbox sets them). Inside a sandbox server (``$JUPYTERHUB_API_TOKEN`` and ``$HDC_OUTPUTS_URL`` set),
``request`` goes through the hub's review service with the server's own hub token, as the hub user
(it cannot write the registry itself; ``--as`` is then refused). ``request`` exits 0 when every check passed, 1 when the request was recorded with
checks to review or failures (it is still submitted: the reviewers decide), 2-4 on user errors.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("output", help="request, review and release outputs (the airlock)")
    sub = parser.add_subparsers(dest="output_command", metavar="ACTION", required=True)

    req = sub.add_parser("request", help="check files and submit them for release")
    req.add_argument("files", nargs="+", metavar="FILE", help="files in the project's outputs/ or work/")
    req.add_argument(
        "--context", required=True, metavar="TEXT", help="what the outputs are and how they were made"
    )
    req.add_argument("--project", metavar="P", help="the project (default: $HDC_PROJECT)")
    req.add_argument("--code", metavar="FILE", help="the code or notebook that produced the outputs")
    req.add_argument(
        "--as", dest="user", metavar="USER", help="the author (default: $JUPYTERHUB_USER or $USER)"
    )
    req.add_argument("--json", action="store_true", help="print the output record as JSON")
    req.set_defaults(handler=_request)

    rev = sub.add_parser("review", help="approve, reject or return a request as an output checker")
    rev.add_argument("id", type=int, metavar="ID")
    rev.add_argument("--as", dest="user", required=True, metavar="USER", help="the reviewing output checker")
    decision = rev.add_mutually_exclusive_group(required=True)
    decision.add_argument("--approve", dest="decision", action="store_const", const="approve")
    decision.add_argument("--reject", dest="decision", action="store_const", const="reject")
    decision.add_argument(
        "--return",
        dest="decision",
        action="store_const",
        const="return",
        help="send it back to the author to change",
    )
    rev.add_argument("--comment", required=True, metavar="TEXT", help="what was checked and why")
    rev.set_defaults(handler=_review)

    lst = sub.add_parser("list", help="list output requests, newest first")
    lst.add_argument("--project", metavar="P")
    lst.add_argument("--state", metavar="S")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=_list)

    show = sub.add_parser("show", help="show a request and its checks")
    show.add_argument("id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true", help="print the output record as JSON")
    show.set_defaults(handler=_show)

    rel = sub.add_parser("release", help="copy an approved request to the project's outbox")
    rel.add_argument("id", type=int, metavar="ID")
    rel.add_argument(
        "--as", dest="user", metavar="USER", help="the releasing output checker (default: $USER)"
    )
    rel.set_defaults(handler=_release)

    wd = sub.add_parser("withdraw", help="take back your own request")
    wd.add_argument("id", type=int, metavar="ID")
    wd.add_argument("--as", dest="user", metavar="USER")
    wd.set_defaults(handler=_withdraw)

    rs = sub.add_parser("resubmit", help="resubmit a returned request with changed files")
    rs.add_argument("id", type=int, metavar="ID")
    rs.add_argument("files", nargs="+", metavar="FILE")
    rs.add_argument("--context", metavar="TEXT")
    rs.add_argument("--code", metavar="FILE")
    rs.add_argument("--as", dest="user", metavar="USER")
    rs.set_defaults(handler=_resubmit)


def _user(args: argparse.Namespace) -> str:
    from hdc_toolkit.exceptions import PermissionDenied

    env: Mapping[str, str] = args.environ
    user = args.user or env.get("JUPYTERHUB_USER") or env.get("USER")
    if not user:
        raise PermissionDenied("who is acting? pass --as USER")
    return str(user)


def _airlock(args: argparse.Namespace) -> Any:
    from hdc_toolkit.config import Settings
    from hdc_toolkit.outputs.airlock import Airlock

    return Airlock(Settings.from_env(args.environ))


def _summary(req: Any) -> str:
    return (
        f"request {req.id}  {req.project_id}  {req.state}  checks: {req.verdict}"
        f"  files: {len(req.files)}  flagged cells: {req.flagged_cells}"
        + (f"  BLOCKED by {req.blocking} file rule(s)" if req.blocking else "")
    )


def _print_checks(record: dict[str, Any]) -> None:
    for name, result in record["results"].items():
        print(f"  {name}: {result['status']}")
        for check in result["checks"]:
            if check["verdict"] != "passed":
                print(f"    {check['verdict']:<8} {check['kind']}: {check['message']}")


def _request(args: argparse.Namespace) -> int:
    from hdc_toolkit.exceptions import NotFoundError

    project = args.project or args.environ.get("HDC_PROJECT")
    if not project:
        raise NotFoundError("which project? pass --project P (or set HDC_PROJECT)")
    from hdc_toolkit.outputs.submission import in_single_user_server

    if in_single_user_server(args.environ):
        return _request_through_service(args, project)
    airlock = _airlock(args)
    req = airlock.request(project, args.files, context=args.context, author=_user(args), code=args.code)
    record = airlock.output_record(req.id)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        print(_summary(req))
        _print_checks(record)
        print(f"record: {req.staging_path}/record.json (sha256 {req.record_sha256[:16]}…)")
        print("two output checkers must now review it (hdc output review)")
    return 0 if req.verdict == "passed" else 1


def _request_through_service(args: argparse.Namespace, project: str) -> int:
    """``hdc output request`` inside a sandbox server: the hub's review service records it."""
    from hdc_toolkit.exceptions import PermissionDenied
    from hdc_toolkit.outputs.submission import submit

    if args.user and args.user != args.environ.get("JUPYTERHUB_USER"):
        raise PermissionDenied("inside the sandbox a request is always made as your hub user: drop --as")
    reply = submit(args.files, context=args.context, project=project, code=args.code, environ=args.environ)
    if args.json:
        print(json.dumps(reply, indent=2))
    else:
        print(
            f"request {reply['id']}  {reply['project']}  {reply['state']}  checks: {reply['verdict']}"
            f"  files: {len(reply['files'])}  flagged cells: {reply['flagged_cells']}"
            + (f"  BLOCKED by {reply['blocking']} file rule(s)" if reply["blocking"] else "")
        )
        for name, status in reply["checks"].items():
            print(f"  {name}: {status}")
        print("two output checkers must now review it (the review page)")
    return 0 if reply["verdict"] == "passed" else 1


def _review(args: argparse.Namespace) -> int:
    req = _airlock(args).review(args.id, reviewer=args.user, decision=args.decision, comment=args.comment)
    print(f"{args.decision}: " + _summary(req))
    return 0


def _list(args: argparse.Namespace) -> int:
    requests = _airlock(args).requests(project=args.project, state=args.state)
    if args.json:
        rows = [
            {
                "id": r.id,
                "project": r.project_id,
                "author": r.author,
                "state": r.state,
                "verdict": r.verdict,
                "round": r.round,
                "files": [f.name for f in r.files],
                "reviewers": r.reviewers,
                "created_at": r.created_at.isoformat(),
            }
            for r in requests
        ]
        print(json.dumps(rows, indent=2))
        return 0
    for r in requests:
        reviewers = ",".join(r.reviewers) or "-"
        print(
            f"{r.id:>5}  {r.project_id:<24} {r.author:<12} {r.state:<19} {r.verdict:<8} reviews: {reviewers}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    airlock = _airlock(args)
    req = airlock.get(args.id)
    record = airlock.output_record(args.id)
    if args.json:
        print(json.dumps({"request": _jsonable(req), "record": record}, indent=2, default=str))
        return 0
    print(_summary(req))
    print(f"author {req.author}, round {req.round}, profile {req.risk_profile}, permit v{req.permit_version}")
    print(f"context: {req.context}")
    _print_checks(record)
    for r in req.history:
        print(f"  review round {r.round}: {r.reviewer} {r.decision}: {r.comment}")
    return 0


def _jsonable(req: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(req)


def _release(args: argparse.Namespace) -> int:
    req = _airlock(args).release(args.id, by=_user(args))
    print(f"released: request {req.id} → {req.outbox_path} (release.json sha256 {req.release_sha256})")
    return 0


def _withdraw(args: argparse.Namespace) -> int:
    req = _airlock(args).withdraw(args.id, by=_user(args))
    print(f"withdrawn: request {req.id}")
    return 0


def _resubmit(args: argparse.Namespace) -> int:
    airlock = _airlock(args)
    req = airlock.resubmit(args.id, args.files, by=_user(args), context=args.context, code=args.code)
    print(_summary(req))
    _print_checks(airlock.output_record(req.id))
    return 0 if req.verdict == "passed" else 1
