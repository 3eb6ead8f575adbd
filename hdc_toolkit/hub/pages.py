"""What the hub shows people: where they land after login and the "Your projects" list on the home page.

* :func:`default_url` (``c.JupyterHub.default_url``): a member of exactly one open project goes
  straight to that project's server; everyone else lands on the home page, which lists their projects
  (the default server would be refused as ambiguous for them).
* :func:`projects_for_template` (``c.JupyterHub.template_vars = {"hdc_projects": ...}``) feeds
  ``sandbox/templates/home.html``: one row per open project with its title, the person's role, whether
  its server runs, and the link that starts it (``/hub/spawn/<user>/<project>``).
"""

from __future__ import annotations

import logging
from typing import Any

from hdc_toolkit.hub.policy import ProjectPolicy

__all__ = ["default_url", "projects_for_template"]

log = logging.getLogger("hdc_toolkit.hub")


def _policy(obj: Any) -> ProjectPolicy:
    """A policy that reads the hub's configuration (``c.ProjectPolicy``) through its authenticator."""
    authenticator = getattr(obj, "authenticator", None)
    return ProjectPolicy(parent=authenticator) if authenticator is not None else ProjectPolicy()


def _base_url(obj: Any) -> str:
    hub = getattr(obj, "hub", None)
    base = getattr(hub, "base_url", None) or "/hub/"
    return str(base)


def default_url(handler: Any) -> str:
    """``/hub/spawn/<user>/<project>`` for a member of exactly one open project, else ``/hub/home``."""
    user = getattr(handler, "current_user", None)
    base = _base_url(handler)
    if user is None:
        return f"{base}home"
    try:
        memberships = _policy(handler).memberships(user.name)
    except Exception:  # the home page still works if the registry hiccups
        log.exception("could not read the projects of %s", user.name)
        return f"{base}home"
    if len(memberships) == 1:
        return f"{base}spawn/{user.name}/{memberships[0].project}"
    return f"{base}home"


def projects_for_template(user: Any) -> list[dict[str, Any]]:
    """The person's open projects for the home page (empty if the registry cannot be read)."""
    from hdc_toolkit.projects.registry import open_registry

    policy = _policy(user)
    try:
        settings = policy.settings()
        registry = open_registry(settings)
        memberships = policy.memberships(user.name, settings=settings)
        titles = {m.project: registry.get_project(m.project).title for m in memberships}
    except Exception:
        log.exception("could not read the projects of %s", getattr(user, "name", "?"))
        return []
    existing = getattr(getattr(user, "orm_user", None), "orm_spawners", {}) or {}
    base = _base_url(user)
    rows = []
    for m in memberships:
        running = False
        if m.project in existing:
            spawner = user.spawners[m.project]
            running = bool(spawner.ready or spawner.pending)
        rows.append(
            {
                "id": m.project,
                "title": titles.get(m.project, ""),
                "role": m.role.replace("_", " "),
                "running": running,
                "start_url": f"{base}spawn/{user.name}/{m.project}",
                "server_url": user.server_url(m.project) if hasattr(user, "server_url") else "",
            }
        )
    return rows
