"""Submitting output requests through the review service, behind a real JupyterHub.

A minimal hub of this module's own, as in ``test_review_page`` (no root, no single-user server): the
review service configured as production wires it, plus a test-only service token that creates hub
users and their API tokens. Each call uses the *user's own* hub token, with the scope a sandbox
server's ``$JUPYTERHUB_API_TOKEN`` gets (``access:services!service=hdc-review``).

People of project ``p2026-901-submit``: ``alice`` (researcher), ``carol`` (project leader), ``olav``
(output checker); ``dave`` has no role anywhere.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hdc_toolkit.config import Settings

from .conftest import register_project
from .test_review_page import HUB_CONFIG, _wait_for_service

PROJECT = "p2026-901-submit"
SCOPE = "access:services!service=hdc-review"
MAX_BYTES = 4096
SUBMIT_HUB_CONFIG = (
    HUB_CONFIG.replace(
        'environment={"HDC_HOME": env("HDC_HOME"), "HDC_DATABASE_URL": env("HDC_DATABASE_URL")},',
        'environment={"HDC_HOME": env("HDC_HOME"), "HDC_DATABASE_URL": env("HDC_DATABASE_URL"), '
        f'"HDC_OUTPUTS_SUBMIT_MAX_BYTES": "{MAX_BYTES}"}},',
    )
    + """
