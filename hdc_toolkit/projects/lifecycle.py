"""The project lifecycle as a pure state machine: named states, one transitions table, tiny functions.

::

    submitted ─► approved ─► provisioned ─► active ─► closed ─► deleted
                   ▲  │          │             │
                   └──┴──────────┴─────────────┘   amendment: a new permit version puts an approved,
                                                  provisioned or active project back to ``approved``
                                                  (it must be provisioned again from the new permit)

Nothing here touches the registry or the audit log: :meth:`hdc_toolkit.projects.registry.Registry.transition`
applies these rules inside a transaction and records every transition in the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping

from hdc_toolkit.exceptions import StateError

__all__ = [
    "ACTIVE",
    "AMENDABLE_STATES",
    "APPROVED",
    "CLOSED",
    "DELETED",
    "INITIAL_STATE",
    "PROVISIONED",
    "STATES",
    "SUBMITTED",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "allowed_targets",
    "can_transition",
    "check_state",
    "check_transition",
    "is_amendment",
]

SUBMITTED = "submitted"
APPROVED = "approved"
PROVISIONED = "provisioned"
ACTIVE = "active"
CLOSED = "closed"
DELETED = "deleted"

STATES: tuple[str, ...] = (SUBMITTED, APPROVED, PROVISIONED, ACTIVE, CLOSED, DELETED)
INITIAL_STATE = SUBMITTED

# States from which an amended permit sends the project back to APPROVED.
AMENDABLE_STATES: frozenset[str] = frozenset({APPROVED, PROVISIONED, ACTIVE})

# state -> the states it may move to. APPROVED appears as a target of every amendable state
# (including itself): that is an amendment, a new permit version.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    SUBMITTED: frozenset({APPROVED}),
    APPROVED: frozenset({PROVISIONED, APPROVED}),
    PROVISIONED: frozenset({ACTIVE, APPROVED}),
    ACTIVE: frozenset({CLOSED, APPROVED}),
    CLOSED: frozenset({DELETED}),
    DELETED: frozenset(),
}

TERMINAL_STATES: frozenset[str] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


def check_state(state: str) -> str:
    """Return ``state`` if it is a lifecycle state, else raise :class:`StateError`."""
    if state not in TRANSITIONS:
        raise StateError(f"unknown project state {state!r}; the states are: {', '.join(STATES)}")
    return state


def allowed_targets(state: str) -> tuple[str, ...]:
    """The states ``state`` may move to, in lifecycle order."""
    targets = TRANSITIONS[check_state(state)]
    return tuple(s for s in STATES if s in targets)


def can_transition(source: str, target: str) -> bool:
    """True when ``source -> target`` is a legal transition."""
    return source in TRANSITIONS and target in TRANSITIONS[source]


def check_transition(source: str, target: str) -> None:
    """Raise :class:`StateError` naming both states and the allowed targets unless the move is legal."""
    check_state(target)
    if can_transition(source, target):
        return
    allowed = ", ".join(allowed_targets(source)) or "none (final state)"
    raise StateError(
        f"a project cannot go from {source!r} to {target!r}; from {source!r} it may go to: {allowed}"
    )


def is_amendment(source: str, target: str) -> bool:
    """True when the transition is an amendment (a new permit version sends the project back)."""
    return target == APPROVED and source in AMENDABLE_STATES
