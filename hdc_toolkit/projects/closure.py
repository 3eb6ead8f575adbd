"""The end of a project: close it (access revoked, data archived) and delete it (with an attestation).

:func:`close_project` (``hdc project close ID``), from ``provisioned`` or ``active``: first every group
and other permission is removed from the workspace (members can no longer read the data, their work
or outputs; the data centre keeps it, archived), then one registry transaction deactivates every
member, moves the project to ``closed`` (through ``active`` when it was never activated) and appends
``project.closed`` to the audit log.

:func:`delete_project` (``hdc project delete ID``), from ``closed`` and only on or after the permit's
deletion date: it lists every file of the workspace with its sha256 (release files are compared with
the manifest), writes that list as an *in progress* attestation, removes the workspace and destroys
the project's pseudonymisation key, then completes the attestation
(``HDC_HOME/attestations/<id>-deletion.json``: what, when, by whom, the permit, the releases) and in one
registry transaction marks the releases deleted, moves the project to ``deleted`` and appends
``project.deleted`` (with the attestation's sha256) to the audit log. A rerun after a crash finishes
the job and keeps the file list of the first attempt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdc_toolkit._io import atomic_write_json
from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import StateError
from hdc_toolkit.projects import lifecycle
from hdc_toolkit.projects.pseudonymise import destroy_key, key_fingerprint, key_path
from hdc_toolkit.projects.registry import ProjectRecord
from hdc_toolkit.projects.workspace import Workspace, make_private, remove_tree

__all__ = ["ATTESTATION_FORMAT", "Attestation", "close_project", "delete_project"]

ATTESTATION_FORMAT = "hdc-deletion-attestation/1"
_CLOSABLE = (lifecycle.PROVISIONED, lifecycle.ACTIVE)


@dataclass(frozen=True)
class Attestation:
    """A completed deletion attestation: its file, its sha256 and its content."""

    path: Path
    sha256: str
    content: dict[str, Any]


def close_project(settings: Settings, project_id: str, *, by: str) -> ProjectRecord:
    """Close a provisioned or active project; see the module docstring."""
    from sqlalchemy import select

    from hdc_toolkit.audit import record
    from hdc_toolkit.projects.registry import Member, get_project_in, open_registry, transition_in

    ws = Workspace(settings, project_id)
    registry = open_registry(settings)
    project = registry.get_project(project_id)
    if project.state not in _CLOSABLE:
        raise StateError(
            f"project {project_id!r} is {project.state!r}: only a provisioned or active project can be closed"
        )
    with ws.lock("close"):
        make_private(ws.root)
        with registry.write() as s:
            row = get_project_in(s, project_id)
            if row.state not in _CLOSABLE:
                raise StateError(f"project {project_id!r} became {row.state!r} meanwhile: not closed")
            revoked = []
            for member in s.scalars(
                select(Member).where(Member.project_id == project_id, Member.active.is_(True))
            ):
                member.active = False
                revoked.append(member.username)
            if row.state == lifecycle.PROVISIONED:
                transition_in(s, project_id, lifecycle.ACTIVE, by=by, details={"reason": "closing"})
            record(
                s,
                "project.closed",
                actor=by,
                project=project_id,
                details={"members_revoked": sorted(revoked), "archived": str(ws.root)},
            )
            transition_in(s, project_id, lifecycle.CLOSED, by=by)
    return registry.get_project(project_id)


def delete_project(
    settings: Settings, project_id: str, *, by: str, today: dt.date | None = None
) -> Attestation:
    """Delete a closed project's workspace and key on or after its deletion date; see the module docstring."""
    from hdc_toolkit.projects.registry import open_registry

    ws = Workspace(settings, project_id)
    registry = open_registry(settings)
    project = registry.get_project(project_id)
    if project.state != lifecycle.CLOSED:
        hint = " (close it first: hdc project close)" if project.state in _CLOSABLE else ""
        raise StateError(
            f"project {project_id!r} is {project.state!r}: only a closed project can be deleted{hint}"
        )
    today = today or dt.date.today()
    if project.deletion_date is None or today < project.deletion_date:
        raise StateError(
            f"project {project_id!r} may be deleted on or after its deletion date {project.deletion_date} "
            f"(today is {today})"
        )
    path = ws.attestations / f"{project_id}-deletion.json"
    with ws.lock("delete"):
        content = _pending(path) or _inventory(ws, registry, project, by, today)
        content["status"] = "in_progress"
        _write(path, content)
        remove_tree(ws.root)
        content["key"]["destroyed"] = (
            destroy_key(settings.keys_dir, project_id) or content["key"]["destroyed"]
        )
        content["workspace_removed"] = not ws.root.exists()
        content["status"] = "completed"
        content["completed_at"] = _now()
        _write(path, content)
        digest = _sha256_file(path)
        _record_deletion(registry, ws, content, digest, by)
    return Attestation(path, digest, content)


