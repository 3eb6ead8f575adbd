"""The project policy without a hub: selection rules, names, gids, registry-backed resolution, login hook."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hdc_toolkit.config import Settings
from hdc_toolkit.hub.groups import merge_groups
from hdc_toolkit.hub.policy import (
    GID_BASE,
    GID_SPAN,
    ProjectPolicy,
    ProjectRefused,
    choose_project,
    project_gid,
    project_group,
    unix_name,
)

from .conftest import _populate_registry


def test_named_server_must_be_one_of_the_persons_projects() -> None:
    assert choose_project("carol", "beta", ["alpha", "beta"]) == "beta"
    with pytest.raises(ProjectRefused) as refused:
        choose_project("alice", "beta", ["alpha"])
    assert refused.value.status_code == 403 and refused.value.reason == "not_a_member"
    assert str(refused.value) == "Server name 'beta' is not one of your projects: alpha"


def test_default_server_only_for_exactly_one_project() -> None:
    assert choose_project("alice", "", ["alpha"]) == "alpha"
    with pytest.raises(ProjectRefused) as ambiguous:
        choose_project("carol", "", ["alpha", "beta"])
    assert ambiguous.value.status_code == 400 and ambiguous.value.reason == "ambiguous"
    assert "several projects (alpha, beta)" in ambiguous.value.message
    with pytest.raises(ProjectRefused) as nothing:
        choose_project("dave", "", [])
    assert nothing.value.status_code == 403 and nothing.value.reason == "no_project"


def test_unix_and_group_names_fit_and_are_stable() -> None:
    assert project_group("p2026-001-diabetes") == "proj-p2026-001-diabetes"
    assert unix_name("ingberg", "hdc-") == "hdc-ingberg"
    long_id = "p2026-001-a-very-long-project-identifier"  # 40 characters: the id maximum
    group = project_group(long_id)
    assert len(group) <= 32 and group.startswith("proj-p2026-001") and group == project_group(long_id)
    assert project_group(long_id) != project_group(long_id[:-1] + "x")
    assert len(unix_name("u" * 32, "hdc-")) <= 32
    gid = project_gid("p2026-001-diabetes")
    assert GID_BASE <= gid < GID_BASE + GID_SPAN and gid == project_gid("p2026-001-diabetes")
    assert project_gid("p2026-001-diabetes") != project_gid("p2026-002-diabetes")


def test_merge_groups_keeps_identity_provider_groups() -> None:
    assert merge_groups(["staff", "proj-old"], ["proj-a", "proj-b"]) == ["proj-a", "proj-b", "staff"]
    assert merge_groups([], []) == []


@pytest.fixture
def registry_home(tmp_path: Path) -> Settings:
    from hdc_toolkit.projects.registry import dispose_engines

    settings = Settings(
        home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'home' / 'registry.sqlite'}"
    )
    _populate_registry(settings, {"alpha": "alpha", "beta": "beta", "closed": "gamma"})
    yield settings
    dispose_engines()


def test_resolve_reads_the_registry(registry_home: Settings) -> None:
    policy = ProjectPolicy(hdc_home=str(registry_home.home))
    assert [m.project for m in policy.memberships("carol")] == ["alpha", "beta"]
    assert [m.project for m in policy.memberships("alice")] == ["alpha"]  # gamma is closed
    assert policy.memberships("olav") == []  # output checker: no sandbox role
    ctx = policy.resolve("carol", "beta")
    assert (ctx.project, ctx.role, ctx.group) == ("beta", "project_leader", "proj-beta")
    assert ctx.all_projects == ("alpha", "beta")
    assert str(ctx.project_dir) == str(registry_home.projects_dir / "beta")
    env = ctx.environment()
    assert env["HDC_PROJECT"] == "beta" and env["HDC_DATA_DIR"].endswith("/projects/beta/data")
    assert env["DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION"] == "True"
    assert policy.resolve("alice", "").project == "alpha"
    with pytest.raises(ProjectRefused) as closed:
        policy.resolve("alice", "gamma")
    assert (closed.value.reason, closed.value.project) == ("project_not_open", "gamma")
    with pytest.raises(ProjectRefused) as role:
        policy.resolve("olav", "alpha")
    assert (role.value.reason, role.value.status_code) == ("role", 403)
    with pytest.raises(ProjectRefused) as stranger:
        policy.resolve("dave", "alpha")
    assert (stranger.value.reason, stranger.value.project) == ("not_a_member", "alpha")
    with pytest.raises(ProjectRefused) as unknown:
        policy.resolve("dave", "nope")
    assert unknown.value.project is None


def test_roles_and_states_are_configurable(registry_home: Settings) -> None:
    policy = ProjectPolicy(
        hdc_home=str(registry_home.home),
        sandbox_roles=["researcher", "output_checker"],
        spawnable_states=["active", "closed"],
    )
    assert [m.project for m in policy.memberships("olav")] == ["alpha"]
    assert [m.project for m in policy.memberships("alice")] == ["alpha", "gamma"]


def test_login_hook_admits_members_audits_and_sets_groups(registry_home: Settings) -> None:
    from tornado import web

    from hdc_toolkit.audit import AuditLog
    from hdc_toolkit.hub.audit_hooks import post_auth_hook

    authenticator = _configurable(registry_home)
    handler = SimpleNamespace(request=SimpleNamespace(remote_ip="10.1.2.3"))
    model = asyncio.run(
        post_auth_hook(authenticator, handler, {"name": "carol", "groups": ["staff", "proj-x"]})
    )
    assert model["groups"] == ["proj-alpha", "proj-beta", "staff"]
    with pytest.raises(web.HTTPError) as refused:
        asyncio.run(post_auth_hook(authenticator, handler, {"name": "dave", "groups": []}))
    assert refused.value.status_code == 403
    admin = asyncio.run(post_auth_hook(authenticator, handler, {"name": "root-admin", "admin": True}))
    assert admin["groups"] == []
    entries = AuditLog(registry_home).entries()
    actions = [(e["action"], e["actor"]) for e in entries]
    assert ("sandbox.login", "carol") in actions and ("sandbox.login_refused", "dave") in actions
    carol = next(e for e in entries if e["actor"] == "carol")
    assert carol["details"] == {
        "projects": ["alpha", "beta"],
        "authenticator": "Authenticator",
        "remote_ip": "10.1.2.3",
    }
    assert AuditLog(registry_home).verify().passed


def _configurable(settings: Settings):  # type: ignore[no-untyped-def]
    """A real (traitlets) Authenticator whose config points the policy at ``settings``."""
    from jupyterhub.auth import Authenticator
    from traitlets.config import Config

    config = Config()
    config.ProjectPolicy.hdc_home = str(settings.home)
    return Authenticator(config=config, manage_groups=True)


def test_sandbox_cli_status_and_down_without_a_hub(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hdc_toolkit.cli import main

    env = {"HDC_HOME": str(tmp_path / "home")}
    assert main(["sandbox", "status"], environ=env) == 3
    assert main(["sandbox", "down"], environ=env) == 0
    assert capsys.readouterr().out.count("not running") == 2


def test_singleuser_environment_is_locked_down_by_files() -> None:
    import json

    from hdc_toolkit.hub.environment import MANAGED_FILES, REMOVE, singleuser_requirements

    overrides = json.loads(MANAGED_FILES["share/jupyter/lab/settings/overrides.json"])
    assert overrides["@jupyterlab/apputils-extension:notification"] == {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
    assert overrides["@jupyterlab/extensionmanager-extension:plugin"] == {"enabled": False}
    dask = yaml_load(MANAGED_FILES["etc/dask/hdc-sandbox.yaml"])
    assert dask["distributed"]["comm"]["require-encryption"] is True
    assert dask["labextension"]["factory"]["kwargs"]["security"] is True
    requirements = singleuser_requirements()
    assert any(r.startswith("jupyterhub==") for r in requirements)
    assert not any("server-proxy" in r or "labextension" in r for r in requirements)
    assert "rfc3987-syntax" in REMOVE


def yaml_load(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)
