"""A small REST + kernel client for the hub: automation, tests and the spawn benchmark.

Uses a service token with narrow scopes (never an admin user's token). Code runs in a kernel over the
kernel's websocket with the token in the ``Authorization`` header (JupyterHub accepts URL tokens on
websockets only from browsers)::

    hub = HubClient("http://127.0.0.1:8000", token)
    hub.create_user("alice")
    hub.start_server("alice", "p2026-001-diabetes")
    print(hub.execute("alice", "p2026-001-diabetes", "import os; print(os.environ['HDC_PROJECT'])").stdout)
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ExecResult", "HubClient", "SpawnResult"]


@dataclass
class SpawnResult:
    status: int  # HTTP status of the start request: 201/202 started, 400/403 refused, ...
    seconds: float  # request to ready (or to refusal)
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (201, 202)


@dataclass
class ExecResult:
    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None
    seconds: float = 0.0  # request for a kernel to the code's reply (kernel shutdown not counted)
    kernel_seconds: float = 0.0  # kernel request until the kernel answers kernel_info (it has booted)
    cell_seconds: float = 0.0  # the cell alone: execute_request on the ready kernel until its reply
    outputs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class HubClient:
    def __init__(self, url: str, token: str, *, timeout: float = 30) -> None:
        import requests

        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"

    # -- hub REST API

    def api(self, method: str, path: str, **kw: Any) -> Any:
        kw.setdefault("timeout", self.timeout)
        return self.session.request(method, f"{self.url}/hub/api{path}", **kw)

    def create_user(self, name: str) -> None:
        r = self.api("POST", f"/users/{name}")
        if r.status_code not in (201, 409):
            raise RuntimeError(f"create user {name}: {r.status_code} {r.text}")

    def user(self, name: str) -> dict[str, Any]:
        r = self.api("GET", f"/users/{name}")
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def server_path(self, user: str, server: str) -> str:
        return f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"

    def start_server(self, user: str, server: str = "", *, timeout: float = 90) -> SpawnResult:
        """Request a start and wait until the server is ready; refusals return their status."""
        started = time.perf_counter()
        r = self.api("POST", self.server_path(user, server), timeout=timeout)
        if r.status_code not in (201, 202):
            try:
                message = r.json().get("message", r.text)
            except ValueError:
                message = r.text
            return SpawnResult(r.status_code, time.perf_counter() - started, message)
        status = r.status_code
        if status == 202:
            deadline = started + timeout
            while time.perf_counter() < deadline:
                model = self.user(user).get("servers", {}).get(server, {})
                if model.get("ready"):
                    break
                if not model.get("pending") and not model.get("ready") and model:
                    return SpawnResult(500, time.perf_counter() - started, "server stopped while starting")
                time.sleep(0.05)
            else:
                return SpawnResult(504, time.perf_counter() - started, "not ready in time")
        return SpawnResult(status, time.perf_counter() - started)

    def stop_server(self, user: str, server: str = "", *, timeout: float = 60) -> float:
        started = time.perf_counter()
        r = self.api("DELETE", self.server_path(user, server), timeout=timeout)
        if r.status_code == 202:
            deadline = started + timeout
            while time.perf_counter() < deadline:
                if server not in self.user(user).get("servers", {}) or not self.user(user)["servers"][
                    server
                ].get("pending"):
                    break
                time.sleep(0.1)
        elif r.status_code not in (204, 404):
            raise RuntimeError(f"stop {user}/{server}: {r.status_code} {r.text}")
        return time.perf_counter() - started

    # -- single-user server

    def server_url(self, user: str, server: str = "") -> str:
        return f"{self.url}/user/{user}/{server + '/' if server else ''}"

    def execute(self, user: str, server: str, code: str, *, timeout: float = 60) -> ExecResult:
        """Start a kernel, run ``code``, collect its output, shut the kernel down."""
        base = self.server_url(user, server)
        started = time.perf_counter()
        r = self.session.post(f"{base}api/kernels", json={"name": "python3"}, timeout=self.timeout)
        r.raise_for_status()
        kernel_id = r.json()["id"]
        try:
            result = self._run(base, kernel_id, code, timeout)
            done = time.perf_counter()
        finally:
            self.session.delete(f"{base}api/kernels/{kernel_id}", timeout=self.timeout)
        result.seconds = done - started
        result.kernel_seconds = result.seconds - result.cell_seconds
        return result

    def _run(self, base: str, kernel_id: str, code: str, timeout: float) -> ExecResult:
        import websocket

        ws_url = (
            base.replace("http://", "ws://").replace("https://", "wss://")
            + f"api/kernels/{kernel_id}/channels"
        )
        ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {self.token}"], timeout=timeout
        )
        session = uuid.uuid4().hex
        deadline = time.monotonic() + timeout
        try:
            # wait until the kernel answers (it is booting while the websocket connects)
            info_id = self._send(ws, session, "kernel_info_request", {})
            while True:
                msg = self._recv(ws, deadline, kernel_id)
                if (
                    msg.get("parent_header", {}).get("msg_id") == info_id
                    and msg["msg_type"] == "kernel_info_reply"
                ):
                    break
            ready = time.perf_counter()
            msg_id = self._send(
                ws,
                session,
                "execute_request",
                {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                    "stop_on_error": True,
                },
            )
            result = ExecResult()
            replied = idle = False
            while not (replied and idle):
                msg = self._recv(ws, deadline, kernel_id)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                content = msg["content"]
                if kind == "stream":
                    if content["name"] == "stdout":
                        result.stdout += content["text"]
                    else:
                        result.stderr += content["text"]
                elif kind in ("execute_result", "display_data"):
                    result.outputs.append(content)
                elif kind == "error":
                    result.error = {"ename": content["ename"], "evalue": content["evalue"]}
                elif kind == "execute_reply":
                    replied = True
                    if content.get("status") == "error" and result.error is None:
                        result.error = {"ename": content.get("ename"), "evalue": content.get("evalue")}
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True
            result.cell_seconds = time.perf_counter() - ready
            return result
        finally:
            ws.close()

    @staticmethod
    def _send(ws: Any, session: str, msg_type: str, content: dict[str, Any]) -> str:
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "username": "hdc",
            "session": session,
            "msg_type": msg_type,
            "version": "5.3",
        }
        channel = "shell"
        ws.send(
            json.dumps(
                {
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": content,
                    "channel": channel,
                    "buffers": [],
                }
            )
        )
        return msg_id

    @staticmethod
    def _recv(ws: Any, deadline: float, kernel_id: str) -> dict[str, Any]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reply from kernel {kernel_id} in time")
        msg: dict[str, Any] = json.loads(ws.recv())
        return msg
