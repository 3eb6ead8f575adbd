"""Project spawners: one notebook server per (person, project), seeing that project and nothing else.

The policy (:mod:`hdc_toolkit.hub.policy`) decides which project a server request means; this module
applies it to two backends:

:class:`LocalProjectSpawner`
    A :class:`~jupyterhub.spawner.LocalProcessSpawner` for one machine (development and small
    deployments). The server runs as the person's own Unix account (``hdc-<username>``) with **only**
    the selected project's group (the stock spawner gives all of a user's groups, which would let a
    member of two projects read both from either server), ``umask 007``, in the project's ``work/``,
    with ``HDC_PROJECT`` and the project's paths in its environment. Run by an ordinary user (not
    root) it falls back to a single-account demo mode and says loudly that OS isolation is off.
    Registered as the ``hdc-project`` entry point of ``jupyterhub.spawners``.

:func:`kube_pre_spawn_hook` / :func:`kube_post_stop_hook`
    The same policy for KubeSpawner (Zero to JupyterHub): mount the project's data volume read-only
    and its work volume, set the project's supplemental group, label the pod with the project for
    network policies, and set the same environment.

Both audit every start, stop and refusal (:mod:`hdc_toolkit.hub.audit_hooks`). Refusals raise
:class:`SpawnException` (JupyterHub 6; an equivalent :class:`tornado.web.HTTPError` on JupyterHub 5)
with status 403 (not a member, project not open, role) or 400 (ambiguous default server).
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import signal
import time
from pathlib import PurePosixPath
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner
from tornado import web
from traitlets import Any as AnyTrait
from traitlets import Enum, Float, Integer, Unicode

from hdc_toolkit.hub.audit_hooks import SERVER_STARTED, SERVER_STOPPED, SPAWN_REFUSED, audit
from hdc_toolkit.hub.groups import sync_user_groups
from hdc_toolkit.hub.policy import ProjectContext, ProjectPolicy, ProjectRefused, unix_name

try:  # JupyterHub >= 6
    from jupyterhub.spawner import SpawnException
except ImportError:  # pragma: no cover - JupyterHub 5.x (the z2jh 4.x hub image)

    class SpawnException(web.HTTPError):  # type: ignore[no-redef]
        """JupyterHub 6's SpawnException for JupyterHub 5: an HTTPError carrying a user-facing message."""

        def __init__(
            self,
            message: str,
            *,
            reason: str,
            log_message: str = "",
            message_html: str = "",
            status_code: int = 400,
        ) -> None:
            self.message = message
            self.jupyterhub_message = message  # shown by JupyterHub 5's API error handler
            self.message_html = message_html
            super().__init__(status_code, (log_message or message).replace("%", "%%"), reason=reason)
            self.reason = reason


__all__ = [
    "LocalProjectSpawner",
    "SpawnException",
    "configure_kube_spawner",
    "kube_post_stop_hook",
    "kube_pre_spawn_hook",
    "resolve_for_spawn",
    "spawn_exception",
]

#: Where a pod sees its project (KubeSpawner); the local spawner uses the real HDC_HOME path.
KUBE_PROJECT_ROOT = "/srv/project"
PROJECT_LABEL = "hdc.example.org/project"


def spawn_exception(refused: ProjectRefused) -> SpawnException:
    return SpawnException(refused.message, reason=refused.reason, status_code=refused.status_code)


async def resolve_for_spawn(spawner: Any, policy: ProjectPolicy) -> ProjectContext:
    """The project of ``spawner``'s request; a refusal is audited and raised as :class:`SpawnException`."""
    username = spawner.user.name
    server_name = spawner.name or ""
    settings = policy.settings()
    try:
        ctx = await asyncio.to_thread(policy.resolve, username, server_name, settings=settings)
    except ProjectRefused as refused:
        spawner.log.warning("Refusing server %r of %s: %s", server_name, username, refused.message)
        await audit(
            settings,
            SPAWN_REFUSED,
            actor=username,
            project=refused.project,
            details={
                "server": server_name,
                "reason": refused.reason,
                "status": refused.status_code,
                "message": refused.message,
            },
            required=False,
        )
        raise spawn_exception(refused) from None
    return ctx


def _sync_hub_groups(spawner: Any, ctx: ProjectContext, policy: ProjectPolicy) -> None:
    from hdc_toolkit.hub.policy import project_group

    try:
        groups = [project_group(p, policy.group_prefix) for p in ctx.all_projects]
        sync_user_groups(spawner.user, groups, policy.group_prefix)
    except Exception:  # groups are informative; never block a spawn on them
        spawner.log.exception("could not sync hub groups of %s", spawner.user.name)


