"""Hub events into the toolkit's audit log: logins (post-auth hook), server start/stop, refusals.

JupyterHub has no login event of its own, and its ``server-action`` events cover only successful,
hub-initiated actions, so the sandbox writes its own entries into the hash-chained audit log
(:mod:`hdc_toolkit.audit`)::

    sandbox.login            actor=user   details: projects, authenticator, remote_ip
    sandbox.login_refused    actor=user   details: reason
    sandbox.server_started   actor=user   project=<id>  details: server, unix_user, groups, pid, backend
    sandbox.server_stopped   actor=user   project=<id>  details: server, backend
    sandbox.spawn_refused    actor=user   project=<id or None>  details: server, reason, status

Logins and starts **fail closed**: if the entry cannot be written, the login or start is refused.
A failed stop entry is logged and does not keep a server running.

Configure with::

    from hdc_toolkit.hub.audit_hooks import post_auth_hook
    c.Authenticator.post_auth_hook = post_auth_hook
    c.Authenticator.manage_groups = True   # hub groups follow the registry at each login
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hdc_toolkit.config import Settings
from hdc_toolkit.hub.policy import ProjectPolicy

__all__ = ["audit", "audit_sync", "post_auth_hook"]

log = logging.getLogger("hdc_toolkit.hub")

LOGIN = "sandbox.login"
LOGIN_REFUSED = "sandbox.login_refused"
SERVER_STARTED = "sandbox.server_started"
SERVER_STOPPED = "sandbox.server_stopped"
SPAWN_REFUSED = "sandbox.spawn_refused"


def audit_sync(
    settings: Settings,
    action: str,
    *,
    actor: str,
    project: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry to the toolkit audit log (blocking)."""
    from hdc_toolkit.audit import AuditLog

    AuditLog(settings).append(action, actor=actor, project=project, details=details or {})


async def audit(
    settings: Settings,
    action: str,
    *,
    actor: str,
    project: str | None = None,
    details: dict[str, Any] | None = None,
    required: bool = True,
) -> None:
    """Append one entry from the hub's event loop (in a worker thread).

    With ``required`` an error propagates (the caller refuses what it was about to allow); without,
    it is logged.
    """
    try:
        await asyncio.to_thread(audit_sync, settings, action, actor=actor, project=project, details=details)
    except Exception:
        if required:
            raise
        log.exception("could not write audit entry %s for %s", action, actor)


async def post_auth_hook(authenticator: Any, handler: Any, authentication: dict[str, Any]) -> dict[str, Any]:
    """Admit only members of open projects, sync their hub groups, and audit the login.

    A person with no open project (and not a hub admin) is refused with 403 and the refusal is audited.
    With ``Authenticator.manage_groups`` the user's ``proj-*`` hub groups are set from the registry;
    groups from the identity provider that are not project groups are kept.
    """
    from tornado import web

    policy = ProjectPolicy(parent=authenticator)
    settings = policy.settings()
    username = authentication["name"]
    remote_ip = getattr(getattr(handler, "request", None), "remote_ip", None)
    memberships = await asyncio.to_thread(policy.memberships, username, settings=settings)
    if not memberships and not authentication.get("admin"):
        await audit(
            settings,
            LOGIN_REFUSED,
            actor=username,
            details={"reason": "no open project", "remote_ip": remote_ip},
        )
        raise web.HTTPError(
            403, f"{username} is not a member of an open project: ask the data centre for access"
        )
    if getattr(authenticator, "manage_groups", False):
        from hdc_toolkit.hub.groups import merge_groups

        authentication["groups"] = merge_groups(
            authentication.get("groups") or [], policy.project_groups(memberships), policy.group_prefix
        )
    await audit(
        settings,
        LOGIN,
        actor=username,
        details={
            "projects": [m.project for m in memberships],
            "authenticator": type(authenticator).__name__,
            "remote_ip": remote_ip,
        },
    )
    return authentication
