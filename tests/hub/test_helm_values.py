"""The production profile: the Zero to JupyterHub values parse and say what the sandbox promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HELM = Path(__file__).resolve().parents[2] / "sandbox" / "helm"


def _values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((HELM / "values.yaml").read_text())
    return data


def test_values_parse_with_the_expected_sections() -> None:
    values = _values()
    assert set(values) >= {"hub", "proxy", "singleuser", "cull", "ingress", "scheduling"}


def test_oidc_login_with_groups_and_named_servers() -> None:
    hub = _values()["hub"]
    assert hub["config"]["JupyterHub"]["authenticator_class"] == "generic-oauth"
    oauth = hub["config"]["GenericOAuthenticator"]
    assert oauth["auth_state_groups_key"] == "oauth_user.groups" and oauth["allowed_groups"]
    assert "groups" in oauth["scope"]
    assert hub["config"]["Authenticator"]["manage_groups"] is True
    assert hub["config"]["Authenticator"]["enable_auth_state"] is True
    assert hub["allowNamedServers"] is True and hub["namedServerLimitPerUser"] >= 1
    assert hub["extraEnv"]["OAUTH_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]  # never inline


def test_toolkit_hooks_are_loaded_in_the_hub_config() -> None:
    from traitlets.config import Config

    from hdc_toolkit.hub.audit_hooks import post_auth_hook
    from hdc_toolkit.hub.spawner import kube_post_stop_hook, kube_pre_spawn_hook

    code = "\n".join(_values()["hub"]["extraConfig"].values())
    c = Config()
    exec(compile(code, "hub.extraConfig", "exec"), {"c": c, "get_config": lambda: c})  # noqa: S102
    assert c.Authenticator.post_auth_hook is post_auth_hook
    assert c.KubeSpawner.pre_spawn_hook is kube_pre_spawn_hook
    assert c.KubeSpawner.post_stop_hook is kube_post_stop_hook
    assert c.ProjectPolicy.sandbox_roles == ["project_leader", "researcher"]


def test_no_egress_but_the_package_mirror_and_no_cloud_metadata() -> None:
    single = _values()["singleuser"]
    netpol = single["networkPolicy"]
    assert netpol["enabled"] is True
    rules = netpol["egressAllowRules"]
    assert rules["nonPrivateIPs"] is False and rules["privateIPs"] is False
    assert rules["cloudMetadataServer"] is False and rules["dnsPortsCloudMetadataServer"] is False
    assert rules["dnsPortsKubeSystemNamespace"] is True  # cluster DNS only
    cidrs = [peer["ipBlock"]["cidr"] for rule in netpol["egress"] for peer in rule["to"] if "ipBlock" in peer]
    assert cidrs == ["10.20.0.0/24"]  # the package mirror, nothing else by address
    assert "ingress" not in netpol or netpol["ingress"] == []
    assert single["cloudMetadata"]["blockWithIptables"] is False  # the policy blocks it (one of the two)
    assert "serviceAccountName" not in single  # no Kubernetes API token in user pods


def test_resource_limits_culler_and_hardening() -> None:
    values = _values()
    single = values["singleuser"]
    assert single["memory"]["limit"] and single["memory"]["guarantee"]
    assert single["cpu"]["limit"] and single["cpu"]["guarantee"]
    assert single["allowPrivilegeEscalation"] is False and single["uid"] >= 1000
    assert single["cmd"] == "jupyterhub-singleuser"
    assert single["storage"]["dynamic"]["pvcNameTemplate"] == "claim-{user_server}"  # home per project
    cull = values["cull"]
    assert cull["enabled"] is True and 0 < cull["timeout"] <= 3600 and cull["maxAge"] > 0
    spawner_ctx = values["hub"]["config"]["KubeSpawner"]["container_security_context"]
    assert spawner_ctx["capabilities"] == {"drop": ["ALL"]}
    assert spawner_ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["proxy"]["service"]["type"] == "ClusterIP"
    for section in (
        values["hub"]["containerSecurityContext"],
        values["proxy"]["chp"]["containerSecurityContext"],
    ):
        assert section["allowPrivilegeEscalation"] is False


def test_dask_gateway_for_scale() -> None:
    values = _values()
    assert "dask-gateway" in values["hub"]["services"]
    assert "access:services!service=dask-gateway" in values["hub"]["loadRoles"]["user"]["scopes"]
    assert values["singleuser"]["extraEnv"]["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    gateway: dict[str, Any] = yaml.safe_load((HELM / "dask-gateway-values.yaml").read_text())
    assert gateway["gateway"]["auth"]["type"] == "jupyterhub"
    config = gateway["gateway"]["extraConfig"]["hdc-project"]
    compile(config, "dask-gateway extraConfig", "exec")
    assert 'scheduler_cmd = ["dask", "scheduler"]' in config and "not a member of project" in config
