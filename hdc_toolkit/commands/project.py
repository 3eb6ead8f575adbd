"""``hdc project provision|verify|close|delete``: a project's release and the end of its life."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "project", help="provision a project from its permit, verify, close or delete it"
    )
    sub = parser.add_subparsers(dest="project_command", metavar="ACTION", required=True)

    prov = sub.add_parser("provision", help="write the project's release (data/) from its current permit")
    prov.add_argument("project", metavar="ID", help="the project id, e.g. p2026-001-diabetes")
    prov.add_argument(
        "--source", required=True, metavar="DIR", help="the source extract (one directory per table)"
    )
    prov.add_argument("--contracts-dir", metavar="DIR", help="source data contracts (default: the repo's)")
    _by_and_today(prov, today_help="the date the project period is judged on (default: today)")
    prov.add_argument("--threads", type=int, metavar="N", help="worker threads (default: one per CPU)")
    prov.add_argument(
        "--json", action="store_true", help="print the release record and manifest summary as JSON"
    )
    prov.add_argument(
        "--synthetic-twin",
        action="store_true",
        help="also make the release's synthetic twin into synthetic/ with its gate and report "
        "(published only when the release gate passes)",
    )
    prov.set_defaults(handler=_provision)

    twin = sub.add_parser(
        "twin", help="make the release's synthetic twin into synthetic/ (exit 1 when its release gate refuses it)"
    )
    twin.add_argument("project", metavar="ID")
    twin.set_defaults(handler=_twin_command)

    verify = sub.add_parser(
        "verify", help="check the release files against their manifest (exit 1 if changed)"
    )
    verify.add_argument("project", metavar="ID")
    verify.set_defaults(handler=_verify)

    close = sub.add_parser("close", help="revoke the members' access and archive the project")
    close.add_argument("project", metavar="ID")
    _by_and_today(close, today=False)
    close.set_defaults(handler=_close)

    delete = sub.add_parser(
        "delete", help="delete a closed project's data on or after its deletion date, with attestation"
    )
    delete.add_argument("project", metavar="ID")
    _by_and_today(delete, today_help="the date the deletion date is judged on (default: today)")
    delete.set_defaults(handler=_delete)


def _by_and_today(parser: argparse.ArgumentParser, *, today: bool = True, today_help: str = "") -> None:
    parser.add_argument("--by", metavar="NAME", help="the data steward's username (default: your login name)")
    if today:
        parser.add_argument("--today", type=dt.date.fromisoformat, metavar="YYYY-MM-DD", help=today_help)


def _settings(args: argparse.Namespace) -> Any:
    from hdc_toolkit.config import Settings

    return Settings.from_env(args.environ)


def _actor(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    for name in ("HDC_USER", "LOGNAME", "USER"):
        if args.environ.get(name):
            return str(args.environ[name])
    return getpass.getuser()


def _provision(args: argparse.Namespace) -> int:
    from hdc_toolkit.projects.provision import provision, read_manifest
    from hdc_toolkit.projects.registry import open_registry
    from hdc_toolkit.projects.workspace import Workspace

    settings = _settings(args)
    ws = Workspace(settings, args.project)
    before = open_registry(settings).get_project(args.project).state
    release = provision(
        settings,
        args.project,
        args.source,
        by=_actor(args),
        contracts_dir=args.contracts_dir,
        today=args.today,
        threads=args.threads,
    )
    manifest = read_manifest(ws.data) or {}
    if args.json:
        print(
            json.dumps(
                {
                    "release": {
                        "id": release.id,
                        "project": release.project_id,
                        "path": release.path,
                        "permit_sha256": release.permit_sha256,
                        "manifest_sha256": release.manifest_sha256,
                        "created_at": release.created_at.isoformat(),
                    },
                    "rows": {t: v["rows"] for t, v in manifest.get("tables", {}).items()},
                    "validation": manifest.get("validation", {}).get("verdict"),
                    "disclosure": manifest.get("disclosure"),
                },
                indent=2,
                default=str,
            )
        )
        return 0
    if before != "approved":
        print(f"unchanged: {args.project} is already provisioned (release {release.id}, {ws.data})")
        return 0
    permit = manifest.get("permit", {})
    print(
        f"provisioned: {args.project} release {release.id} from permit v{permit.get('version')} "
        f"(sha256 {release.permit_sha256[:16]}…)"
    )
    print(f"  data        {ws.data} (read-only)")
    print("  rows        " + ", ".join(f"{t} {v['rows']}" for t, v in manifest.get("tables", {}).items()))
    validation = manifest.get("validation", {})
    print(
        f"  gate        {validation.get('verdict')} ({validation.get('counts', {}).get('passed')} checks passed)"
    )
    disclosure = manifest.get("disclosure", {})
    print(f"  disclosure  {disclosure.get('verdict')}: {disclosure.get('message')}")
    print(f"  manifest    {ws.manifest} (sha256 {release.manifest_sha256[:16]}…)")
    if args.synthetic_twin:
        return _twin(settings, args.project, ws)
    return 0


def _twin_command(args: argparse.Namespace) -> int:
    from hdc_toolkit.projects.workspace import Workspace

    settings = _settings(args)
    return _twin(settings, args.project, Workspace(settings, args.project))


def _twin(settings: object, project: str, ws: object) -> int:
    """Make the synthetic twin of the release just written (the data centre holds the model)."""
    from hdc_toolkit.projects.registry import open_registry
    from hdc_toolkit.synth.twin import make_twin

    profile = open_registry(settings).get_project(project).risk_profile  # type: ignore[arg-type]
    result = make_twin(
        ws.data,  # type: ignore[attr-defined]
        ws.synthetic,  # type: ignore[attr-defined]
        risk_profile=profile,
        refused_dir=ws.reports,  # type: ignore[attr-defined]
        seed=0,
        replace=True,
    )
    where = result.out_dir if result.published else result.refused_dir
    print(f"  twin        {'published' if result.published else 'REFUSED by the release gate'}: {where}")
    return 0 if result.published else 1


def _verify(args: argparse.Namespace) -> int:
    from hdc_toolkit.projects.provision import verify_release
    from hdc_toolkit.projects.registry import open_registry
    from hdc_toolkit.projects.workspace import Workspace

    settings = _settings(args)
    ws = Workspace(settings, args.project)
    open_registry(settings).get_project(args.project)
    run = verify_release(ws.data)
    for check in run.checks:
        print(f"{check.verdict.value:<8} {check.key}: {check.message}")
        for example in check.examples:
            print(f"           - {example}")
    return 0 if run.passed else 1


def _close(args: argparse.Namespace) -> int:
    from hdc_toolkit.projects.closure import close_project

    project = close_project(_settings(args), args.project, by=_actor(args))
    print(f"closed: {project.id}; members revoked, workspace archived (readable by the data centre only)")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from hdc_toolkit.projects.closure import delete_project

    att = delete_project(_settings(args), args.project, by=_actor(args), today=args.today)
    files = att.content["files"]
    print(
        f"deleted: {args.project}; {len(files)} file(s), {sum(f['bytes'] for f in files)} bytes, key destroyed"
    )
    print(f"  attestation {att.path} (sha256 {att.sha256[:16]}…)")
    return 0
