"""Submitting output requests from inside the sandbox, through the hub-side review service.

A researcher's single-user server runs as an unprivileged Unix user: it cannot write the registry or
the audit log, so ``Airlock.request`` cannot run there. The review service (``hdc-review``, which the
hub runs with the data centre's rights) therefore also answers ``POST {prefix}api/requests``:

* **authentication**: the caller's own JupyterHub API token in ``Authorization: token ...`` only
  (never a cookie, so the browser pages keep their XSRF protection and a browser cannot be made to
  submit). The token must carry ``access:services!service=hdc-review`` (the sandbox gives the
  servers' ``$JUPYTERHUB_API_TOKEN`` that scope). Service tokens are refused: a person submits.
* **who may submit**: the registry decides, not the hub: an active ``project_leader`` or
  ``researcher`` of the project (:data:`~hdc_toolkit.outputs.airlock.AUTHOR_ROLES`), exactly as on the
  command line; anyone else gets 403 (and the refusal is audited, as on the command line).
* **which files**: paths *relative to the project workspace* (``outputs/t.csv``, ``work/x.png``),
  resolved on the hub side under ``HDC_HOME/projects/<id>``; absolute paths, ``..``, empty parts and
  NUL are refused (400) before the file system is touched; the resolved path (symlinks followed) must
  lie in the workspace's ``outputs/`` or ``work/`` (else 400), exist as a regular file (else 404) and
  be at most :data:`SUBMIT_MAX_BYTES` (else 400; ``HDC_OUTPUTS_SUBMIT_MAX_BYTES`` overrides). Nothing
  is staged or recorded before all of this passes.
* then :meth:`~hdc_toolkit.outputs.airlock.Airlock.request` runs with ``author=<hub user name>``:
  the same checks, staging (``O_NOFOLLOW``, containment checked again), state machine and audit
  entries as ``hdc output request``.

Replies are JSON: ``201 {"id", "state", "verdict", "project", "author", "files", "checks", ...}`` or
``{"error": {"status", "field", "message"}}``. Errors name the field, never echo file contents.

In the sandbox (a notebook or a terminal of the project server)::

    from hdc_toolkit.outputs import submit
    submit(["outputs/county_by_sex.csv"], context="Table 1 of the paper")

or ``hdc output request outputs/county_by_sex.csv --context "..."`` (which goes through the service
when it runs inside a single-user server). The service's URL comes from ``HDC_OUTPUTS_URL`` (set by
the sandbox's spawner configuration), else from ``JUPYTERHUB_PUBLIC_URL`` + ``JUPYTERHUB_BASE_URL``.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from hdc_toolkit.exceptions import HdcUserError, NotFoundError, PermissionDenied, StateError

__all__ = [
    "API_PATH",
    "OUTPUTS_URL_ENV",
    "SUBMIT_MAX_BYTES",
    "SubmissionError",
    "in_single_user_server",
    "outputs_url",
    "resolve_workspace_file",
    "submit",
]

API_PATH = "api/requests"
OUTPUTS_URL_ENV = "HDC_OUTPUTS_URL"
#: The largest file the service accepts for a request (the airlock reviews files over 16 MiB anyway).
SUBMIT_MAX_BYTES = 64 * 1024 * 1024
MAX_FILES = 50
MAX_CONTEXT_CHARS = 20_000
MAX_BODY_BYTES = 256 * 1024
REQUEST_DIRS: tuple[str, ...] = ("outputs", "work")


class SubmissionError(HdcUserError):
    """A request the service refused: ``status`` (HTTP) and ``field`` (which input, if any)."""

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field

    def to_json(self) -> dict[str, Any]:
        return {"error": {"status": self.status, "field": self.field, "message": self.message}}


# ---------------------------------------------------------------- hub side: containment


def resolve_workspace_file(root: Path, relative: object, *, field: str, max_bytes: int) -> Path:
    """The real path of ``relative`` inside ``root``'s ``outputs/`` or ``work/``, or SubmissionError.

    Order matters: the string is refused (400) before any file system access; containment of the
    resolved path is checked (400) before existence (404), so nothing outside the request folders can
    be probed.
    """
    if not isinstance(relative, str) or not relative.strip():
        raise SubmissionError(400, f"{field}: a path relative to the project folder", field=field)
    if "\x00" in relative or "\\" in relative:
        raise SubmissionError(400, f"{field}: the path has a forbidden character", field=field)
    pure = PurePosixPath(relative)
    if pure.is_absolute():
        raise SubmissionError(
            400, f"{field}: absolute paths are refused; give it relative to the project folder", field=field
        )
    if ".." in relative.split("/"):
        raise SubmissionError(400, f"{field}: '..' is refused in paths", field=field)
    root = root.resolve()
    allowed = [root / d for d in REQUEST_DIRS]
    real = (root / pure).resolve()
    if not any(real.is_relative_to(a) and real != a for a in allowed):
        raise SubmissionError(
            400, f"{field}: outputs are requested from the project's outputs/ or work/ only", field=field
        )
    try:
        st = real.stat()
    except OSError:
        raise SubmissionError(404, f"{field}: no such file: {pure}", field=field) from None
    if not stat.S_ISREG(st.st_mode):
        raise SubmissionError(404, f"{field}: not a regular file: {pure}", field=field)
    if st.st_size > max_bytes:
        raise SubmissionError(
            400, f"{field}: the file is larger than the limit of {max_bytes} bytes", field=field
        )
    return real


def parse_body(body: bytes) -> dict[str, Any]:
    """Validate the JSON body: ``project``, ``files``, ``context`` and optionally ``code``."""
    if len(body) > MAX_BODY_BYTES:
        raise SubmissionError(400, "the request body is too large", field="body")
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise SubmissionError(400, "the body must be a JSON object", field="body") from None
    if not isinstance(data, dict):
        raise SubmissionError(400, "the body must be a JSON object", field="body")
    project = data.get("project")
    if not isinstance(project, str) or not project:
        raise SubmissionError(400, "project: the project id is required", field="project")
    from hdc_toolkit.projects.workspace import check_project_id

    try:
        check_project_id(project)
    except NotFoundError:
        raise SubmissionError(400, "project: not a valid project id", field="project") from None
    files = data.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
        raise SubmissionError(400, "files: a non-empty list of paths", field="files")
    if len(files) > MAX_FILES:
        raise SubmissionError(400, f"files: at most {MAX_FILES} files per request", field="files")
    context = data.get("context")
    if not isinstance(context, str) or not context.strip():
        raise SubmissionError(
            400, "context: what the outputs are and how they were made is required", field="context"
        )
    if len(context) > MAX_CONTEXT_CHARS:
        raise SubmissionError(400, f"context: at most {MAX_CONTEXT_CHARS} characters", field="context")
    code = data.get("code")
    if code is not None and not isinstance(code, str):
        raise SubmissionError(400, "code: a path relative to the project folder", field="code")
    return {"project": project, "files": files, "context": context, "code": code}


def handle_submission(airlock: Any, username: str, body: bytes, *, max_bytes: int) -> dict[str, Any]:
    """Everything the POST handler does after authentication; raises :class:`SubmissionError`."""
    from hdc_toolkit.outputs.airlock import AUTHOR_ROLES

    data = parse_body(body)
    project = data["project"]
    try:
        role, known = airlock.role(project, username), True
    except NotFoundError:
        role, known = None, False  # an unknown project reads as "not a member": existence is not revealed
    if role not in AUTHOR_ROLES:
        if known:
            try:
                airlock.check_author(project, username)  # audits the refusal, as the CLI does
            except PermissionDenied:
                pass
        raise SubmissionError(
            403, f"project: {username} is not a project leader or researcher of this project", field="project"
        )
    root = airlock.workspace_root(project)
    paths = [
        resolve_workspace_file(root, f, field=f"files[{i}]", max_bytes=max_bytes)
        for i, f in enumerate(data["files"])
    ]
    code = (
        resolve_workspace_file(root, data["code"], field="code", max_bytes=max_bytes)
        if data["code"] is not None
        else None
    )
    try:
        req = airlock.request(project, paths, context=data["context"], author=username, code=code)
    except PermissionDenied as exc:
        raise SubmissionError(403, exc.message) from None
    except NotFoundError as exc:
        raise SubmissionError(404, exc.message) from None
    except StateError as exc:
        raise SubmissionError(409, exc.message) from None
    except (HdcUserError, ValueError) as exc:
        raise SubmissionError(400, exc.message if isinstance(exc, HdcUserError) else str(exc)) from None
    record = airlock.output_record(req.id)
    return {
        "id": req.id,
        "state": req.state,
        "verdict": req.verdict,
        "project": req.project_id,
        "author": req.author,
        "files": [f.name for f in req.files],
        "blocking": req.blocking,
        "flagged_cells": req.flagged_cells,
        "checks": {name: result.get("status") for name, result in record["results"].items()},
        "record_sha256": req.record_sha256,
    }


def submit_handler(base: type) -> type:
    """The tornado handler class for ``POST {prefix}api/requests`` (``base``: the review page's)."""
    from tornado import web
    from tornado.log import app_log

    class SubmitHandler(base):  # type: ignore[misc, valid-type]
        def set_default_headers(self) -> None:
            super().set_default_headers()
            self.set_header("Content-Type", "application/json; charset=UTF-8")

        def _header_token(self) -> str:
            match = self.hub_auth.auth_header_pat.match(self.request.headers.get("Authorization", ""))
            return match.group(1).strip() if match else ""

        def check_xsrf_cookie(self) -> None:
            # API calls authenticate with a token in a header, which a browser never adds by itself;
            # without one the hub's XSRF check applies (and cookies are not accepted below anyway).
            if self._header_token():
                return
            super().check_xsrf_cookie()

        def get_current_user(self) -> Any:
            if not self._header_token() or "token" in self.request.query_arguments:
                return None  # token in the header only: no cookie, no URL token
            user = super().get_current_user()
            if not user or not getattr(self, "_token_authenticated", False) or user.get("kind") != "user":
                return None
            return user

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            reason = self._reason
            exc = kwargs.get("exc_info", (None, None))[1]
            if isinstance(exc, web.HTTPError) and exc.log_message:
                reason = exc.log_message
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(json.dumps({"error": {"status": status_code, "field": None, "message": reason}}))

        def post(self) -> None:
            user = self.current_user
            if not user:
                raise web.HTTPError(403, "a JupyterHub API token (Authorization: token ...) is required")
            max_bytes = int(os.environ.get("HDC_OUTPUTS_SUBMIT_MAX_BYTES") or SUBMIT_MAX_BYTES)
            try:
                result = handle_submission(
                    self.airlock, str(user["name"]), self.request.body, max_bytes=max_bytes
                )
            except SubmissionError as exc:
                app_log.info("output submission by %s refused: %s (%s)", user["name"], exc.status, exc.field)
                self.set_status(exc.status)
                self.finish(json.dumps(exc.to_json()))
                return
            app_log.info("output request %s submitted by %s", result["id"], user["name"])
            self.set_status(201)
            self.finish(json.dumps(result))

    return SubmitHandler


# ---------------------------------------------------------------- client side (in the sandbox)


def in_single_user_server(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs inside a hub single-user server that can reach the service."""
    env = os.environ if environ is None else environ
    return bool(env.get("JUPYTERHUB_API_TOKEN")) and outputs_url(env) is not None


def outputs_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The review service's base URL: ``HDC_OUTPUTS_URL``, else derived from ``JUPYTERHUB_*``."""
    env = os.environ if environ is None else environ
    url = env.get(OUTPUTS_URL_ENV)
    if not url and env.get("JUPYTERHUB_PUBLIC_URL"):
        base = env.get("JUPYTERHUB_BASE_URL", "/")
        url = env["JUPYTERHUB_PUBLIC_URL"].rstrip("/") + "/" + base.strip("/") + "/services/hdc-review/"
        url = url.replace("//services", "/services")
    if not url:
        return None
    return url if url.endswith("/") else url + "/"


def _relative(path: str | Path, project_dir: str | None) -> str:
    """``path`` relative to the project folder as this server sees it (the service resolves it)."""
    p = Path(path)
    if project_dir:
        absolute = Path(os.path.abspath(p))
        base = Path(os.path.abspath(project_dir))
        if absolute.is_relative_to(base):
            return absolute.relative_to(base).as_posix()
    return p.as_posix()


def submit(
    files: Sequence[str | Path] | str | Path,
    *,
    context: str,
    project: str | None = None,
    code: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> dict[str, Any]:
    """Submit an output request from inside the sandbox; returns the service's JSON reply.

    Paths may be relative to the current folder or absolute, as long as they lie in the project's
    ``outputs/`` or ``work/``. Raises :class:`SubmissionError` when the service refuses.
    """
    env = os.environ if environ is None else environ
    if isinstance(files, (str, Path)):
        files = [files]
    token = env.get("JUPYTERHUB_API_TOKEN")
    url = outputs_url(env)
    if not token or not url:
        raise SubmissionError(
            0, "not inside a sandbox server: JUPYTERHUB_API_TOKEN and HDC_OUTPUTS_URL are needed"
        )
    project = project or env.get("HDC_PROJECT")
    if not project:
        raise SubmissionError(400, "which project? pass project= (or set HDC_PROJECT)", field="project")
    project_dir = env.get("HDC_PROJECT_DIR")
    body = {
        "project": project,
        "files": [_relative(f, project_dir) for f in files],
        "context": context,
        "code": None if code is None else _relative(code, project_dir),
    }
    req = urllib.request.Request(
        url + API_PATH,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            reply: dict[str, Any] = json.loads(response.read())
            return reply
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", {})
        except ValueError:
            error = {}
        raise SubmissionError(
            exc.code,
            str(error.get("message") or f"the output service answered {exc.code}"),
            field=error.get("field"),
        ) from None
