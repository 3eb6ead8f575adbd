"""The KubeSpawner branch of the policy, offline: a real KubeSpawner object, no cluster.

``load_config`` and ``shared_client`` (the Kubernetes API client) are patched out; the hook runs on a
real ``KubeSpawner`` and the pod manifest KubeSpawner itself builds is checked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from hdc_toolkit.config import Settings
from hdc_toolkit.hub.policy import project_gid

from .conftest import _populate_registry


@pytest.fixture
def kube_home(tmp_path: Path) -> Iterator[Settings]:
    from hdc_toolkit.projects.registry import dispose_engines

    settings = Settings(
        home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'home' / 'registry.sqlite'}"
    )
    _populate_registry(settings, {"alpha": "alpha", "beta": "beta", "closed": "gamma"})
    yield settings
    dispose_engines()


def _spawner(settings: Settings, user: str, server: str) -> Any:
    import kubespawner.spawner as ks
    from traitlets.config import Config

    config = Config()
    config.ProjectPolicy.hdc_home = str(settings.home)
    config.KubeSpawner.volumes = [{"name": "shared-docs", "configMap": {"name": "docs"}}]
    config.KubeSpawner.extra_labels = {"team": "hdc"}
    config.KubeSpawner.environment = {"TZ": "Europe/Oslo"}
    config.KubeSpawner.cmd = ["jupyterhub-singleuser"]  # as z2jh's singleuser.cmd sets it
    fake_user = SimpleNamespace(name=user, id=7, url=f"/user/{user}/", escaped_name=user, groups=[])
    with mock.patch.object(ks, "load_config"), mock.patch.object(ks, "shared_client"):
        spawner = ks.KubeSpawner(
            _mock=True,
            user=fake_user,
            orm_spawner=SimpleNamespace(name=server, server=None, state=None, user_options=None),
            config=config,
        )
    assert spawner.name == server
    spawner.api_token = "token-for-test"
    return spawner


def test_hook_mounts_the_project_and_labels_the_pod(kube_home: Settings) -> None:
    from hdc_toolkit.hub.spawner import kube_pre_spawn_hook

    spawner = _spawner(kube_home, "carol", "beta")
    asyncio.run(kube_pre_spawn_hook(spawner))

    assert spawner.volumes == [
        {"name": "shared-docs", "configMap": {"name": "docs"}},  # configured volumes are kept
        {"name": "project-data", "persistentVolumeClaim": {"claimName": "proj-beta-data", "readOnly": True}},
        {"name": "project-work", "persistentVolumeClaim": {"claimName": "proj-beta-work"}},
    ]
    mounts = {m["mountPath"]: m for m in spawner.volume_mounts}
    assert mounts["/srv/project/data"] == {
        "name": "project-data", "mountPath": "/srv/project/data", "subPath": "data", "readOnly": True,
    }  # fmt: skip
    assert mounts["/srv/project/synthetic"]["readOnly"] is True
    assert (
        "readOnly" not in mounts["/srv/project/work"]
        and mounts["/srv/project/work"]["name"] == "project-work"
    )
    assert mounts["/srv/project/outputs"]["subPath"] == "outputs"
    assert spawner.supplemental_gids == [project_gid("beta")]
    assert spawner.extra_labels == {"team": "hdc", "hdc.example.org/project": "beta"}
    assert spawner.environment["TZ"] == "Europe/Oslo"
    assert spawner.environment["HDC_PROJECT"] == "beta"
    assert spawner.environment["HDC_DATA_DIR"] == "/srv/project/data"
    assert spawner.environment["HDC_ISOLATION"] == "kubernetes"
    assert spawner.environment["DASK_LABEXTENSION__FACTORY__KWARGS__SECURITY"] == "True"
    assert spawner.working_dir == "/srv/project/work"

    pod = _as_dict(asyncio.run(spawner.get_pod_manifest()))  # the manifest KubeSpawner would send
    assert pod["metadata"]["labels"]["hdc.example.org/project"] == "beta"
    assert project_gid("beta") in pod["spec"]["securityContext"]["supplementalGroups"]
    claims = {
        v["name"]: v["persistentVolumeClaim"] for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v
    }
    assert claims["project-data"] == {"claimName": "proj-beta-data", "readOnly": True}
    assert claims["project-work"] == {"claimName": "proj-beta-work"}
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HDC_PROJECT"] == "beta" and env["HDC_WORK_DIR"] == "/srv/project/work"
    assert container["workingDir"] == "/srv/project/work"
    assert "--ContentsManager.preferred_dir=work" in container["args"]
    read_only = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert read_only["/srv/project/data"] is True and read_only["/srv/project/synthetic"] is True
    assert read_only["/srv/project/work"] is False
    # the pod never gets a Kubernetes API token
    assert pod["spec"]["automountServiceAccountToken"] is False


def _as_dict(manifest: Any) -> dict[str, Any]:
    from kubernetes_asyncio.client import ApiClient

    async def convert() -> dict[str, Any]:
        async with ApiClient() as api:
            out: dict[str, Any] = api.sanitize_for_serialization(manifest)
            return out

    return asyncio.run(convert())


def test_hook_refuses_and_audits(kube_home: Settings) -> None:
    from hdc_toolkit.audit import AuditLog
    from hdc_toolkit.hub.spawner import SpawnException, kube_post_stop_hook, kube_pre_spawn_hook

    with pytest.raises(SpawnException) as ambiguous:
        asyncio.run(kube_pre_spawn_hook(_spawner(kube_home, "carol", "")))
    assert ambiguous.value.status_code == 400
    with pytest.raises(SpawnException) as stranger:
        asyncio.run(kube_pre_spawn_hook(_spawner(kube_home, "dave", "alpha")))
    assert stranger.value.status_code == 403
    single = _spawner(kube_home, "alice", "")
    asyncio.run(kube_pre_spawn_hook(single))  # one project: the default server means it
    assert single.environment["HDC_PROJECT"] == "alpha"
    asyncio.run(kube_post_stop_hook(single))
    actions = [(e["action"], e["actor"], e["project"]) for e in AuditLog(kube_home).entries()]
    assert ("sandbox.spawn_refused", "carol", None) in actions
    assert ("sandbox.spawn_refused", "dave", "alpha") in actions
    assert ("sandbox.server_started", "alice", "alpha") in actions
    assert ("sandbox.server_stopped", "alice", "alpha") in actions


def test_dict_form_volumes_are_extended_not_replaced(kube_home: Settings) -> None:
    from hdc_toolkit.hub.policy import ProjectPolicy
    from hdc_toolkit.hub.spawner import configure_kube_spawner

    spawner = _spawner(kube_home, "bob", "beta")
    spawner.volumes = {"00-docs": {"name": "shared-docs", "configMap": {"name": "docs"}}}
    ctx = ProjectPolicy(hdc_home=str(kube_home.home)).resolve("bob", "beta")
    pod = configure_kube_spawner(spawner, ctx)
    assert "00-docs" in spawner.volumes and len(spawner.volumes) == 3
    assert str(pod.data_dir) == "/srv/project/data"
