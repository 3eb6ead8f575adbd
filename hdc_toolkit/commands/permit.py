"""``hdc permit approve`` and ``hdc permit show``: turn an application into a permit and read it back."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("permit", help="approve an application as a permit, or show a permit")
    sub = parser.add_subparsers(dest="permit_command", metavar="ACTION", required=True)

    approve = sub.add_parser("approve", help="approve project.yaml as a data steward (four-eyes)")
    approve.add_argument("file", metavar="FILE", help="the application's project.yaml")
    approve.add_argument("--by", required=True, metavar="NAME", help="the approving data steward's username")
    approve.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the date the rules are judged on (default: today)",
    )
    approve.add_argument(
        "--contracts-dir", metavar="DIR", help="data contracts directory (default: the repo's)"
    )
    approve.set_defaults(handler=_approve)

    show = sub.add_parser("show", help="show a project's current permit")
    show.add_argument("project", metavar="PROJECT")
    show.add_argument("--json", action="store_true", help="print the permit and its columns as JSON")
    show.set_defaults(handler=_show)


def _approve(args: argparse.Namespace) -> int:
    from hdc_toolkit.config import Settings
    from hdc_toolkit.projects.permit import approve_permit

    settings = Settings.from_env(args.environ)
    permit = approve_permit(
        settings, args.file, by=args.by, today=args.today, contracts_dir=args.contracts_dir
    )
    tag = f"{permit.project_id} permit v{permit.version} (sha256 {permit.sha256[:16]}…)"
    if not permit.created:
        print(f"unchanged: {tag} is already approved; nothing to do")
    elif permit.supersedes is None:
        print(f"approved: {tag} by {permit.approved_by}")
    else:
        print(
            f"amended: {tag} supersedes v{permit.supersedes}; the project is back to 'approved' "
            "and must be provisioned again"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    from hdc_toolkit.config import Settings
    from hdc_toolkit.projects.registry import open_registry

    registry = open_registry(Settings.from_env(args.environ))
    project = registry.get_project(args.project)
    permit = registry.current_permit(args.project)
    columns = registry.permitted_columns(args.project)
    members = registry.members(args.project)
    if args.json:
        print(
            json.dumps(
                {
                    "project": {"id": project.id, "title": project.title, "state": project.state},
                    "permit": {
                        "version": permit.version,
                        "sha256": permit.sha256,
                        "approved_by": permit.approved_by,
                        "approved_at": permit.approved_at.isoformat(),
                        "supersedes": permit.supersedes,
                    },
                    "members": [{"username": m.username, "name": m.name, "role": m.role} for m in members],
                    "permitted_columns": columns,
                },
                indent=2,
            )
        )
        return 0
    print(f"project     {project.id}: {project.title}")
    print(f"state       {project.state}")
    print(f"permit      v{permit.version}  sha256 {permit.sha256}")
    print(
        f"approved    {permit.approved_at.isoformat(timespec='seconds')} by {permit.approved_by}"
        + (f" (supersedes v{permit.supersedes})" if permit.supersedes else "")
    )
    print(f"period      {project.start_date} – {project.end_date}, delete by {project.deletion_date}")
    print(f"dp budget   epsilon {project.dp_epsilon}, delta {project.dp_delta}")
    print(f"risk        {project.risk_profile}")
    print("members")
    for m in members:
        print(f"  {m.username:<12} {m.role:<15} {m.name}")
    print("permitted columns")
    for dataset, cols in columns.items():
        print(f"  {dataset}: " + ", ".join(f"{c} ({g})" for c, g in cols.items()))
    return 0
