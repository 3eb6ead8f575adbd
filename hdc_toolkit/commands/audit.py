"""``hdc audit verify`` and ``hdc audit show``: check and read the hash-chained audit log."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="verify or show the audit log")
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = sub.add_parser("verify", help="check the hash chain and the registry head (exit 1 if tampered)")
    verify.add_argument("--json", action="store_true", help="print the verification run as JSON")
    verify.set_defaults(handler=_verify)

    show = sub.add_parser("show", help="print audit entries, oldest first")
    show.add_argument("--project", metavar="P", help="only entries about project P")
    show.add_argument("--tail", metavar="N", type=_positive, help="only the last N entries")
    show.add_argument("--json", action="store_true", help="print entries as JSON lines")
    show.set_defaults(handler=_show)


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def _log(args: argparse.Namespace) -> Any:
    from hdc_toolkit.audit import AuditLog
    from hdc_toolkit.config import Settings

    return AuditLog(Settings.from_env(args.environ))


def _verify(args: argparse.Namespace) -> int:
    run = _log(args).verify()
    if args.json:
        print(json.dumps(run.to_dict(), indent=2, default=str))
        return 0 if run.passed else 1
    entries, head = run.metadata["entries"], run.metadata["registry_head"]
    if run.passed:
        print(f"audit log intact: {entries} entries, head {head['hash'][:16]}… ({run.metadata['path']})")
        return 0
    first = run.metadata["first_problem"]
    print(f"audit log TAMPERED: first break at {first['where']}: {first['what']}")
    for check in run.checks:
        if not check.verdict.value == "passed":
            print(f"  {check.key}: {check.failing_count} problem(s)")
            for example in check.examples:
                print(f"    - {example}")
    return 1


def _show(args: argparse.Namespace) -> int:
    for entry in _log(args).entries(project=args.project, tail=args.tail):
        if args.json:
            print(json.dumps(entry, ensure_ascii=False))
            continue
        details = json.dumps(entry["details"], ensure_ascii=False, sort_keys=True)
        print(
            f"{entry['seq']:>6}  {entry['ts']}  {entry['actor']:<12} {entry['action']:<20} "
            f"{entry['project'] or '-':<20} {details}"
        )
    return 0