def _reset_signals() -> None:
    # A hub started from a non-interactive shell inherits SIGINT=ignored; JupyterHub stops servers
    # with SIGINT, so an ignored SIGINT turns every stop into a 12 s wait for SIGTERM.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


class LocalProjectSpawner(LocalProcessSpawner):
    """Local processes, one Unix account per person, only the selected project's group."""

    unix_user_prefix = Unicode(
        "hdc-",
        help="Prefix of the Unix accounts of hub users (hub user alice runs as Unix user hdc-alice).",
    ).tag(config=True)

    isolation = Enum(
        ["auto", "unix", "off"],
        default_value="auto",
        help="'unix': servers run as each person's Unix account with only the project's group (needs "
        "root); 'off': everything runs as the hub's own account (demo only, no isolation); "
        "'auto': 'unix' when the hub runs as root, else 'off'.",
    ).tag(config=True)

    min_uid = Integer(1000, help="Refuse to run servers as accounts below this uid.").tag(config=True)

    umask = Integer(0o007, help="umask of project servers (files are shared with the project group).").tag(
        config=True
    )

    demo_home_root = Unicode(
        "",
        help="Isolation 'off' only: where per-user homes are made (default HDC_HOME/sandbox/homes).",
    ).tag(config=True)

    ready_poll_interval = Float(
        0.05,
        help="How often start() checks whether the new server answers HTTP; start() returns once it "
        "does, so the hub's own (exponential back-off) check succeeds at its first try.",
    ).tag(config=True)

    project = AnyTrait(None, allow_none=True, help="The ProjectContext of the current server.")

    # ---------------------------------------------------------------- helpers

    @property
    def isolation_mode(self) -> str:
        if self.isolation == "auto":
            return "unix" if os.geteuid() == 0 else "off"
        return self.isolation

    @property
    def unix_user(self) -> str:
        return unix_name(self.user.name, self.unix_user_prefix)

    def _policy(self) -> ProjectPolicy:
        return ProjectPolicy(parent=self)

    def _account(self) -> pwd.struct_passwd:
        try:
            account = pwd.getpwnam(self.unix_user)
        except KeyError:
            raise SpawnException(
                f"No sandbox account {self.unix_user!r} for {self.user.name}: the data centre must run "
                "'hdc sandbox setup-users'",
                reason="unix_account",
                status_code=503,
            ) from None
        if account.pw_uid < self.min_uid:
            raise SpawnException(
                f"Account {self.unix_user!r} is a system account (uid {account.pw_uid}); refusing",
                reason="unix_account",
                status_code=403,
            )
        return account

    def _project_gid(self, ctx: ProjectContext) -> int:
        try:
            return grp.getgrnam(ctx.group).gr_gid
        except KeyError:
            raise SpawnException(
                f"Project group {ctx.group!r} does not exist: the data centre must run "
                "'hdc sandbox setup-users'",
                reason="project_group",
                status_code=503,
            ) from None

    def _demo_home(self) -> str:
        root = self.demo_home_root or str(self._policy().settings().home / "sandbox" / "homes")
        return os.path.join(root, self.user.name)

    # ---------------------------------------------------------------- state

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        if self.project is not None:
            state["hdc_project"] = self.project.project
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._restored_project = state.get("hdc_project")

    def clear_state(self) -> None:
        super().clear_state()

    # ---------------------------------------------------------------- environment and process

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        if self.isolation_mode == "off":
            env["USER"] = pwd.getpwuid(os.geteuid()).pw_name
            env["HOME"] = self._demo_home()
            env["SHELL"] = "/bin/bash"
            return env
        account = self._account()
        env["USER"] = account.pw_name
        env["HOME"] = account.pw_dir
        env["SHELL"] = account.pw_shell or "/bin/bash"
        return env

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        ctx = self.project
        if ctx is not None:
            env.update(ctx.environment())  # last: configuration cannot override the project's paths
            env["JUPYTERHUB_ROOT_DIR"] = str(ctx.project_dir)
            env["HDC_ISOLATION"] = self.isolation_mode
        if self.cmd:  # the single-user environment's scripts first on PATH (kernels, pip, jupyter)
            bindir = os.path.dirname(self.cmd[0])
            if os.path.isabs(bindir):
                env["PATH"] = os.pathsep.join([bindir, env.get("PATH") or "/usr/local/bin:/usr/bin:/bin"])
        return env

    def get_args(self) -> list[str]:
        args = list(super().get_args())
        if self.project is not None:
            args.append("--ContentsManager.preferred_dir=work")
        return args

    def make_preexec_fn(self, name: str) -> Any:
        ctx = self.project
        umask = self.umask
        workdir = str(ctx.work_dir) if ctx is not None else None
        if self.isolation_mode == "off":
            home = self._demo_home()
            os.makedirs(home, mode=0o700, exist_ok=True)

            def preexec_off() -> None:
                _reset_signals()
                os.umask(umask)
                os.chdir(workdir or home)

            return preexec_off

        account = self._account()
        uid, primary = account.pw_uid, account.pw_gid
        groups = [primary] + ([self._project_gid(ctx)] if ctx is not None else [])

        def preexec() -> None:
            # Runs in the child between fork and exec: only the primary group and the project's group,
            # never the account's other groups (os.getgrouplist would give them all).
            _reset_signals()
            os.setgid(primary)
            os.setgroups(groups)
            os.setuid(uid)
            if os.getuid() != uid or set(os.getgroups()) - set(groups):
                raise PermissionError("could not drop privileges")
            os.umask(umask)
            os.chdir(workdir or account.pw_dir)

        return preexec

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:  # internal_ssl only
        if self.isolation_mode == "off":
            return paths
        import shutil

        account = self._account()
        out_dir = os.path.join(account.pw_dir, ".jupyterhub", "jupyterhub-certs")
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir, 0o700, exist_ok=True)
        moved = {}
        for key in ("keyfile", "certfile"):
            shutil.move(paths[key], out_dir)
            moved[key] = os.path.join(out_dir, os.path.basename(paths[key]))
        shutil.copy(paths["cafile"], out_dir)
        moved["cafile"] = os.path.join(out_dir, os.path.basename(paths["cafile"]))
        for p in [os.path.dirname(out_dir), out_dir, *moved.values()]:
            os.chown(p, account.pw_uid, account.pw_gid)
        return moved

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> tuple[str, int]:
        policy = self._policy()
        ctx = await resolve_for_spawn(self, policy)
        if self.isolation_mode == "unix":
            self._account()
            self._project_gid(ctx)
        elif os.geteuid() == 0:
            raise SpawnException(
                "Isolation is off but the hub runs as root: refusing to run a notebook server as root",
                reason="isolation",
                status_code=503,
            )
        else:
            self.log.warning(
                "OS ISOLATION IS OFF: %s's server on %s runs as the hub's own account and can read every "
                "project. Demo mode only; run the hub as root for per-project isolation.",
                self.user.name,
                ctx.project,
            )
        self.project = ctx
        _sync_hub_groups(self, ctx, policy)
        started = time.perf_counter()
        ip, port = await super().start()
        try:
            await self._wait_until_responding(ip, port)
            await audit(
                policy.settings(),
                SERVER_STARTED,
                actor=self.user.name,
                project=ctx.project,
                details={
                    "server": self.name or "",
                    "backend": "local",
                    "isolation": self.isolation_mode,
                    "unix_user": self.unix_user if self.isolation_mode == "unix" else None,
                    "groups": [ctx.group] if self.isolation_mode == "unix" else [],
                    "pid": self.pid,
                    "seconds": round(time.perf_counter() - started, 3),
                },
            )
        except BaseException:
            await super().stop(now=True)
            raise
        return ip, port

    async def _wait_until_responding(self, ip: str, port: int) -> None:
        """Return once the server answers HTTP (any status below 500), or raise if its process died."""
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

        base = self.server.base_url if self.server is not None else "/"
        url = f"http://{ip or '127.0.0.1'}:{port}{base}api"
        client = AsyncHTTPClient()
        deadline = time.monotonic() + self.http_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise SpawnException(
                    f"The server of {self.user.name} on {self.project.project if self.project else '?'} exited "
                    f"with status {self.proc.returncode} while starting (see the hub log)",
                    reason="exited",
                    status_code=500,
                )
            try:
                response = await client.fetch(
                    HTTPRequest(url, request_timeout=2, follow_redirects=False), raise_error=False
                )
                if response.code and response.code < 500 and response.code != 599:
                    return
            except (OSError, HTTPClientError):
                pass
            await asyncio.sleep(self.ready_poll_interval)
        # Let the hub's own check time out with its usual message.

    async def stop(self, now: bool = False) -> None:
        was_running = bool(self.pid)
        project = (
            self.project.project if self.project is not None else getattr(self, "_restored_project", None)
        )
        await super().stop(now=now)
        if was_running:
            await audit(
                self._policy().settings(),
                SERVER_STOPPED,
                actor=self.user.name,
                project=project,
                details={"server": self.name or "", "backend": "local"},
                required=False,
            )
        self.project = None


