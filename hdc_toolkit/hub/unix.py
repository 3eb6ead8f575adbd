"""Unix accounts, project groups and workspace permissions for the local sandbox (run as root).

The local profile's isolation is plain Unix permissions, set here from the registry:

* one group per open project, ``proj-<id>``, with the project's stable gid
  (:func:`~hdc_toolkit.hub.policy.project_gid`); **nobody is a member in /etc/group**: the spawner
  gives a server the project's group for that server's lifetime only, so the registry is the one place
  that grants access;
* one account per person who works in the sandbox, ``hdc-<username>``, home 0700, no password
  (login only through the hub);
* the workspace ``HDC_HOME/projects/<id>``: ``root:proj-<id>``; the project directory 0750, ``data/``
  read-only for the group (directories 0550, files 0440, as released by provisioning),
  ``synthetic/`` 0750 (files 0640), ``work/`` and ``outputs/`` 2770 (setgid: files stay in the group);
* ``HDC_HOME`` and ``HDC_HOME/projects`` 0711 (enter, not list); the registry, audit log, keys and
  hub state stay private to the data centre (no permission for others).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import PermissionDenied, StateError
from hdc_toolkit.hub.policy import ProjectPolicy, project_gid, project_group, unix_name

__all__ = [
    "SyncReport",
    "apply_workspace_layout",
    "blocked_ancestors",
    "ensure_group",
    "ensure_user",
    "remove_group",
    "remove_user",
    "require_root",
    "secure_home",
    "sync_unix",
]

HOME_MODE = 0o700
PROJECT_MODE = 0o750
SHARED_DIR_MODE = 0o2770
SYNTHETIC_DIR_MODE = 0o750
SYNTHETIC_FILE_MODE = 0o640
ACCOUNT_COMMENT = "hdc sandbox user"


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PermissionDenied(f"{what} needs root (it creates Unix accounts and sets file ownership)")


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StateError(f"{' '.join(cmd)} failed: {result.stderr.strip() or result.returncode}")


def ensure_group(name: str, gid: int | None = None) -> int:
    """Create the group if missing (with ``gid`` when that id is free); return its gid."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    cmd = ["groupadd"]
    if gid is not None:
        try:
            grp.getgrgid(gid)
        except KeyError:
            cmd += ["--gid", str(gid)]
    _run([*cmd, name])
    return grp.getgrnam(name).gr_gid


def remove_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        return
    _run(["groupdel", name])


def ensure_user(name: str, *, comment: str = ACCOUNT_COMMENT) -> pwd.struct_passwd:
    """Create the account if missing (own group, home 0700, no password); return it."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        _run(
            [
                "useradd",
                "--create-home",
                "--user-group",
                "--shell",
                "/bin/bash",
                "--comment",
                comment,
                "-K",
                "HOME_MODE=0700",
                "-K",
                "UMASK=077",
                name,
            ]
        )
        account = pwd.getpwnam(name)
    home = Path(account.pw_dir)
    if home.is_dir():
        os.chmod(home, HOME_MODE)  # Debian's useradd makes 0755 homes unless told otherwise
    return account


def remove_user(name: str) -> None:
    """Remove the account and its home (its processes must have ended)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        return
    result = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True, check=False)
    if result.returncode not in (0, 12):  # 12: home could not be removed (already gone)
        raise StateError(f"userdel {name} failed: {result.stderr.strip()}")


def _chown_tree(path: Path, gid: int, *, file_mode: int | None = None, dir_mode: int | None = None) -> None:
    for current, dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(current, name)
            if os.path.islink(p):
                continue
            os.chown(p, 0, gid)
            mode = file_mode if file_mode is not None else stat.S_IMODE(os.lstat(p).st_mode) & 0o770
            os.chmod(p, mode)
        for name in dirs:
            p = os.path.join(current, name)
            if os.path.islink(p):
                continue
            os.chown(p, 0, gid)
            mode = dir_mode if dir_mode is not None else stat.S_IMODE(os.lstat(p).st_mode) & 0o2770
            os.chmod(p, mode)
    os.chown(path, 0, gid)


def apply_workspace_layout(settings: Settings, project_id: str, group: str | None = None) -> Path:
    """Give the project's workspace to ``root:<group>`` with the sandbox's modes; returns its path."""
    from hdc_toolkit.projects.workspace import Workspace

    ws = Workspace(settings, project_id).create()
    gid = grp.getgrnam(group or project_group(project_id)).gr_gid
    root = ws.root
    os.chown(root, 0, gid)
    os.chmod(root, PROJECT_MODE)
    if ws.data.is_dir():  # the release: modes set by provisioning (0550/0440), group = project
        _chown_tree(ws.data, gid)
        for current, _dirs, files in os.walk(ws.data):
            os.chmod(current, stat.S_IMODE(os.stat(current).st_mode) & 0o550 | 0o550)
            for name in files:
                p = os.path.join(current, name)
                if not os.path.islink(p):
                    os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) & 0o440 | 0o440)
    synthetic = root / "synthetic"
    if synthetic.is_dir():
        _chown_tree(synthetic, gid, file_mode=SYNTHETIC_FILE_MODE, dir_mode=SYNTHETIC_DIR_MODE)
        os.chmod(synthetic, SYNTHETIC_DIR_MODE)
    for name in ("work", "outputs"):
        shared = root / name
        shared.mkdir(exist_ok=True)
        os.chown(shared, 0, gid)
        os.chmod(shared, SHARED_DIR_MODE)
    return root


def secure_home(settings: Settings) -> None:
    """HDC_HOME and its projects folder 0711; everything else at the top of HDC_HOME private to root."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    settings.projects_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o711)
    os.chmod(settings.projects_dir, 0o711)
    for entry in home.iterdir():
        if entry == settings.projects_dir or entry.is_symlink():
            continue
        mode = stat.S_IMODE(entry.stat().st_mode)
        if mode & 0o007:
            os.chmod(entry, mode & ~0o007)


def blocked_ancestors(path: Path) -> list[Path]:
    """The directories on the way to ``path`` (inclusive) that other users cannot enter."""
    from hdc_toolkit.hub.policy import is_traversable

    return is_traversable(path)


@dataclass
class SyncReport:
    groups: dict[str, int] = field(default_factory=dict)  # project group -> gid
    users: dict[str, str] = field(default_factory=dict)  # hub username -> Unix account
    workspaces: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # ancestors others cannot enter


def sync_unix(
    settings: Settings,
    *,
    unix_prefix: str = "hdc-",
    policy: ProjectPolicy | None = None,
    extra_users: Iterable[str] = (),
) -> SyncReport:
    """Create the groups, accounts and workspace permissions for every open project in the registry.

    Idempotent. Accounts are never removed here (a person may come back; closing a project removes
    its group's access by itself).
    """
    from hdc_toolkit.projects.registry import open_registry

    require_root("hdc sandbox setup-users")
    policy = policy or ProjectPolicy()
    registry = open_registry(settings)
    report = SyncReport()
    secure_home(settings)
    people: set[str] = set(extra_users)
    for project in registry.list_projects():
        if project.state not in policy.spawnable_states:
            continue
        group = project_group(project.id, policy.group_prefix)
        report.groups[group] = ensure_group(group, project_gid(project.id))
        apply_workspace_layout(settings, project.id, group)
        report.workspaces.append(project.id)
        people.update(m.username for m in registry.members(project.id) if m.role in policy.sandbox_roles)
    for username in sorted(people):
        account = ensure_user(unix_name(username, unix_prefix))
        report.users[username] = account.pw_name
    report.unreachable = [str(p) for p in blocked_ancestors(settings.projects_dir)]
    return report
