"""Start and stop a local JupyterHub for the sandbox (used by ``hdc sandbox up``, the tests and benchmarks).

The hub runs ``sandbox/jupyterhub_config.py`` in its own session (``setsid``), with SIGINT reset to its
default (a hub started from a non-interactive shell would otherwise ignore it and every stop would wait
for SIGTERM), and with its settings passed as ``HDC_SANDBOX_*`` environment variables. Stopping sends
SIGTERM and waits (the hub stops servers, services and the proxy itself), then kills whatever of its
descendants is left: every process the hub started, found by walking its process tree, by PID.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hdc_toolkit.exceptions import StateError

__all__ = ["SANDBOX_DIR", "HubPorts", "LocalHub", "free_port", "proxy_command"]

SANDBOX_DIR = Path(__file__).resolve().parents[2] / "sandbox"
CONFIG = SANDBOX_DIR / "jupyterhub_config.py"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proxy_command(sandbox_dir: Path = SANDBOX_DIR) -> Path:
    return sandbox_dir / "node_modules" / ".bin" / "configurable-http-proxy"


def ensure_proxy(sandbox_dir: Path = SANDBOX_DIR, log=print) -> Path:  # type: ignore[no-untyped-def]
    """Install configurable-http-proxy into ``sandbox/node_modules`` with npm if it is not there."""
    chp = proxy_command(sandbox_dir)
    if chp.exists():
        return chp
    npm = "npm"
    lock = sandbox_dir / "package-lock.json"
    cmd = [npm, "ci" if lock.exists() else "install", "--no-audit", "--no-fund", "--loglevel=error"]
    log(f"installing configurable-http-proxy: {' '.join(cmd)} (in {sandbox_dir})")
    try:
        result = subprocess.run(cmd, cwd=sandbox_dir, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise StateError(
            "npm is not installed: install Node.js 20+ and npm (apt-get install nodejs npm)"
        ) from None
    if result.returncode != 0 or not chp.exists():
        raise StateError(f"npm could not install configurable-http-proxy:\n{result.stderr[-2000:]}")
    return chp


@dataclass(frozen=True)
class HubPorts:
    public: int = 8000
    hub: int = 8081
    proxy_api: int = 8001

    @classmethod
    def free(cls) -> HubPorts:
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(free_port())
        public, hub, api = sorted(ports)
        return cls(public, hub, api)


def _reset_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@dataclass
class LocalHub:
    """One hub process. ``env`` holds HDC_HOME and any ``HDC_SANDBOX_*`` settings."""

    state_dir: Path
    env: Mapping[str, str]
    ports: HubPorts = field(default_factory=HubPorts)
    config: Path = CONFIG
    proc: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports.public}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "hub.log"

    @property
    def pid_path(self) -> Path:
        return self.state_dir / "hub.pid"

    def environment(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "USER", "LOGNAME", "XDG_DATA_HOME", "SSL_CERT_FILE")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update(self.env)
        env.update(
            {
                "HDC_SANDBOX_STATE": str(self.state_dir),
                "HDC_SANDBOX_PORT": str(self.ports.public),
                "HDC_SANDBOX_HUB_PORT": str(self.ports.hub),
                "HDC_SANDBOX_PROXY_API_PORT": str(self.ports.proxy_api),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.setdefault("CONFIGPROXY_AUTH_TOKEN", secrets.token_hex(32))
        return env

    def start(self) -> LocalHub:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        for port in (self.ports.public, self.ports.hub, self.ports.proxy_api):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    raise StateError(f"port {port} on 127.0.0.1 is already in use")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.config)],
                cwd=self.state_dir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_reset_signals,  # noqa: PLW1509 - only resets signal dispositions
            )
        self.pid = self.proc.pid
        self.pid_path.write_text(
            json.dumps({"pid": self.pid, "ports": [self.ports.public, self.ports.hub, self.ports.proxy_api]})
        )
        return self

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        if not self.pid:
            return False
        import psutil

        try:  # a PID from a file may have been reused: it must still be a hub
            return "jupyterhub" in " ".join(psutil.Process(self.pid).cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def api_ok(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/hub/api", timeout=2) as r:
                return bool(r.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, timeout: float = 90) -> float:
        """Wait until ``GET /hub/api`` answers 200 through the proxy; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise StateError(f"the hub exited while starting; its log ends:\n{self.log_tail()}")
            if self.api_ok():
                return time.monotonic() - started
            time.sleep(0.1)
        raise StateError(f"the hub did not answer within {timeout:.0f} s; its log ends:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def descendants(self) -> list[int]:
        import psutil

        if not self.pid:
            return []
        try:
            return [p.pid for p in psutil.Process(self.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the hub (it stops its servers, services and proxy); then kill leftovers by PID."""
        import psutil

        if not self.pid:
            return
        children = self.descendants()
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        leftovers = []
        for pid in [self.pid, *children]:
            try:
                proc = psutil.Process(pid)
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    leftovers.append(proc)
            except psutil.NoSuchProcess:
                continue
        for proc in leftovers:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(leftovers, timeout=5)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            self.pid_path.unlink()
        except FileNotFoundError:
            pass

    @classmethod
    def from_state(cls, state_dir: Path) -> LocalHub | None:
        """The hub recorded in ``state_dir/hub.pid`` if it is still running."""
        try:
            info = json.loads((state_dir / "hub.pid").read_text())
            pid, ports = int(info["pid"]), HubPorts(*info["ports"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        hub = cls(state_dir=state_dir, env={}, ports=ports, pid=pid)
        return hub if hub.alive() else None
