"""``hdc sandbox``: set up, start, stop and inspect the local JupyterHub sandbox.

``hdc sandbox up`` is the end of the README's main command: it installs what is missing (the proxy with
npm, the single-user environment, the Unix accounts and project groups when run as root), starts the hub
in the background at http://127.0.0.1:8000 and prints who can log in and how. Run as an ordinary user
it falls back to a single-account demo mode and says loudly that OS isolation is off.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]

PASSWORD_FILE = "demo-password"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sandbox",
        help="the JupyterHub sandbox: set up, start, stop, status",
        description="The local JupyterHub sandbox (one named server per project). Production runs on "
        "Kubernetes with sandbox/helm/values.yaml.",
    )
    sub = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--env",
            type=Path,
            metavar="PREFIX",
            help="single-user environment (default /opt/hdc-sandbox/venv as root; this Python otherwise)",
        )
        p.add_argument(
            "--unix-prefix", default="hdc-", metavar="P", help="prefix of Unix accounts (default hdc-)"
        )

    setup = sub.add_parser(
        "setup", help="install the proxy (npm) and, as root, the single-user environment (no accounts)"
    )
    common(setup)
    setup.set_defaults(handler=_setup)

    users = sub.add_parser(
        "setup-users", help="create project groups, accounts and workspace permissions (root)"
    )
    users.add_argument(
        "--unix-prefix", default="hdc-", metavar="P", help="prefix of Unix accounts (default hdc-)"
    )
    users.set_defaults(handler=_setup_users)

    up = sub.add_parser("up", help="set up what is missing and start the hub in the background")
    common(up)
    up.add_argument("--port", type=int, default=8000, help="public port on 127.0.0.1 (default 8000)")
    up.add_argument("--hub-port", type=int, default=8081, help="hub's internal port (default 8081)")
    up.add_argument("--proxy-api-port", type=int, default=8001, help="proxy API port (default 8001)")
    up.add_argument("--password", help="the demo users' shared password (default: generated once, kept)")
    up.add_argument("--cull-timeout", type=int, default=3600, metavar="S", help="idle culler timeout (3600)")
    up.add_argument("--no-setup", action="store_true", help="start only; install nothing")
    up.set_defaults(handler=_up)

    down = sub.add_parser("down", help="stop the hub and every server it started")
    down.set_defaults(handler=_down)

    status = sub.add_parser("status", help="is the hub running, and where")
    status.set_defaults(handler=_status)


def _settings(args: argparse.Namespace) -> Any:
    from hdc_toolkit.config import Settings

    return Settings.from_env(args.environ)


def _state_dir(settings: Any) -> Path:
    return Path(settings.home) / "sandbox"


def _is_root() -> bool:
    return os.geteuid() == 0


def _prepare(args: argparse.Namespace, settings: Any, *, users: bool = True) -> Path:
    """Proxy, single-user environment and (as root, with ``users``) accounts; returns the prefix."""
    from hdc_toolkit.hub.environment import DEFAULT_PREFIX, ensure_singleuser_env
    from hdc_toolkit.hub.runner import ensure_proxy

    ensure_proxy()
    if _is_root():
        prefix = args.env or DEFAULT_PREFIX
        ensure_singleuser_env(prefix, log=lambda m: print(f"sandbox: {m}"))
        if users:
            _sync_users(settings, args.unix_prefix)
    else:
        prefix = args.env or Path(sys.prefix)
        if not (prefix / "bin" / "jupyterhub-singleuser").exists():
            from hdc_toolkit.exceptions import MissingExtraError

            raise MissingExtraError("hub", "jupyterhub")
    return prefix


def _sync_users(settings: Any, unix_prefix: str) -> None:
    from hdc_toolkit.hub.unix import sync_unix

    report = sync_unix(settings, unix_prefix=unix_prefix)
    print(
        f"sandbox: {len(report.groups)} project group(s), {len(report.users)} account(s), "
        f"{len(report.workspaces)} workspace(s) set up"
    )
    if report.unreachable:
        from hdc_toolkit.exceptions import StateError

        raise StateError(
            "other users cannot enter "
            + ", ".join(report.unreachable)
            + f", so project servers (running as the researchers' accounts) cannot reach {settings.projects_dir}: "
            "set HDC_HOME to a folder outside any private home (e.g. HDC_HOME=/srv/hdc)"
        )


def _setup(args: argparse.Namespace) -> int:
    prefix = _prepare(args, _settings(args), users=False)
    print(f"sandbox: single-user environment {prefix}")
    return 0


def _setup_users(args: argparse.Namespace) -> int:
    from hdc_toolkit.hub.unix import require_root

    require_root("hdc sandbox setup-users")
    _sync_users(_settings(args), args.unix_prefix)
    return 0


def _password(args: argparse.Namespace, state: Path) -> str:
    if args.password:
        return str(args.password)
    if args.environ.get("HDC_SANDBOX_PASSWORD"):
        return str(args.environ["HDC_SANDBOX_PASSWORD"])
    path = state / PASSWORD_FILE
    if path.exists():
        return path.read_text().strip()
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    password = secrets.token_urlsafe(9)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")
    return password


def _up(args: argparse.Namespace) -> int:
    from hdc_toolkit.hub.runner import HubPorts, LocalHub

    settings = _settings(args)
    state = _state_dir(settings)
    running = LocalHub.from_state(state)
    if running is not None and running.api_ok():
        print(f"sandbox: already running at {running.url} (pid {running.pid}); 'hdc sandbox down' stops it")
        _print_users(settings, running.url, _password(args, state))
        return 0
    if args.no_setup:
        from hdc_toolkit.hub.environment import DEFAULT_PREFIX

        prefix = args.env or (DEFAULT_PREFIX if _is_root() else Path(sys.prefix))
    else:
        prefix = _prepare(args, settings)
    password = _password(args, state)
    env = {
        "HDC_HOME": str(settings.home),
        "HDC_SANDBOX_ENV": str(prefix),
        "HDC_SANDBOX_PASSWORD": password,
        "HDC_SANDBOX_UNIX_PREFIX": args.unix_prefix,
        "HDC_CULL_TIMEOUT": str(args.cull_timeout),
        "HDC_CULL_EVERY": str(max(10, min(300, args.cull_timeout // 4))),
    }
    if args.environ.get("HDC_DATABASE_URL"):
        env["HDC_DATABASE_URL"] = args.environ["HDC_DATABASE_URL"]
    hub = LocalHub(state_dir=state, env=env, ports=HubPorts(args.port, args.hub_port, args.proxy_api_port))
    hub.start()
    seconds = hub.wait_ready()
    print(f"sandbox: up at {hub.url} in {seconds:.1f} s (pid {hub.pid}; log {hub.log_path})")
    if not _is_root():
        bar = "!" * 78
        print(
            f"{bar}\n!! OS ISOLATION IS OFF: the hub runs as an ordinary user, so every project server runs\n"
            f"!! as that same account and can read every project. Single-account demo mode only.\n"
            f"!! Run 'hdc sandbox up' as root for per-project Unix isolation.\n{bar}",
            file=sys.stderr,
        )
    _print_users(settings, hub.url, password)
    print("sandbox: stop it with 'hdc sandbox down'")
    return 0


def _print_users(settings: Any, url: str, password: str) -> None:
    from hdc_toolkit.hub.policy import ProjectPolicy
    from hdc_toolkit.projects.registry import open_registry

    policy = ProjectPolicy()
    registry = open_registry(settings)
    rows = []
    for project in registry.list_projects():
        if project.state not in policy.spawnable_states:
            continue
        for member in registry.members(project.id):
            if member.role in policy.sandbox_roles:
                rows.append((member.username, project.id, member.role))
    if not rows:
        print(
            "sandbox: no open project has members yet: approve and provision one (hdc permit / hdc project)"
        )
        return
    print(f"sandbox: log in at {url}/hub/login with one of these users and the password {password!r}:")
    for username, project_id, role in rows:
        print(f"  {username:<12} {role:<15} {url}/hub/spawn/{username}/{project_id}")


def _down(args: argparse.Namespace) -> int:
    from hdc_toolkit.hub.runner import LocalHub

    state = _state_dir(_settings(args))
    hub = LocalHub.from_state(state)
    if hub is None:
        print("sandbox: not running")
        return 0
    hub.stop()
    print(f"sandbox: stopped (pid {hub.pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    from hdc_toolkit.hub.runner import LocalHub

    hub = LocalHub.from_state(_state_dir(_settings(args)))
    if hub is None:
        print("sandbox: not running")
        return 3
    print(f"sandbox: running at {hub.url} (pid {hub.pid}; API {'ok' if hub.api_ok() else 'not answering'})")
    return 0
