"""A real sandbox for the hub tests: registry, workspaces, Unix accounts, a hub on free loopback ports.

Fixtures (session scope; the hub is shared by every test module under tests/hub):

    sandbox_world   a fresh HDC_HOME under /tmp (world-traversable: spawned users must reach it), a
                    registry with three projects (alpha, beta active; closed), members, a Parquet
                    release in alpha's and beta's data/, Unix accounts and project groups made by
                    ``sync_unix`` (the code ``hdc sandbox setup-users`` runs), the single-user
                    environment, and a hub (``sandbox/jupyterhub_config.py``) on three free ports with a
                    narrowly scoped service token. Teardown stops the hub, kills any process still
                    running as a test account (by PID: they can only be ours), and removes the accounts,
                    groups and folders.
    running_servers alice/alpha, bob/beta and carol/beta started through the REST API (in parallel).
    probes          one kernel execution per running server, returning what that server can see.

Everyone:   alpha: alice (researcher), carol (researcher), erin (researcher, the browser test),
                   olav (output_checker: no sandbox role)
            beta:  bob (researcher), carol (project_leader), erin (researcher)
            closed (state closed): alice;     dave: no project at all.

These tests need root (they create Unix accounts); they fail, never skip, without it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hdc_toolkit.config import Settings

PEOPLE = ("alice", "bob", "carol", "dave", "erin", "olav")
ALPHA_ROWS = 30
BETA_ROWS = 20


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hub: needs root and starts a real JupyterHub (tests/hub)")
    config.addinivalue_line("markers", "e2e: drives a real browser (Debian chromium via Playwright)")


@dataclass
class World:
    tag: str
    home: Path
    settings: Settings
    projects: dict[str, str]
    unix_prefix: str
    password: str
    token: str
    hub: Any = None
    client: Any = None
    alice_secret: Path | None = None
    started: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.hub.url)

    def unix(self, username: str) -> str:
        from hdc_toolkit.hub.policy import unix_name

        return unix_name(username, self.unix_prefix)

    def group(self, key: str) -> str:
        from hdc_toolkit.hub.policy import project_group

        return project_group(self.projects[key])

    def audit(self, action: str | None = None) -> list[dict[str, Any]]:
        from hdc_toolkit.audit import AuditLog

        entries = AuditLog(self.settings).entries()
        return [e for e in entries if action is None or e["action"] == action]


def _write_release(settings: Settings, project_id: str, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hdc_toolkit.projects.workspace import Workspace, make_read_only

    ws = Workspace(settings, project_id).create()
    ws.data.mkdir(exist_ok=True)
    table = pa.table(
        {
            "pid": [f"{project_id[:6]}-{i:04d}" for i in range(rows)],
            "age_group": [["18-39", "40-64", "65+"][i % 3] for i in range(rows)],
            "hba1c": [40.0 + (i % 17) for i in range(rows)],
        }
    )
    pq.write_table(table, ws.data / "cohort.parquet")
    (ws.data / "manifest.json").write_text(json.dumps({"project": project_id, "tables": {"cohort": {}}}))
    make_read_only(ws.data)


def _populate_registry(settings: Settings, projects: dict[str, str]) -> None:
    from hdc_toolkit.projects.registry import Member, Project, open_registry

    registry = open_registry(settings)
    members = [
        ("alpha", "alice", "researcher"),
        ("alpha", "carol", "researcher"),
        ("alpha", "erin", "researcher"),
        ("alpha", "olav", "output_checker"),
        ("beta", "bob", "researcher"),
        ("beta", "carol", "project_leader"),
        ("beta", "erin", "researcher"),
        ("closed", "alice", "researcher"),
    ]
    with registry.write() as s:
        for key, state in (("alpha", "active"), ("beta", "active"), ("closed", "closed")):
            s.add(Project(id=projects[key], title=f"Hub test project {key}", state=state))
        s.flush()
        for key, username, role in members:
            s.add(
                Member(
                    project_id=projects[key], username=username, name=username.title(), role=role, active=True
                )
            )


def register_project(
    settings: Settings, project_id: str, title: str, members: dict[str, str], *, permit_sha256: str = "ab" * 32
) -> Any:
    """An active project with permit v1 and ``members`` ({username: role}); returns its created workspace."""
    from hdc_toolkit.projects.registry import Member, Permit, Project, open_registry
    from hdc_toolkit.projects.workspace import Workspace

    with open_registry(settings).write() as s:
        s.add(Project(id=project_id, title=title, state="active", risk_profile="acro-default"))
        s.flush()
        s.add(Permit(project_id=project_id, version=1, application_json="{}", sha256=permit_sha256, approved_by="steward"))
        for username, role in members.items():
            s.add(Member(project_id=project_id, username=username, name=username.title(), role=role, active=True))
    return Workspace(settings, project_id).create()


def _kill_processes_of(uids: set[int]) -> None:
    import psutil

    victims = []
    for proc in psutil.process_iter(["uids"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real in uids:
                victims.append(proc)
        except psutil.NoSuchProcess:
            continue
    for proc in victims:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=5)


@pytest.fixture(scope="session")
def sandbox_world() -> Iterator[World]:
    if os.geteuid() != 0:
        pytest.fail("the hub tests need root: they create Unix accounts and project groups", pytrace=False)
    import pwd

    from hdc_toolkit.hub import unix
    from hdc_toolkit.hub.client import HubClient
    from hdc_toolkit.hub.environment import DEFAULT_PREFIX, ensure_singleuser_env
    from hdc_toolkit.hub.runner import HubPorts, LocalHub, ensure_proxy, free_port
    from hdc_toolkit.projects.registry import dispose_engines

    tag = secrets.token_hex(2)
    home = Path(tempfile.mkdtemp(prefix=f"hdc-hubtest-{tag}-", dir="/tmp"))
    os.chmod(home, 0o711)
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'registry.sqlite'}")
    projects = {"alpha": f"t{tag}-alpha", "beta": f"t{tag}-beta", "closed": f"t{tag}-closed"}
    world = World(
        tag=tag,
        home=home,
        settings=settings,
        projects=projects,
        unix_prefix=f"hdct{tag}-",
        password=secrets.token_urlsafe(12),
        token=secrets.token_hex(32),
    )
    accounts: list[str] = []
    groups: list[str] = []
    try:
        env_prefix = Path(os.environ.get("HDC_SANDBOX_ENV") or DEFAULT_PREFIX)
        ensure_singleuser_env(env_prefix, refresh_toolkit=False, log=lambda m: print(f"[hub tests] {m}"))
        ensure_proxy(log=lambda m: print(f"[hub tests] {m}"))
        _populate_registry(settings, projects)
        _write_release(settings, projects["alpha"], ALPHA_ROWS)
        _write_release(settings, projects["beta"], BETA_ROWS)
        accounts = [world.unix(p) for p in PEOPLE]
        groups = [world.group("alpha"), world.group("beta")]
        report = unix.sync_unix(settings, unix_prefix=world.unix_prefix, extra_users=["dave", "olav"])
        assert set(report.groups) == set(groups), report
        assert not report.unreachable, report.unreachable
        alice = pwd.getpwnam(world.unix("alice"))
        world.alice_secret = Path(alice.pw_dir) / "secret.txt"
        world.alice_secret.write_text("alice's private notes\n")
        os.chown(world.alice_secret, alice.pw_uid, alice.pw_gid)
        os.chmod(world.alice_secret, 0o600)

        hub = LocalHub(
            state_dir=home / "sandbox",
            env={
                "HDC_HOME": str(home),
                "HDC_DATABASE_URL": settings.database_url,
                "HDC_SANDBOX_ENV": str(env_prefix),
                "HDC_SANDBOX_PASSWORD": world.password,
                "HDC_SANDBOX_UNIX_PREFIX": world.unix_prefix,
                "HDC_SANDBOX_API_TOKEN": world.token,
                "HDC_SANDBOX_REVIEW_PORT": str(free_port()),
                "HDC_CULL_TIMEOUT": "3600",
                "HDC_CULL_EVERY": "600",
            },
            ports=HubPorts.free(),
        )
        world.hub = hub
        hub.start()
        world.started["hub_seconds"] = hub.wait_ready(timeout=90)
        world.client = HubClient(hub.url, world.token)
        yield world
    finally:
        if world.hub is not None:
            world.hub.stop()
        uids = set()
        for name in accounts:
            try:
                uids.add(pwd.getpwnam(name).pw_uid)
            except KeyError:
                pass
        _kill_processes_of(uids)
        for name in accounts:
            unix.remove_user(name)
        for name in groups:
            unix.remove_group(name)
        dispose_engines()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def running_servers(sandbox_world: World) -> dict[tuple[str, str], Any]:
    """alice/alpha, bob/beta, carol/beta started through the REST API, concurrently."""
    client = sandbox_world.client
    wanted = [("alice", "alpha"), ("bob", "beta"), ("carol", "beta")]
    for user in ("alice", "bob", "carol", "dave", "olav"):
        client.create_user(user)
    with ThreadPoolExecutor(len(wanted)) as pool:
        futures = {(u, k): pool.submit(client.start_server, u, sandbox_world.projects[k]) for u, k in wanted}
        results = {key: f.result() for key, f in futures.items()}
    for key, result in results.items():
        assert result.ok, f"{key}: {result}\n{sandbox_world.hub.log_tail()}"
    return results


PROBE = r"""
import grp, json, os, pwd, stat

