"""Hub groups that mirror the registry's project membership.

Each open project has a hub group ``proj-<id>`` whose members are the people who may work on it in
the sandbox. The registry is the source of truth; the hub's groups follow it:

* at every login (the post-auth hook sets the ``groups`` of the auth model and the hub, with
  ``Authenticator.manage_groups = True``, applies them), and
* at every server start (:func:`sync_user_groups`, called by the spawners), so a membership revoked
  in the registry disappears from the hub the next time the person does anything.

Groups from an identity provider that are not project groups (``manage_groups`` with OIDC) are kept
untouched. The spawn policy never trusts hub groups: it reads the registry itself; the groups are for
people (admin page, ``access:servers!group=…`` scopes for output checkers) and for network policies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hdc_toolkit.hub.policy import GROUP_PREFIX

__all__ = ["merge_groups", "sync_user_groups"]


def merge_groups(
    current: Iterable[str], project_groups: Iterable[str], prefix: str = GROUP_PREFIX
) -> list[str]:
    """``current`` without its project groups, plus ``project_groups``; sorted, no duplicates."""
    kept = {g for g in current if not g.startswith(prefix)}
    return sorted(kept | set(project_groups))


def sync_user_groups(user: Any, project_groups: Iterable[str], prefix: str = GROUP_PREFIX) -> list[str]:
    """Set the hub user's project groups to ``project_groups`` (other groups stay); returns the result.

    ``user`` is the hub's :class:`jupyterhub.user.User`. Works on JupyterHub 5 and 6 (``sync_groups``).
    """
    current = [g.name for g in getattr(user, "groups", [])]
    wanted = merge_groups(current, project_groups, prefix)
    if sorted(current) != wanted and hasattr(user, "sync_groups"):
        user.sync_groups(wanted)
    return wanted