# ---------------------------------------------------------------- KubeSpawner


def configure_kube_spawner(
    spawner: Any, ctx: ProjectContext, *, root: str = KUBE_PROJECT_ROOT
) -> ProjectContext:
    """Point a KubeSpawner at one project: volumes, mounts, groups, labels, environment, working dir.

    * PVC ``proj-<id>-data`` (the release and synthetic twins) mounted **read-only** at
      ``<root>/data`` and ``<root>/synthetic``;
    * PVC ``proj-<id>-work`` mounted read-write at ``<root>/work`` and ``<root>/outputs``;
    * ``supplemental_gids = [project gid]`` (the stable gid of :func:`~hdc_toolkit.hub.policy.project_gid`,
      which owns the volumes' files);
    * label ``hdc.example.org/project=<id>`` for NetworkPolicies; the same environment as locally.

    Returns the context as the pod sees it (paths under ``root``).
    """
    pod = ctx.at(PurePosixPath(root))
    data_claim = f"{ctx.group}-data"
    work_claim = f"{ctx.group}-work"
    volumes: list[dict[str, Any]] = [
        {"name": "project-data", "persistentVolumeClaim": {"claimName": data_claim, "readOnly": True}},
        {"name": "project-work", "persistentVolumeClaim": {"claimName": work_claim}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "project-data", "mountPath": str(pod.data_dir), "subPath": "data", "readOnly": True},
        {
            "name": "project-data",
            "mountPath": str(pod.synthetic_dir),
            "subPath": "synthetic",
            "readOnly": True,
        },
        {"name": "project-work", "mountPath": str(pod.work_dir), "subPath": "work"},
        {"name": "project-work", "mountPath": str(pod.outputs_dir), "subPath": "outputs"},
    ]
    spawner.volumes = _extend(spawner.volumes, volumes)
    spawner.volume_mounts = _extend(spawner.volume_mounts, mounts)
    spawner.supplemental_gids = sorted({*(spawner.supplemental_gids or []), ctx.gid})
    spawner.extra_labels = {**spawner.extra_labels, PROJECT_LABEL: ctx.project}
    spawner.extra_annotations = {**spawner.extra_annotations, PROJECT_LABEL: ctx.project}
    env = dict(spawner.environment)
    env.update(pod.environment())
    env["HDC_ISOLATION"] = "kubernetes"
    spawner.environment = env
    spawner.working_dir = str(pod.work_dir)
    spawner.notebook_dir = str(pod.project_dir)
    spawner.args = [*spawner.args, "--ContentsManager.preferred_dir=work"]
    return pod


