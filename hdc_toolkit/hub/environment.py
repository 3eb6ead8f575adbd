"""The single-user environment: the Python that project servers and kernels run in.

Spawned servers run as the researchers' own Unix accounts, so their interpreter must be executable
by other users. The toolkit's development virtualenv usually is not: on these machines it points at
an interpreter under root's 0700 home ("Permission denied … jupyterhub-singleuser",
jupyterhub/jupyterhub#2442). The sandbox therefore gets its own environment in a world-readable
prefix, by default ``/opt/hdc-sandbox/venv``, made from the system's Python (``/usr/bin/python3``):

* ``jupyterhub`` at exactly the hub's version (single-user servers must match the hub's major
  version), ``jupyterlab`` at the hub host's version, ``ipykernel``, ``pyarrow``, ``pandas``,
  ``dask[distributed]``, and the toolkit itself (not editable: a copy, so the checkout's location and
  permissions do not matter);
* **not** jupyter-server-proxy (nor dask-labextension, which needs it): on a shared host it forwards
  a user's credentials to whatever listens on a port (see ``sandbox/README.md``);
* ``etc/dask/hdc-sandbox.yaml``: Dask clusters started from the sandbox require TLS;
* ``share/jupyter/lab/settings/overrides.json``: JupyterLab never asks to fetch news or check for
  updates, and its extension manager is off.

Everything is root-owned and world-readable; researchers cannot change it (no ``pip install`` into
it). :func:`ensure_singleuser_env` is idempotent and fast when nothing changed (a stamp file records
what was installed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from hdc_toolkit.exceptions import StateError

__all__ = [
    "DEFAULT_PREFIX",
    "REPO_ROOT",
    "base_python",
    "ensure_singleuser_env",
    "singleuser_requirements",
]

DEFAULT_PREFIX = Path("/opt/hdc-sandbox/venv")
REPO_ROOT = Path(__file__).resolve().parents[2]
STAMP = ".hdc-sandbox-env.json"
DASK_CONFIG = """\
# Written by hdc sandbox setup. Dask inside the sandbox is TLS-only: a plain-TCP scheduler on a shared
# host lets any other user run code as you. The toolkit's local_cluster() passes security=True.
distributed:
  comm:
    require-encryption: true
labextension:
  factory:
    module: dask.distributed
    class: LocalCluster
    args: []
    kwargs:
      security: true
      host: 127.0.0.1