c.JupyterHub.services.append({"name": "hdc-test-admin", "api_token": env("HDC_TEST_ADMIN_TOKEN")})
c.JupyterHub.load_roles.append(
    {"name": "hdc-test-admin", "scopes": ["admin:users", "tokens"], "services": ["hdc-test-admin"]}
)
"""
)
assert "HDC_OUTPUTS_SUBMIT_MAX_BYTES" in SUBMIT_HUB_CONFIG


@dataclass
class SubmitWorld:
    settings: Settings
    hub: Any
    admin_token: str
    workspace: Path
    outside: Path

    @property
    def api_url(self) -> str:
        return f"{self.hub.url}/services/hdc-review/api/requests"

    def hub_api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"{self.hub.url}/hub/api/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {self.admin_token}"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")

    def token_for(self, user: str, scopes: list[str] | None = None) -> str:
        """A hub API token of ``user``, with the scope a sandbox server's own token has."""
        reply = self.hub_api("POST", f"users/{user}/tokens", {"scopes": scopes or [SCOPE], "note": "test"})
        return str(reply["token"])

    def post(self, body: Any, *, token: str | None, raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"token {token}"
        req = urllib.request.Request(
            self.api_url,
            data=raw if raw is not None else json.dumps(body).encode(),
            method="POST",
            headers=headers,
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            text = exc.read()
            try:
                return exc.code, json.loads(text)
            except ValueError:
                return exc.code, {"raw": text.decode("utf-8", "replace")[:500]}

    def requests(self) -> list[Any]:
        from hdc_toolkit.outputs.airlock import Airlock

        return Airlock(self.settings).requests(project=PROJECT)

    def audit(self) -> list[tuple[str, str]]:
        from hdc_toolkit.audit import AuditLog

        return [(e["action"], e["actor"]) for e in AuditLog(self.settings).entries(project=PROJECT)]


def _populate(settings: Settings, outside: Path) -> Path:
    from hdc_toolkit.outputs.tables import frequency_table

    ws = register_project(
        settings,
        PROJECT,
        "Submission test",
        {"alice": "researcher", "carol": "project_leader", "olav": "output_checker"},
        permit_sha256="cd" * 32,
    )
    people = pd.DataFrame({"county": ["Trøndelag"] * 40 + ["Nordland"] * 24, "sex": ["F", "M"] * 32})
    frequency_table(people, "county", "sex", name="county_by_sex").save(ws.root / "outputs")
    (ws.root / "work" / "notes.txt").write_text("how the table was made\n")
    (ws.root / "outputs" / "big.csv").write_text("a,b\n" + "1,2\n" * MAX_BYTES)
    ws.data.mkdir(exist_ok=True)
    (ws.data / "cohort.csv").write_text("pid,age\nx-1,40\n")
    outside.write_text("SECRET-OUTSIDE-CONTENT\n")
    (ws.root / "outputs" / "escape.csv").symlink_to(outside)
    (ws.root / "outputs" / "to-data.csv").symlink_to(ws.data / "cohort.csv")
    return ws.root


@pytest.fixture(scope="module")
def submit_world() -> Iterator[SubmitWorld]:
    from hdc_toolkit.hub.runner import HubPorts, LocalHub, ensure_proxy, free_port
    from hdc_toolkit.projects.registry import dispose_engines

    home = Path(tempfile.mkdtemp(prefix="hdc-submittest-"))
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'registry.sqlite'}")
    config = home / "jupyterhub_config.py"
    config.write_text(SUBMIT_HUB_CONFIG)
    admin_token = secrets.token_hex(32)
    outside = home / "outside-secret.csv"
    hub = None
    try:
        workspace = _populate(settings, outside)
        hub = LocalHub(
            state_dir=home / "hub",
            env={
                "HDC_HOME": str(home),
                "HDC_DATABASE_URL": settings.database_url,
                "HDC_SANDBOX_PASSWORD": secrets.token_urlsafe(12),
                "HDC_TEST_PROXY": str(ensure_proxy(log=lambda m: print(f"[submit test] {m}"))),
                "HDC_TEST_REVIEW_PORT": str(free_port()),
                "HDC_TEST_ADMIN_TOKEN": admin_token,
            },
            ports=HubPorts.free(),
            config=config,
        )
        hub.start()
        hub.wait_ready(timeout=60)
        world = SubmitWorld(settings, hub, admin_token, workspace, outside)
        _wait_for_service(f"{hub.url}/services/hdc-review/", hub)
        for user in ("alice", "carol", "olav", "dave"):
            world.hub_api("POST", f"users/{user}")
        yield world
    finally:
        if hub is not None:
            hub.stop()
        dispose_engines()
        shutil.rmtree(home, ignore_errors=True)


def _body(*files: str, context: str = "Table 1: patients by county and sex") -> dict[str, Any]:
    return {"project": PROJECT, "files": list(files), "context": context}


def test_a_member_submits_from_the_workspace_with_their_own_token(submit_world: SubmitWorld) -> None:
    from hdc_toolkit.outputs.airlock import Airlock

    w = submit_world
    status, reply = w.post(_body("outputs/county_by_sex.csv"), token=w.token_for("alice"))
    assert status == 201, reply
    assert reply["author"] == "alice" and reply["state"] == "submitted" and reply["project"] == PROJECT
    assert reply["files"] == ["county_by_sex.csv"] and set(reply["checks"]) == {"county_by_sex.csv"}

    req = Airlock(w.settings).get(reply["id"])
    assert req.author == "alice" and req.state == "submitted" and req.verdict == reply["verdict"]
    assert Path(req.staging_path, "files", "county_by_sex.csv").is_file()  # staged, as by the CLI
    record = Airlock(w.settings).output_record(req.id)
    assert record["request"]["author"] == "alice" and record["permit"]["sha256"] == "cd" * 32
    assert ("output.requested", "alice") in w.audit()

    # a project leader may request too; files from work/ and a relative ./ path are fine
    status, reply = w.post(_body("./work/notes.txt"), token=w.token_for("carol"))
    assert status == 201, reply
    assert Airlock(w.settings).get(reply["id"]).author == "carol"


def test_the_client_submits_as_a_sandbox_server_would(submit_world: SubmitWorld) -> None:
    from hdc_toolkit.outputs import submit
    from hdc_toolkit.outputs.submission import SubmissionError, in_single_user_server

    w = submit_world
    environ = {
        "JUPYTERHUB_API_TOKEN": w.token_for("alice"),
        "JUPYTERHUB_USER": "alice",
        "HDC_OUTPUTS_URL": f"{w.hub.url}/services/hdc-review",
        "HDC_PROJECT": PROJECT,
        "HDC_PROJECT_DIR": str(w.workspace),
    }
    assert in_single_user_server(environ)
    reply = submit([w.workspace / "outputs" / "county_by_sex.csv"], context="client test", environ=environ)
    assert reply["author"] == "alice" and reply["state"] == "submitted"

    with pytest.raises(SubmissionError) as err:
        submit(["outputs/nope.csv"], context="x", environ=environ)
    assert err.value.status == 404 and err.value.field == "files[0]"

    # and the CLI goes through the service when it runs inside a server
    from hdc_toolkit.cli import main

    before = len(w.requests())
    rc = main(
        ["output", "request", str(w.workspace / "work" / "notes.txt"), "--context", "cli in the sandbox"],
        environ={**environ, "HDC_HOME": "/nonexistent-hdc-home"},  # it never touches a registry itself
    )
    assert rc in (0, 1)
    newest = w.requests()[0]
    assert (
        len(w.requests()) == before + 1
        and newest.author == "alice"
        and newest.context == "cli in the sandbox"
    )


@pytest.mark.parametrize("who", ["dave", "olav"])
def test_people_who_may_not_request_get_403(submit_world: SubmitWorld, who: str) -> None:
    w = submit_world
    before = len(w.requests())
    status, reply = w.post(_body("outputs/county_by_sex.csv"), token=w.token_for(who))
    assert status == 403, reply
    assert reply["error"]["field"] == "project"
    assert len(w.requests()) == before
    if who == "olav":  # a member without an author role: refused and audited, as on the command line
        assert ("output.refused", "olav") in w.audit()


def test_an_unknown_project_reads_as_not_a_member(submit_world: SubmitWorld) -> None:
    w = submit_world
    status, reply = w.post(
        {"project": "p2026-999-nothere", "files": ["outputs/x.csv"], "context": "x"},
        token=w.token_for("alice"),
    )
    assert status == 403, reply


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("../../registry.sqlite", 400),
        ("outputs/../../../registry.sqlite", 400),
        ("outputs/../data/cohort.csv", 400),
        ("/etc/passwd", 400),
        ("ABSOLUTE", 400),
        ("outputs/escape.csv", 400),  # symlink out of HDC_HOME's workspace
        ("outputs/to-data.csv", 400),  # symlink into the read-only release
        ("data/cohort.csv", 400),  # not a request folder
        ("outputs", 400),  # the folder itself
        ("outputs/big.csv", 400),  # over the size limit
        ("outputs/missing.csv", 404),
        ("work/nothing/here.csv", 404),
    ],
)
def test_paths_outside_the_request_folders_are_refused_and_nothing_is_recorded(
    submit_world: SubmitWorld, path: str, status: int
) -> None:
    w = submit_world
    if path == "ABSOLUTE":
        path = str(w.workspace / "outputs" / "county_by_sex.csv")
    before, audit_before = len(w.requests()), len(w.audit())
    got, reply = w.post(_body(path), token=w.token_for("alice"))
    assert got == status, reply
    assert reply["error"]["field"] == "files[0]"
    text = json.dumps(reply)
    assert "SECRET-OUTSIDE-CONTENT" not in text and "x-1" not in text  # never file contents
    assert len(w.requests()) == before and len(w.audit()) == audit_before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"files": ["outputs/county_by_sex.csv"], "context": "x"}, "project"),
        ({"project": "../etc", "files": ["outputs/county_by_sex.csv"], "context": "x"}, "project"),
        ({"project": PROJECT, "files": [], "context": "x"}, "files"),
        ({"project": PROJECT, "files": "outputs/county_by_sex.csv", "context": "x"}, "files"),
        ({"project": PROJECT, "files": ["outputs/county_by_sex.csv"], "context": "  "}, "context"),
        ([1, 2], "body"),
    ],
)
def test_bad_input_is_400_naming_the_field(submit_world: SubmitWorld, body: Any, field: str) -> None:
    status, reply = submit_world.post(body, token=submit_world.token_for("alice"))
    assert status == 400 and reply["error"]["field"] == field, reply