def attempt(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}

def rows(path):
    import pyarrow.parquet as pq
    return pq.read_table(path).num_rows

def write_work():
    path = os.path.join(os.environ["HDC_WORK_DIR"], "probe-%d.txt" % os.getpid())
    with open(path, "w") as fh:
        fh.write("x")
    st = os.stat(path)
    os.unlink(path)
    return {"mode": oct(stat.S_IMODE(st.st_mode)), "group": grp.getgrgid(st.st_gid).gr_name}

def write_data():
    with open(os.path.join(os.environ["HDC_DATA_DIR"], "tampered.txt"), "w") as fh:
        fh.write("x")

mask = os.umask(0)
os.umask(mask)
print(json.dumps({
    "user": pwd.getpwuid(os.getuid()).pw_name,
    "primary": grp.getgrgid(os.getgid()).gr_name,
    "groups": sorted(grp.getgrgid(g).gr_name for g in os.getgroups()),
    "umask": oct(mask),
    "cwd": os.getcwd(),
    "env": {k: v for k, v in os.environ.items() if k.startswith(("HDC_", "DASK_"))},
    "reads": {name: attempt(lambda p=path: rows(p)) for name, path in TARGETS.items()},
    "list_projects_dir": attempt(lambda: os.listdir(os.path.dirname(os.environ["HDC_PROJECT_DIR"]))),
    "write_data": attempt(write_data),
    "write_work": attempt(write_work),
    "other_home": attempt(lambda: open(OTHER_HOME).read()),
    "registry": attempt(lambda: open(REGISTRY, "rb").read(16) and "read"),
    "audit_log": attempt(lambda: open(AUDIT, "rb").read(16) and "read"),
}))
"""


@pytest.fixture(scope="session")
def probes(
    sandbox_world: World, running_servers: dict[tuple[str, str], Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    """What each running server can see, from one kernel execution each (in parallel)."""
    w = sandbox_world
    targets = {
        k: str(w.settings.projects_dir / p / "data" / "cohort.parquet")
        for k, p in w.projects.items()
        if k != "closed"
    }
    prelude = (
        f"TARGETS = {targets!r}\nOTHER_HOME = {str(w.alice_secret)!r}\n"
        f"REGISTRY = {str(w.home / 'registry.sqlite')!r}\nAUDIT = {str(w.settings.audit_log)!r}\n"
    )

    def run(key: tuple[str, str]) -> dict[str, Any]:
        user, project = key
        result = w.client.execute(user, w.projects[project], prelude + PROBE)
        assert result.ok, (key, result)
        data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        data["seconds"] = result.seconds
        return data

    started = time.perf_counter()
    with ThreadPoolExecutor(len(running_servers)) as pool:
        out = dict(zip(running_servers, pool.map(run, running_servers)))
    w.started["probe_seconds"] = time.perf_counter() - started
    return out