"""
#: JupyterLab defaults for an air-gapped sandbox (the server side sets news_url=None, never checks for
#: updates and has a read-only extension manager; these stop the client from even asking).
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension:plugin": {"enabled": False},
}
#: jupyter-lsp finds no language server in the sandbox but scans for nineteen at every server start.
SERVER_CONFIG = {"ServerApp": {"jpserver_extensions": {"jupyter_lsp": False}}}
MANAGED_FILES = {
    "etc/dask/hdc-sandbox.yaml": DASK_CONFIG,
    "share/jupyter/lab/settings/overrides.json": json.dumps(LAB_OVERRIDES, indent=2) + "\n",
    "etc/jupyter/jupyter_server_config.d/zz-hdc-sandbox.json": json.dumps(SERVER_CONFIG, indent=2) + "\n",
}
#: Optional packages removed after installing: rfc3987-syntax (jsonschema's optional "iri" format
#: checker, pulled in by jupyter-events) compiles a Lark grammar at import, which cost 1-2 s of every
#: server start here; jsonschema simply skips that format check without it.
REMOVE = ["rfc3987-syntax"]


def _version(dist: str, fallback: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return fallback


def singleuser_requirements() -> list[str]:
    """What the single-user environment installs (JupyterHub pinned to the hub's own version)."""
    return [  # (changing this list reinstalls on the next setup)
        f"jupyterhub=={_version('jupyterhub', '6.1.1')}",
        f"jupyterlab=={_version('jupyterlab', '4.6.6')}",
        "ipykernel>=6.29",
        "pyarrow>=15",
        "pandas>=2.2",
        "dask[distributed]>=2025.1",
    ]


def base_python() -> str:
    """An interpreter every user can execute: the system Python 3.11+ if there is one."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        path = Path(candidate)
        if not path.exists():
            continue
        real = path.resolve()
        if _blocked(real):
            continue
        probe = subprocess.run(
            [str(real), "-c", "import sys, venv, ensurepip; print(sys.version_info >= (3, 11))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return str(path)
    raise StateError(
        "no Python 3.11+ that other users can execute was found (tried /usr/bin/python3, "
        "/usr/local/bin/python3 and this interpreter); install python3 and python3-venv"
    )


def _blocked(path: Path) -> list[Path]:
    """Directories on the way to ``path`` that others cannot enter, and ``path`` if not o+x."""
    out = [p for p in path.parents if not os.stat(p).st_mode & stat.S_IXOTH]
    if path.exists() and not os.stat(path).st_mode & stat.S_IXOTH:
        out.append(path)
    return out


def _toolkit_fingerprint(source: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((source / "hdc_toolkit").rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(source)).encode())
            h.update(p.read_bytes())
    pyproject = source / "pyproject.toml"
    if pyproject.exists():
        h.update(pyproject.read_bytes())
    return h.hexdigest()


def _make_world_readable(prefix: Path) -> None:
    for current, dirs, files in os.walk(prefix):
        for name in dirs:
            p = os.path.join(current, name)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) | 0o755)
        for name in files:
            p = os.path.join(current, name)
            if not os.path.islink(p):
                mode = stat.S_IMODE(os.lstat(p).st_mode)
                os.chmod(p, mode | 0o444 | (0o111 if mode & 0o100 else 0))
    os.chmod(prefix, 0o755)


def _run(cmd: list[str]) -> None:
    """Run an install step quietly; on failure raise with the end of its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise StateError(f"{' '.join(cmd[:6])} … failed (exit {result.returncode}):\n{tail}")


def ensure_singleuser_env(
    prefix: Path = DEFAULT_PREFIX,
    *,
    toolkit_source: Path | None = REPO_ROOT,
    refresh_toolkit: bool = True,
    python: str | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Create or update the single-user environment at ``prefix``; returns its ``jupyterhub-singleuser``.

    ``refresh_toolkit=False`` installs the toolkit only when it is missing (tests use that, so a
    changed checkout does not cost a reinstall on every run).
    """
    prefix = Path(prefix)
    stamp_path = prefix / STAMP
    stamp = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    requirements = singleuser_requirements()
    pip = [str(prefix / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    if not (prefix / "bin" / "python").exists():
        base = python or base_python()
        log(f"creating the single-user environment {prefix} from {base}")
        prefix.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(prefix.parent, stat.S_IMODE(prefix.parent.stat().st_mode) | 0o755)
        _run([base, "-m", "venv", str(prefix)])
        _run([*pip, "install", "--quiet", "--upgrade", "pip"])
        stamp = {}
    changed = False
    wanted = [*requirements, *(f"-{name}" for name in REMOVE)]
    if stamp.get("requirements") != wanted:
        log("installing " + " ".join(requirements))
        _run([*pip, "install", "--quiet", *requirements])
        _run([*pip, "uninstall", "--quiet", "--yes", *REMOVE])
        stamp["requirements"] = wanted
        changed = True
    if toolkit_source is not None and (toolkit_source / "pyproject.toml").exists():
        fingerprint = _toolkit_fingerprint(toolkit_source)
        if not stamp.get("toolkit") or (refresh_toolkit and stamp.get("toolkit") != fingerprint):
            log(f"installing hdc-toolkit from {toolkit_source}")
            build = Path(tempfile.mkdtemp(prefix="hdc-toolkit-build-"))
            try:  # build from a copy: the checkout may be busy and pip must not write into it
                shutil.copytree(
                    toolkit_source,
                    build / "src",
                    ignore=shutil.ignore_patterns(
                        ".git",
                        ".venv",
                        "node_modules",
                        "__pycache__",
                        ".*cache",
                        ".hypothesis",
                        "*.egg-info",
                        ".demo",
                        "tests",
                        "benchmarks",
                        "build",
                        "dist",
                    ),
                )
                _run([*pip, "install", "--quiet", str(build / "src")])
            finally:
                shutil.rmtree(build, ignore_errors=True)
            stamp["toolkit"] = fingerprint
            changed = True
    for relative, content in MANAGED_FILES.items():
        path = prefix / relative
        if not path.exists() or path.read_text() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            changed = True
    if changed:
        _make_world_readable(prefix)
        stamp_path.write_text(json.dumps(stamp, indent=2))
        os.chmod(stamp_path, 0o644)
    script = prefix / "bin" / "jupyterhub-singleuser"
    if not script.exists():
        raise StateError(f"{script} is missing: remove {prefix} and run 'hdc sandbox setup' again")
    blocked = _blocked(script.resolve())
    if blocked:
        raise StateError(
            f"{script} is not executable by other users ({', '.join(map(str, blocked))} blocks them): "
            "put the single-user environment in a world-readable prefix (HDC_SANDBOX_ENV)"
        )
    return script