def test_not_json_is_400(submit_world: SubmitWorld) -> None:
    status, reply = submit_world.post(None, token=submit_world.token_for("alice"), raw=b"files=x")
    assert status == 400 and reply["error"]["field"] == "body", reply


@pytest.mark.parametrize("token", ["none", "bogus", "wrong-scope"])
def test_a_request_without_a_valid_token_is_refused(submit_world: SubmitWorld, token: str) -> None:
    w = submit_world
    value = {
        "none": None,
        "bogus": secrets.token_hex(16),
        "wrong-scope": w.token_for("alice", ["read:users:name!user"]),
    }[token]
    before = len(w.requests())
    status, reply = w.post(_body("outputs/county_by_sex.csv"), token=value)
    assert status in (401, 403), reply
    assert len(w.requests()) == before


def test_the_service_token_of_another_service_is_not_a_person(submit_world: SubmitWorld) -> None:
    status, _ = submit_world.post(_body("outputs/county_by_sex.csv"), token=submit_world.admin_token)
    assert status in (401, 403)


def test_cookies_alone_never_submit(submit_world: SubmitWorld) -> None:
    """A browser POST (no token header) is refused before any user lookup: the XSRF check applies."""
    w = submit_world
    req = urllib.request.Request(
        w.api_url,
        data=json.dumps(_body("outputs/county_by_sex.csv")).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Cookie": "jupyterhub-session-id=x; hdc-review=forged"},
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code == 403


def test_environment_of_sandbox_servers_names_the_service() -> None:
    """The sandbox config sets HDC_OUTPUTS_URL and lets the server's token reach the service."""
    from traitlets.config import Config

    config = Config()
    source = (Path(__file__).resolve().parents[2] / "sandbox" / "jupyterhub_config.py").read_text()
    env = {"HDC_SANDBOX_PORT": "8123", "HDC_SANDBOX_STATE": tempfile.mkdtemp(prefix="hdc-cfg-")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        exec(  # noqa: S102
            compile(source, "jupyterhub_config.py", "exec"),
            {
                "get_config": lambda: config,
                "__file__": str(Path(__file__).resolve().parents[2] / "sandbox" / "jupyterhub_config.py"),
            },
        )
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(env["HDC_SANDBOX_STATE"], ignore_errors=True)
    assert config.Spawner.environment["HDC_OUTPUTS_URL"] == "http://127.0.0.1:8123/services/hdc-review/"
    assert SCOPE in config.Spawner.server_token_scopes
    assert "hdc-review" in [s["name"] for s in config.JupyterHub.services]
