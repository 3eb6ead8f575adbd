"""The output checkers' review page: a JupyterHub service with hub OAuth login, on 127.0.0.1 only.

It lists the output requests of the projects where the logged-in hub user is an ``output_checker``
(registry role: the registry decides, not the hub), shows each request's context, checks and tables
with flagged cells highlighted, and records approve / reject / return decisions through
:class:`~hdc_toolkit.outputs.airlock.Airlock` (so the two-reviewer rule, the no-self-review rule and
the audit log apply exactly as on the command line).

Wire it into ``jupyterhub_config.py`` (a managed service; the hub starts and stops it)::

    from hdc_toolkit.outputs.review_app import service_definition, service_roles
    c.JupyterHub.services.append(service_definition(port=10101, environment={"HDC_HOME": ...}))
    c.JupyterHub.load_roles.extend(service_roles())

``service_roles`` lets every hub user *reach* the service (``access:services!service=hdc-review``);
the page itself answers 403 to anyone who checks outputs in no project. Run by hand (standalone,
behind a hub that knows the service): ``python -m hdc_toolkit.outputs.review_app``, with the
``JUPYTERHUB_*`` variables a hub gives its services and ``HDC_HOME`` / ``HDC_DATABASE_URL``.

Researchers submit output requests from inside the sandbox through ``POST {prefix}api/requests``
(their own hub API token, registry membership, files resolved inside the project workspace; see
:mod:`hdc_toolkit.outputs.submission`).

Security: the server binds 127.0.0.1 only (whatever host ``JUPYTERHUB_SERVICE_URL`` names); every
browser POST carries the hub's XSRF token (the submission API takes a token header, never a cookie); pages are sent with a strict Content-Security-Policy; staged files
are served as downloads (``attachment``), except PNG/JPEG which are shown inline.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

__all__ = [
    "DEFAULT_PORT",
    "SERVICE_NAME",
    "make_app",
    "main",
    "service_definition",
    "service_roles",
]

SERVICE_NAME = "hdc-review"
DEFAULT_PORT = 10101
BIND_HOST = "127.0.0.1"
TEMPLATES = Path(__file__).resolve().parent / "templates"
INLINE_TYPES: dict[str, str] = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def service_definition(
    *,
    port: int = DEFAULT_PORT,
    environment: Mapping[str, str] | None = None,
    name: str = SERVICE_NAME,
    python: str | None = None,
) -> dict[str, Any]:
    """The ``c.JupyterHub.services`` entry that runs the review page as a managed hub service."""
    return {
        "name": name,
        "display": True,
        "url": f"http://{BIND_HOST}:{port}",
        "command": [python or sys.executable, "-m", "hdc_toolkit.outputs.review_app"],
        "oauth_no_confirm": True,
        "environment": dict(environment or {}),
    }


def service_roles(name: str = SERVICE_NAME) -> list[dict[str, Any]]:
    """``c.JupyterHub.load_roles`` entries: every user may reach the service (the page checks roles)."""
    return [
        {
            "name": "user",
            "description": "Standard user privileges, plus reaching the output review page",
            "scopes": ["self", f"access:services!service={name}"],
        }
    ]


# ---------------------------------------------------------------- the web application


def make_app(settings: Any, *, prefix: str = "/", cookie_secret: bytes | None = None) -> Any:
    """The tornado application (``settings``: :class:`~hdc_toolkit.config.Settings`)."""
    import jinja2
    from jupyterhub.services.auth import HubOAuthCallbackHandler
    from jupyterhub.utils import url_path_join
    from tornado import web

    from hdc_toolkit.outputs.airlock import Airlock

    handlers = _handlers()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
    )
    context = {"airlock": Airlock(settings), "jinja": env, "prefix": prefix}
    routes = [
        (prefix, handlers["list"], context),
        (url_path_join(prefix, r"requests/(\d+)"), handlers["request"], context),
        (url_path_join(prefix, r"requests/(\d+)/review"), handlers["review"], context),
        (
            url_path_join(prefix, r"requests/(\d+)/files/([A-Za-z0-9][A-Za-z0-9._-]*)"),
            handlers["file"],
            context,
        ),
        (url_path_join(prefix, "api/requests"), handlers["submit"], context),
        (url_path_join(prefix, "oauth_callback"), HubOAuthCallbackHandler),
    ]
    return web.Application(routes, cookie_secret=cookie_secret or secrets.token_bytes(32), xsrf_cookies=True)


def _handlers() -> dict[str, type]:
    """The handler classes (built lazily: tornado and jupyterhub are imported only by the service)."""
    from jupyterhub.services.auth import HubOAuthenticated
    from tornado import web

    from hdc_toolkit.exceptions import HdcUserError, NotFoundError
    from hdc_toolkit.outputs._render import STYLE, table_html
    from hdc_toolkit.outputs.checking import read_table

    class Base(HubOAuthenticated, web.RequestHandler):  # type: ignore[misc]
        def initialize(self, airlock: Any, jinja: Any, prefix: str) -> None:
            self.airlock, self.jinja, self.prefix = airlock, jinja, prefix

        def set_default_headers(self) -> None:
            self.set_header("Content-Security-Policy", CSP)
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Referrer-Policy", "same-origin")
            self.set_header("Cache-Control", "no-store")

        @property
        def username(self) -> str:
            return str(self.current_user["name"])

        def render_page(self, template: str, **values: Any) -> None:
            page = self.jinja.get_template(template).render(
                user=self.username, prefix=self.prefix, style=STYLE, xsrf=self.xsrf_form_html(), **values
            )
            self.finish(page)

        def checker_projects(self) -> set[str]:
            return set(self.airlock.checker_projects(self.username))

        def load(self, request_id: str) -> Any:
            try:
                req = self.airlock.get(int(request_id))
            except NotFoundError:
                raise web.HTTPError(404, "no such request") from None
            if req.project_id not in self.checker_projects():
                raise web.HTTPError(403, "you are not an output checker of this request's project")
            return req

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            reason = self._reason
            exc = kwargs.get("exc_info", (None, None))[1]
            if isinstance(exc, web.HTTPError) and exc.log_message:
                reason = exc.log_message
            self.set_header("Content-Type", "text/html; charset=UTF-8")
            self.finish(
                self.jinja.get_template("review_error.html").render(
                    status=status_code, reason=reason, prefix=self.prefix, style=STYLE
                )
            )

    class ListHandler(Base):
        @web.authenticated
        def get(self) -> None:
            projects = self.checker_projects()
            if not projects:
                raise web.HTTPError(403, f"{self.username} is not an output checker of any project")
            rows = []
            for req in self.airlock.requests(reviewer=self.username):
                ok, why = self.airlock.can_review(req.id, self.username)
                rows.append({"req": req, "can_review": ok, "why": why})
            self.render_page("review_list.html", rows=rows, projects=sorted(projects))

    class RequestPage(Base):
        @web.authenticated
        def get(self, request_id: str) -> None:
            req = self.load(request_id)
            record = self.airlock.output_record(req.id)
            outputs = []
            for f in req.files:
                result = record["results"].get(f.name, {})
                flags: dict[tuple[int, int], list[str]] = {}
                for rule, cells in (result.get("files") or [{}])[0].get("sdc", {}).get("cells", {}).items():
                    for r, c in cells:
                        flags.setdefault((int(r), int(c)), []).append(rule)
                html_table = None
                if result.get("layout") is not None:
                    try:
                        frame = read_table(self.airlock.staged_file(req.id, f.name), result["layout"])
                        html_table = table_html(frame, flags, table_id=f"table-{f.name}")
                    except (OSError, ValueError) as exc:
                        html_table = None
                        result.setdefault("render_error", str(exc))
                suffix = Path(f.name).suffix.lower()
                outputs.append(
                    {
                        "file": f,
                        "result": result,
                        "table": html_table,
                        "image": suffix in INLINE_TYPES,
                        "url": f"{self.prefix}requests/{req.id}/files/{quote(f.name)}",
                        "checks": [c for c in result.get("checks", []) if c["verdict"] != "passed"],
                        "flag_count": len(flags),
                    }
                )
            ok, why = self.airlock.can_review(req.id, self.username)
            self.render_page(
                "review_request.html",
                req=req,
                record=record,
                outputs=outputs,
                can_review=ok,
                why=why,
                message=self.get_argument("message", ""),
                error=self.get_argument("error", ""),
            )

    class ReviewHandler(Base):
        @web.authenticated
        def post(self, request_id: str) -> None:
            req = self.load(request_id)
            decision = self.get_body_argument("decision", "")
            comment = self.get_body_argument("comment", "")
            target = f"{self.prefix}requests/{req.id}"
            try:
                done = self.airlock.review(req.id, reviewer=self.username, decision=decision, comment=comment)
            except (HdcUserError, ValueError) as exc:
                message = exc.message if isinstance(exc, HdcUserError) else str(exc)
                self.redirect(f"{target}?error={quote(message)}")
                return
            self.redirect(f"{target}?message={quote(f'{decision}: the request is now {done.state}')}")

    class FileHandler(Base):
        @web.authenticated
        def get(self, request_id: str, name: str) -> None:
            req = self.load(request_id)
            try:
                path = self.airlock.staged_file(req.id, name)
            except NotFoundError:
                raise web.HTTPError(404, "no such file") from None
            suffix = path.suffix.lower()
            if suffix in INLINE_TYPES:
                self.set_header("Content-Type", INLINE_TYPES[suffix])
            else:
                self.set_header("Content-Type", "application/octet-stream")
                self.set_header("Content-Disposition", f'attachment; filename="{name}"')
            self.finish(path.read_bytes())

    from hdc_toolkit.outputs.submission import submit_handler

    return {
        "list": ListHandler,
        "request": RequestPage,
        "review": ReviewHandler,
        "file": FileHandler,
        "submit": submit_handler(Base),
    }


def main(environ: Mapping[str, str] | None = None) -> None:  # pragma: no cover - run by the hub
    """Serve the page on 127.0.0.1 at the port of ``JUPYTERHUB_SERVICE_URL`` (default 10101)."""
    import asyncio

    from tornado.httpserver import HTTPServer

    from hdc_toolkit.config import Settings

    env = os.environ if environ is None else environ
    settings = Settings.from_env(env)
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{SERVICE_NAME}/")
    port = (
        urlparse(env.get("JUPYTERHUB_SERVICE_URL") or f"http://{BIND_HOST}:{DEFAULT_PORT}").port
        or DEFAULT_PORT
    )

    async def serve() -> None:
        server = HTTPServer(make_app(settings, prefix=prefix), xheaders=False)
        server.listen(port, BIND_HOST)
        print(f"hdc-review: serving {prefix} on http://{BIND_HOST}:{port}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:  # the hub stops its services with SIGINT
        print("hdc-review: stopped", flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
