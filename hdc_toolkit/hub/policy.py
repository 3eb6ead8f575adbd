"""Which project a notebook server belongs to, and what that server may see: the sandbox's one policy.

The same functions serve the local spawner (:class:`~hdc_toolkit.hub.spawner.LocalProjectSpawner`), the
KubeSpawner hook and the login hook, so the rule is written once:

* **a named server's name is the project id**; the default server (name ``""``) is allowed only for a
  member of exactly one open project, and then means that project;
* the requester must be an *active* member of the project in the registry, with a role that works in
  the sandbox (``project_leader`` or ``researcher`` by default), and the project must be open
  (``provisioned`` or ``active``);
* refusals are :class:`ProjectRefused` with an HTTP status (403: not a member / not open / wrong role,
  400: ambiguous default server) and a short ``reason`` label.

The registry is read on every spawn and login: revoking a membership takes effect at the next start,
with no hub restart.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from traitlets import List, Unicode
from traitlets.config import Configurable

from hdc_toolkit.config import Settings

__all__ = [
    "DEFAULT_SANDBOX_ROLES",
    "DEFAULT_SPAWNABLE_STATES",
    "GROUP_PREFIX",
    "Membership",
    "ProjectContext",
    "ProjectPolicy",
    "ProjectRefused",
    "choose_project",
    "project_environment",
    "project_gid",
    "project_group",
    "unix_name",
]

GROUP_PREFIX = "proj-"
DEFAULT_SANDBOX_ROLES: tuple[str, ...] = ("project_leader", "researcher")
DEFAULT_SPAWNABLE_STATES: tuple[str, ...] = ("provisioned", "active")
#: Linux user and group names are at most 32 characters.
MAX_UNIX_NAME = 32
#: Project group ids are derived from the project id, so the same project has the same gid on every
#: host and on Kubernetes volumes (``supplemental_gids``): GID_BASE + 20 bits of the id's SHA-256.
GID_BASE = 200_000
GID_SPAN = 1 << 20

#: Environment every project server gets whatever the backend: Dask inside the sandbox is TLS-only.
#: ``require-encryption`` makes a plain-TCP cluster fail to start (fail closed); the toolkit's
#: ``local_cluster()`` and the Dask JupyterLab extension start TLS clusters with temporary certificates.
DASK_TLS_ENVIRONMENT: Mapping[str, str] = {
    "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
    "DASK_LABEXTENSION__FACTORY__MODULE": "dask.distributed",
    "DASK_LABEXTENSION__FACTORY__CLASS": "LocalCluster",
    "DASK_LABEXTENSION__FACTORY__KWARGS__SECURITY": "True",
    "DASK_LABEXTENSION__FACTORY__KWARGS__HOST": "127.0.0.1",
}


class ProjectRefused(Exception):
    """A spawn or login the policy does not allow; ``status_code`` is the HTTP status to answer."""

    def __init__(self, message: str, *, status_code: int, reason: str, project: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.reason = reason
        #: the registered project the refusal concerns, if the request named one
        self.project = project


@dataclass(frozen=True)
class Membership:
    """One open project a person may work on in the sandbox, with their role in it."""

    project: str
    role: str


def _bounded(name: str) -> str:
    """``name`` if it fits a Unix name, else a prefix of it plus 8 hex digits of its hash."""
    if len(name) <= MAX_UNIX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: MAX_UNIX_NAME - 9]}-{digest}"


def project_group(project_id: str, prefix: str = GROUP_PREFIX) -> str:
    """The Unix group (and hub group) of a project: ``proj-<id>`` (shortened with a hash past 32 chars)."""
    return _bounded(f"{prefix}{project_id}")


def unix_name(username: str, prefix: str) -> str:
    """The Unix account of a hub user: ``<prefix><username>`` (shortened with a hash past 32 chars).

    The prefix keeps sandbox accounts apart from system accounts: a hub user called ``root`` or
    ``daemon`` never maps to the real one.
    """
    return _bounded(f"{prefix}{username}")


def project_gid(project_id: str) -> int:
    """The stable numeric group id of a project (the same on every host and in every pod)."""
    digest = hashlib.sha256(project_id.encode()).digest()
    return GID_BASE + int.from_bytes(digest[:4], "big") % GID_SPAN


def choose_project(username: str, server_name: str, projects: Sequence[str]) -> str:
    """The project a server request means, or :class:`ProjectRefused`.

    ``projects`` are the open projects ``username`` may work on. A named server must be one of them
    (403 otherwise); the default server needs exactly one (400 when there are several).
    """
    listed = ", ".join(projects) if projects else "none"
    if server_name:
        if server_name in projects:
            return server_name
        return _refuse_name(server_name, listed)
    if len(projects) == 1:
        return projects[0]
    if not projects:
        raise ProjectRefused(
            f"{username!r} is not a member of any open project in the sandbox",
            status_code=403,
            reason="no_project",
        )
    raise ProjectRefused(
        f"You belong to several projects ({listed}): start a named server per project.",
        status_code=400,
        reason="ambiguous",
    )


def _refuse_name(server_name: str, listed: str) -> str:
    raise ProjectRefused(
        f"Server name {server_name!r} is not one of your projects: {listed}",
        status_code=403,
        reason="not_a_member",
    )


@dataclass(frozen=True)
class ProjectContext:
    """Everything a spawner needs to start one user's server on one project."""

    username: str
    server_name: str
    project: str
    role: str
    group: str
    gid: int
    project_dir: PurePosixPath
    all_projects: tuple[str, ...] = field(default=())

    @property
    def data_dir(self) -> PurePosixPath:
        return self.project_dir / "data"

    @property
    def synthetic_dir(self) -> PurePosixPath:
        return self.project_dir / "synthetic"

    @property
    def work_dir(self) -> PurePosixPath:
        return self.project_dir / "work"

    @property
    def outputs_dir(self) -> PurePosixPath:
        return self.project_dir / "outputs"

    def at(self, root: str | PurePosixPath) -> ProjectContext:
        """The same context with the project mounted at ``root`` (a pod's view of it)."""
        from dataclasses import replace

        return replace(self, project_dir=PurePosixPath(root))

    def environment(self) -> dict[str, str]:
        return project_environment(self)