def _extend(current: Any, items: list[dict[str, Any]]) -> Any:
    """Add to a KubeSpawner list-or-dict trait without touching the configured value in place."""
    if isinstance(current, dict):
        keyed = {f"hdc-{item['name']}-{item.get('mountPath', '')}".rstrip("-"): item for item in items}
        return {**current, **keyed}
    return [*(current or []), *items]


async def kube_pre_spawn_hook(spawner: Any) -> None:
    """``c.KubeSpawner.pre_spawn_hook``: refuse or configure the pod for the selected project, and audit."""
    policy = ProjectPolicy(parent=spawner)
    ctx = await resolve_for_spawn(spawner, policy)
    _sync_hub_groups(spawner, ctx, policy)
    configure_kube_spawner(spawner, ctx)
    spawner.hdc_project = ctx.project
    await audit(
        policy.settings(),
        SERVER_STARTED,
        actor=spawner.user.name,
        project=ctx.project,
        details={"server": spawner.name or "", "backend": "kubernetes", "groups": [ctx.group]},
    )


def kube_post_stop_hook(spawner: Any) -> Any:
    """``c.KubeSpawner.post_stop_hook``: audit the stop (JupyterHub calls it without awaiting errors)."""
    policy = ProjectPolicy(parent=spawner)
    return audit(
        policy.settings(),
        SERVER_STOPPED,
        actor=spawner.user.name,
        project=getattr(spawner, "hdc_project", None) or (spawner.name or None),
        details={"server": spawner.name or "", "backend": "kubernetes"},
        required=False,
    )
