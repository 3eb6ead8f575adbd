"""The isolation matrix on a real hub: real Unix accounts, real kernels over the websocket.

| server       | groups of its processes | alpha data | beta data | alice's home |
|--------------|-------------------------|------------|-----------|--------------|
| alice/alpha  | hdct-alice, proj-alpha  | read       | denied    | (own)        |
| bob/beta     | hdct-bob, proj-beta     | denied     | read      | denied       |
| carol/beta   | hdct-carol, proj-beta   | **denied** | read      | denied       |

plus refusals (not a member 403, ambiguous default server 400, closed project 403, role 403), logins,
hub groups and the audit trail of each.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .conftest import ALPHA_ROWS, BETA_ROWS, World

pytestmark = [pytest.mark.hub, pytest.mark.slow]


def test_hub_api_needs_a_token(sandbox_world: World) -> None:
    assert requests.get(f"{sandbox_world.url}/hub/api", timeout=10).status_code == 200
    assert requests.get(f"{sandbox_world.url}/hub/api/users", timeout=10).status_code == 403
    assert sandbox_world.client.api("GET", "/users").status_code == 200


def test_servers_start_as_the_persons_own_account_with_only_the_projects_group(
    sandbox_world: World, probes: dict[tuple[str, str], dict[str, Any]]
) -> None:
    w = sandbox_world
    for (user, key), probe in probes.items():
        account = w.unix(user)
        assert probe["user"] == account
        assert probe["primary"] == account
        assert probe["groups"] == sorted([account, w.group(key)]), (user, key, probe["groups"])
        assert probe["umask"] == "0o7"
        project_dir = w.settings.projects_dir / w.projects[key]
        assert probe["cwd"] == str(project_dir / "work")
        env = probe["env"]
        assert env["HDC_PROJECT"] == w.projects[key]
        assert env["HDC_DATA_DIR"] == str(project_dir / "data")
        assert env["HDC_WORK_DIR"] == str(project_dir / "work")
        assert env["HDC_ISOLATION"] == "unix"
        assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
        assert env["DASK_LABEXTENSION__FACTORY__KWARGS__SECURITY"] == "True"
        assert "HDC_HOME" not in env and "HDC_DATABASE_URL" not in env


def test_isolation_matrix(sandbox_world: World, probes: dict[tuple[str, str], dict[str, Any]]) -> None:
    alice, bob, carol = probes[("alice", "alpha")], probes[("bob", "beta")], probes[("carol", "beta")]
    # a member of A reads A's release, not B's
    assert alice["reads"]["alpha"] == {"ok": True, "value": ALPHA_ROWS}
    assert alice["reads"]["beta"] == {"ok": False, "error": "PermissionError"}
    assert bob["reads"]["beta"] == {"ok": True, "value": BETA_ROWS}
    assert bob["reads"]["alpha"] == {"ok": False, "error": "PermissionError"}
    # a member of both, on the B server, cannot read A
    assert carol["reads"]["beta"] == {"ok": True, "value": BETA_ROWS}
    assert carol["reads"]["alpha"] == {"ok": False, "error": "PermissionError"}
    for probe in (alice, bob, carol):
        assert probe["write_data"]["ok"] is False  # the release is read-only for everyone
        assert probe["list_projects_dir"] == {"ok": False, "error": "PermissionError"}  # 0711: no listing
        assert probe["registry"] == {"ok": False, "error": "PermissionError"}
        assert probe["audit_log"] == {"ok": False, "error": "PermissionError"}
    # homes are private
    assert bob["other_home"] == {"ok": False, "error": "PermissionError"}
    assert carol["other_home"] == {"ok": False, "error": "PermissionError"}
    # the work folder is shared with the project group (setgid, umask 007)
    assert alice["write_work"] == {
        "ok": True,
        "value": {"mode": "0o660", "group": sandbox_world.group("alpha")},
    }
    assert carol["write_work"]["value"]["group"] == sandbox_world.group("beta")


def test_refusals(sandbox_world: World, running_servers: Any) -> None:
    w, c = sandbox_world, sandbox_world.client
    cases = [
        ("dave", w.projects["alpha"], 403, "is not one of your projects"),  # not a member
        ("dave", "", 403, "not a member of any open project"),  # default server, no project
        ("carol", "", 400, "several projects"),  # ambiguous default server
        ("alice", w.projects["beta"], 403, "is not one of your projects"),  # other project
        ("alice", w.projects["closed"], 403, "is closed"),  # project not open
        ("olav", w.projects["alpha"], 403, "does not work on the project's data"),  # role
        ("alice", "no-such-project", 403, "is not one of your projects"),
    ]
    for user, server, status, text in cases:
        result = c.start_server(user, server)
        assert result.status == status, (user, server, result)
        assert text in result.message, (user, server, result.message)
        model = c.user(user)["servers"].get(server, {})
        assert not model.get("ready") and not model.get("pending")
    refused = {(e["actor"], e["details"]["server"]): e for e in w.audit("sandbox.spawn_refused")}
    assert refused[("dave", w.projects["alpha"])]["details"]["reason"] == "not_a_member"
    assert refused[("dave", w.projects["alpha"])]["project"] == w.projects["alpha"]
    assert refused[("dave", "")]["details"]["reason"] == "no_project"
    assert refused[("carol", "")]["details"] | {"status": 400} == refused[("carol", "")]["details"]
    assert refused[("carol", "")]["details"]["reason"] == "ambiguous"
    assert refused[("alice", w.projects["closed"])]["details"]["reason"] == "project_not_open"
    assert refused[("olav", w.projects["alpha"])]["details"]["reason"] == "role"
    assert refused[("alice", "no-such-project")]["project"] is None


def _login(url: str, username: str, password: str) -> tuple[requests.Session, requests.Response]:
    session = requests.Session()
    session.get(f"{url}/hub/login", timeout=10)
    response = session.post(
        f"{url}/hub/login",
        data={"username": username, "password": password, "_xsrf": session.cookies.get("_xsrf", "")},
        allow_redirects=False,
        timeout=30,
    )
    return session, response


def test_login_is_audited_and_syncs_hub_groups(sandbox_world: World) -> None:
    w = sandbox_world
    session, ok = _login(w.url, "carol", w.password)
    assert ok.status_code == 302, ok.text[:500]
    assert ok.headers["Location"].endswith("/hub/home")  # several projects: the home page lists them
    assert sorted(w.client.user("carol")["groups"]) == sorted([w.group("alpha"), w.group("beta")])
    home = session.get(f"{w.url}/hub/home", timeout=30)
    assert home.status_code == 200 and "Your projects" in home.text
    for key in ("alpha", "beta"):
        assert f'href="/hub/spawn/carol/{w.projects[key]}"' in home.text
    assert w.projects["closed"] not in home.text
    _, refused = _login(w.url, "dave", w.password)
    assert refused.status_code == 403
    _, wrong = _login(w.url, "bob", "not-the-password")
    assert wrong.status_code != 302
    _, single = _login(w.url, "bob", w.password)  # one project: straight to its server
    assert single.headers["Location"].endswith(f"/hub/spawn/bob/{w.projects['beta']}")
    logins = [e for e in w.audit("sandbox.login") if e["actor"] == "carol"]
    assert logins and sorted(logins[-1]["details"]["projects"]) == sorted(
        [w.projects["alpha"], w.projects["beta"]]
    )
    assert logins[-1]["details"]["remote_ip"] == "127.0.0.1"
    assert [e for e in w.audit("sandbox.login_refused") if e["actor"] == "dave"]


def test_spawn_syncs_hub_groups_from_the_registry(sandbox_world: World, running_servers: Any) -> None:
    w = sandbox_world
    assert w.client.user("alice")["groups"] == [w.group("alpha")]  # alice never logged in
    assert w.client.user("bob")["groups"] == [w.group("beta")]


def test_jupyterlab_is_locked_down(sandbox_world: World, running_servers: Any) -> None:
    c = sandbox_world.client
    base = c.server_url("alice", sandbox_world.projects["alpha"])
    news = c.session.get(f"{base}lab/api/news", timeout=10)
    assert news.status_code == 200 and news.json()["news"] == []
    update = c.session.get(f"{base}lab/api/update", timeout=10)
    assert update.status_code == 200 and update.json()["notification"] is None
    extensions = c.session.get(f"{base}lab/api/extensions", timeout=10)
    assert extensions.status_code == 200
    installable = c.session.post(
        f"{base}lab/api/extensions", json={"cmd": "install", "extension_name": "x"}, timeout=10
    )
    assert installable.status_code >= 400 or installable.json().get("status") != "ok"


def test_start_and_stop_are_audited(sandbox_world: World, running_servers: Any, probes: Any) -> None:
    w = sandbox_world
    started = {(e["actor"], e["project"]): e for e in w.audit("sandbox.server_started")}
    for user, key in running_servers:
        entry = started[(user, w.projects[key])]
        assert entry["details"]["unix_user"] == w.unix(user)
        assert entry["details"]["groups"] == [w.group(key)]
        assert entry["details"]["isolation"] == "unix"
    seconds = w.client.stop_server("bob", w.projects["beta"])
    assert not w.client.user("bob")["servers"].get(w.projects["beta"], {}).get("ready")
    stopped = [e for e in w.audit("sandbox.server_stopped") if e["actor"] == "bob"]
    assert stopped and stopped[-1]["project"] == w.projects["beta"]
    assert seconds < 10, f"stop took {seconds:.1f} s (SIGINT ignored?)"
    # the audit log stays a valid hash chain with all these hub entries in it
    from hdc_toolkit.audit import AuditLog

    run = AuditLog(w.settings).verify()
    assert run.passed, run.to_dict()


DASK_PROBE = r"""
from distributed import Client, LocalCluster
try:
    LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
    print("plain: started")
except Exception as exc:
    print("plain: refused", type(exc).__name__)
with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, security=True) as cluster:
    with Client(cluster) as client:
        print("tls:", cluster.scheduler_address.split("://")[0], client.submit(lambda: __import__("os").getuid()).result())
"""


def test_dask_in_the_sandbox_requires_tls(sandbox_world: World, running_servers: Any) -> None:
    """A plain-TCP cluster fails to start in a project server; a TLS one runs as the server's account."""
    import pwd

    w = sandbox_world
    result = w.client.execute("alice", w.projects["alpha"], DASK_PROBE, timeout=120)
    assert result.ok, result
    lines = result.stdout.strip().splitlines()
    assert "plain: refused RuntimeError" in lines
    assert f"tls: tls {pwd.getpwnam(w.unix('alice')).pw_uid}" in lines