def project_environment(ctx: ProjectContext) -> dict[str, str]:
    """The environment of a project server: which project, where its folders are, Dask over TLS."""
    env = {
        "HDC_PROJECT": ctx.project,
        "HDC_PROJECT_ROLE": ctx.role,
        "HDC_PROJECT_DIR": str(ctx.project_dir),
        "HDC_DATA_DIR": str(ctx.data_dir),
        "HDC_SYNTHETIC_DIR": str(ctx.synthetic_dir),
        "HDC_WORK_DIR": str(ctx.work_dir),
        "HDC_OUTPUTS_DIR": str(ctx.outputs_dir),
    }
    env.update(DASK_TLS_ENVIRONMENT)
    return env


class ProjectPolicy(Configurable):
    """The sandbox's project rules, configurable as ``c.ProjectPolicy.*`` in the hub config.

    Create one with ``ProjectPolicy(parent=spawner_or_authenticator)`` so that it reads the hub's
    configuration.
    """

    sandbox_roles = List(
        Unicode(),
        default_value=list(DEFAULT_SANDBOX_ROLES),
        help="Registry roles that may start a notebook server on a project's data.",
    ).tag(config=True)

    spawnable_states = List(
        Unicode(),
        default_value=list(DEFAULT_SPAWNABLE_STATES),
        help="Project lifecycle states in which servers may start (data provisioned, not closed).",
    ).tag(config=True)

    group_prefix = Unicode(GROUP_PREFIX, help="Prefix of project groups (Unix and hub).").tag(config=True)

    hdc_home = Unicode(
        "",
        help="HDC_HOME of the registry, audit log and projects; default: the hub's HDC_HOME environment.",
    ).tag(config=True)

    def settings(self) -> Settings:
        env = dict(os.environ)
        if self.hdc_home:
            env["HDC_HOME"] = self.hdc_home
        return Settings.from_env(env)

    # -- registry reads (blocking: call from a thread in the hub)

    def memberships(self, username: str, *, settings: Settings | None = None) -> list[Membership]:
        """The open projects ``username`` may work on in the sandbox, sorted by project id."""
        from hdc_toolkit.projects.registry import open_registry

        registry = open_registry(settings or self.settings())
        out = []
        for project in registry.projects_of(username):
            if project.state not in self.spawnable_states:
                continue
            role = _role_of(registry.members(project.id), username)
            if role is not None and role in self.sandbox_roles:
                out.append(Membership(project.id, role))
        return out

    def resolve(self, username: str, server_name: str, *, settings: Settings | None = None) -> ProjectContext:
        """The :class:`ProjectContext` of a server request, or :class:`ProjectRefused` saying why not."""
        settings = settings or self.settings()
        memberships = self.memberships(username, settings=settings)
        projects = [m.project for m in memberships]
        if server_name and server_name not in projects:
            exists = self._explain_refusal(username, server_name, settings)
            try:
                choose_project(username, server_name, projects)
            except ProjectRefused as refused:
                refused.project = server_name if exists else None
                raise
        project = choose_project(username, server_name, projects)
        role = next(m.role for m in memberships if m.project == project)
        return ProjectContext(
            username=username,
            server_name=server_name,
            project=project,
            role=role,
            group=project_group(project, self.group_prefix),
            gid=project_gid(project),
            project_dir=PurePosixPath(settings.projects_dir / project),
            all_projects=tuple(projects),
        )

    def _explain_refusal(self, username: str, server_name: str, settings: Settings) -> bool:
        """A more precise 403 when the named project exists but is closed or the role is wrong.

        Returns whether ``server_name`` is a registered project.
        """
        from hdc_toolkit.exceptions import NotFoundError
        from hdc_toolkit.projects.registry import open_registry

        registry = open_registry(settings)
        try:
            project = registry.get_project(server_name)
            role = _role_of(registry.members(project.id), username)
        except NotFoundError:
            return False
        if role is None:
            return True
        if project.state not in self.spawnable_states:
            raise ProjectRefused(
                f"Project {server_name!r} is {project.state}: servers start only on "
                f"{' or '.join(self.spawnable_states)} projects",
                status_code=403,
                reason="project_not_open",
                project=server_name,
            )
        if role not in self.sandbox_roles:
            raise ProjectRefused(
                f"Your role in project {server_name!r} is {role}, which does not work on the project's "
                f"data in the sandbox (roles that do: {', '.join(self.sandbox_roles)})",
                status_code=403,
                reason="role",
                project=server_name,
            )
        return True

    def project_groups(self, memberships: Iterable[Membership]) -> list[str]:
        return sorted(project_group(m.project, self.group_prefix) for m in memberships)


def _role_of(members: Iterable[Any], username: str) -> str | None:
    for member in members:
        if getattr(member, "username", None) == username:
            return str(member.role)
    return None


def is_traversable(path: Path) -> list[Path]:
    """The ancestors of ``path`` (inclusive) that other users cannot enter (missing o+x)."""
    blocked = []
    current = path.resolve()
    for p in [current, *current.parents]:
        try:
            if not os.stat(p).st_mode & 0o001:
                blocked.append(p)
        except FileNotFoundError:
            continue
    return blocked
