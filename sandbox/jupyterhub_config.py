# JupyterHub configuration of the local sandbox profile (one machine; development and small deployments).
#
# Configuration only: the behaviour lives in hdc_toolkit.hub (spawner, policy, audit hooks, groups).
# Start it with `hdc sandbox up` (which sets the HDC_SANDBOX_* variables below and HDC_HOME), or by hand:
#   HDC_HOME=... HDC_SANDBOX_PASSWORD=... python -m jupyterhub -f sandbox/jupyterhub_config.py
# The production profile is sandbox/helm/values.yaml (Zero to JupyterHub on Kubernetes).
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from hdc_toolkit.hub.audit_hooks import post_auth_hook
from hdc_toolkit.hub.pages import default_url, projects_for_template
from hdc_toolkit.outputs.review_app import SERVICE_NAME as REVIEW
from hdc_toolkit.outputs.review_app import service_definition, service_roles

c = get_config()  # noqa: F821 - provided by JupyterHub

HERE = Path(__file__).resolve().parent
env = os.environ.get
state = Path(env("HDC_SANDBOX_STATE") or Path(env("HDC_HOME", ".")) / "sandbox")
state.mkdir(mode=0o700, parents=True, exist_ok=True)
singleuser = Path(env("HDC_SANDBOX_ENV") or "/opt/hdc-sandbox/venv")

# --- network: loopback only ---------------------------------------------------------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{env('HDC_SANDBOX_PORT', '8000')}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{env('HDC_SANDBOX_HUB_PORT', '8081')}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('HDC_SANDBOX_PROXY_API_PORT', '8001')}"
c.ConfigurableHTTPProxy.command = [
    env("HDC_SANDBOX_PROXY") or str(HERE / "node_modules/.bin/configurable-http-proxy")
]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.Spawner.ip = "127.0.0.1"

# --- state ---------------------------------------------------------------------------------------
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# --- people: a shared demo password, admitted only if the registry lists them in an open project ---
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = env("HDC_SANDBOX_PASSWORD")
c.Authenticator.allow_all = True  # the post-auth hook admits registry members of open projects only
c.Authenticator.post_auth_hook = post_auth_hook  # login audit + registry gate + hub groups
c.Authenticator.manage_groups = True  # hub groups proj-<id> follow the registry at each login

# --- pages: land on your project (one) or on a home page listing your projects (several) --------
c.JupyterHub.default_url = default_url
c.JupyterHub.template_paths = [str(HERE / "templates")]
c.JupyterHub.template_vars = {"hdc_projects": projects_for_template}

# --- one named server per project ---------------------------------------------------------------
# The "hdc-project" entry point (jupyterhub.spawners) is hdc_toolkit.hub.spawner:LocalProjectSpawner.
_spawner = "hdc-project" if entry_points(group="jupyterhub.spawners", name="hdc-project") else None
c.JupyterHub.spawner_class = _spawner or "hdc_toolkit.hub.spawner.LocalProjectSpawner"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 10
c.LocalProjectSpawner.unix_user_prefix = env("HDC_SANDBOX_UNIX_PREFIX", "hdc-")
c.LocalProjectSpawner.isolation = env("HDC_SANDBOX_ISOLATION", "auto")
c.Spawner.cmd = [str(singleuser / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.disable_user_config = True  # no ~/.jupyter config can undo the lock-down below
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 30
c.Spawner.mem_limit = env(
    "HDC_SANDBOX_MEM_LIMIT", "4G"
)  # advisory locally (MEM_LIMIT); enforced on Kubernetes
_public = f"http://127.0.0.1:{env('HDC_SANDBOX_PORT', '8000')}"
c.Spawner.environment = {
    "JUPYTER_PLATFORM_DIRS": "1",
    "PYTHONNOUSERSITE": "1",
    # output requests from inside the sandbox go to the review service (hdc output request / submit)
    "HDC_OUTPUTS_URL": f"{_public}/services/{REVIEW}/",
}
# the server's own $JUPYTERHUB_API_TOKEN may also reach the review service (to submit output requests)
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    f"access:services!service={REVIEW}",
]
# JupyterLab for an air-gapped sandbox: no news feed, no update checks, no extension installs.
c.Spawner.args = [
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
]

# --- services: the idle culler (and, for tests and automation, a narrowly scoped API client) ---
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={env('HDC_CULL_TIMEOUT', '3600')}",
            f"--cull-every={env('HDC_CULL_EVERY', '300')}",
        ],
    },
    # the output checkers' review page, and the submission API researchers' servers call
    service_definition(
        port=int(env("HDC_SANDBOX_REVIEW_PORT", "10101")),
        environment={k: v for k in ("HDC_HOME", "HDC_DATABASE_URL") if (v := env(k))},
    ),
]
c.JupyterHub.load_roles = [
    *service_roles(),
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    },
]
if env("HDC_SANDBOX_API_TOKEN"):
    c.JupyterHub.services.append({"name": "hdc-automation", "api_token": env("HDC_SANDBOX_API_TOKEN")})
    c.JupyterHub.load_roles.append(
        {
            "name": "hdc-automation",
            "scopes": ["admin:users", "servers", "access:servers", "read:groups", "list:groups"],
            "services": ["hdc-automation"],
        }
    )