def _pending(path: Path) -> dict[str, Any] | None:
    """The file list of an interrupted deletion (so a rerun attests the files that existed)."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) and content.get("status") == "in_progress" else None


def _inventory(
    ws: Workspace, registry: Any, project: ProjectRecord, by: str, today: dt.date
) -> dict[str, Any]:
    from hdc_toolkit.projects.provision import read_manifest

    manifest = read_manifest(ws.data) or {}
    listed = manifest.get("files", {})
    files = []
    if ws.root.exists():
        for p in sorted(p for p in ws.root.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = p.relative_to(ws.root).as_posix()
            in_release = rel.removeprefix("data/") if rel.startswith("data/") else None
            entry: dict[str, Any] = {"path": rel, "sha256": _sha256_file(p), "bytes": p.stat().st_size}
            if in_release is not None and in_release in listed:
                entry["manifest_sha256"] = listed[in_release]["sha256"]
                entry["matches_manifest"] = entry["sha256"] == listed[in_release]["sha256"]
            files.append(entry)
    missing = sorted(set(listed) - {f["path"].removeprefix("data/") for f in files})
    permit = registry.current_permit(ws.project_id)
    key_file = key_path(ws.settings.keys_dir, ws.project_id)
    return {
        "format": ATTESTATION_FORMAT,
        "project": ws.project_id,
        "title": project.title,
        "deleted_by": by,
        "started_at": _now(),
        "judged_on": today.isoformat(),
        "deletion_date": project.deletion_date.isoformat() if project.deletion_date else None,
        "permit": {"version": permit.version, "sha256": permit.sha256},
        "releases": [
            {
                "id": r.id,
                "manifest_sha256": r.manifest_sha256,
                "permit_sha256": r.permit_sha256,
                "state": r.state,
            }
            for r in registry.releases(ws.project_id)
        ],
        "workspace": str(ws.root),
        "files": files,
        "manifest_files_missing_before_deletion": missing,
        "key": {
            "path": str(key_file),
            "fingerprint": key_fingerprint(key_file.read_bytes()) if key_file.exists() else None,
            "destroyed": False,
        },
    }


def _record_deletion(registry: Any, ws: Workspace, content: dict[str, Any], digest: str, by: str) -> None:
    from sqlalchemy import select

    from hdc_toolkit.audit import record
    from hdc_toolkit.projects.registry import Release, get_project_in, transition_in

    with registry.write() as s:
        if get_project_in(s, ws.project_id).state == lifecycle.DELETED:
            return
        for release in s.scalars(select(Release).where(Release.project_id == ws.project_id)):
            release.state = "deleted"
        record(
            s,
            "project.deleted",
            actor=by,
            project=ws.project_id,
            details={
                "attestation": Path(ws.attestations / f"{ws.project_id}-deletion.json").name,
                "attestation_sha256": digest,
                "files_deleted": len(content["files"]),
                "bytes_deleted": sum(f["bytes"] for f in content["files"]),
                "key_destroyed": content["key"]["destroyed"],
            },
        )
        transition_in(s, ws.project_id, lifecycle.DELETED, by=by)


def _write(path: Path, content: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o750)
    atomic_write_json(path, content)
    os.chmod(path, 0o640)


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
