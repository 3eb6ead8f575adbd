"""The project lifecycle state machine: every legal and every illegal (from, to) pair."""

from __future__ import annotations

import itertools

import pytest

from hdc_toolkit.exceptions import StateError
from hdc_toolkit.projects import lifecycle as lc

# Written out by hand, independently of lifecycle.TRANSITIONS.
LEGAL = {
    ("submitted", "approved"),
    ("approved", "provisioned"),
    ("approved", "approved"),  # amendment before provisioning
    ("provisioned", "active"),
    ("provisioned", "approved"),  # amendment
    ("active", "closed"),
    ("active", "approved"),  # amendment
    ("closed", "deleted"),
}
ALL_PAIRS = list(itertools.product(lc.STATES, repeat=2))
ILLEGAL = [pair for pair in ALL_PAIRS if pair not in LEGAL]


def test_states_in_lifecycle_order() -> None:
    assert lc.STATES == ("submitted", "approved", "provisioned", "active", "closed", "deleted")
    assert lc.INITIAL_STATE == "submitted"
    assert lc.TERMINAL_STATES == {"deleted"}


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
def test_legal_transition(source: str, target: str) -> None:
    assert lc.can_transition(source, target)
    lc.check_transition(source, target)  # does not raise


@pytest.mark.parametrize(("source", "target"), ILLEGAL)
def test_illegal_transition_names_states_and_allowed_targets(source: str, target: str) -> None:
    assert not lc.can_transition(source, target)
    with pytest.raises(StateError) as info:
        lc.check_transition(source, target)
    message = str(info.value)
    assert repr(source) in message and repr(target) in message
    allowed = lc.allowed_targets(source)
    for state in allowed:
        assert state in message.split("may go to:")[1]
    if not allowed:
        assert "none (final state)" in message
    assert info.value.exit_code == 3


def test_table_matches_the_hand_written_pairs() -> None:
    assert {(s, t) for s, targets in lc.TRANSITIONS.items() for t in targets} == LEGAL


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("submitted", ("approved",)),
        ("approved", ("approved", "provisioned")),
        ("provisioned", ("approved", "active")),
        ("active", ("approved", "closed")),
        ("closed", ("deleted",)),
        ("deleted", ()),
    ],
)
def test_allowed_targets_in_lifecycle_order(source: str, expected: tuple[str, ...]) -> None:
    assert lc.allowed_targets(source) == expected


@pytest.mark.parametrize(
    ("source", "target", "amendment"),
    [
        ("approved", "approved", True),
        ("provisioned", "approved", True),
        ("active", "approved", True),
        ("submitted", "approved", False),
        ("approved", "provisioned", False),
        ("closed", "approved", False),
    ],
)
def test_is_amendment(source: str, target: str, amendment: bool) -> None:
    assert lc.is_amendment(source, target) is amendment


@pytest.mark.parametrize("bad", ["", "Approved", "archived"])
def test_unknown_state_is_refused(bad: str) -> None:
    with pytest.raises(StateError, match="unknown project state"):
        lc.check_state(bad)
    with pytest.raises(StateError, match="unknown project state"):
        lc.check_transition("approved", bad)
    with pytest.raises(StateError):
        lc.allowed_targets(bad)
    assert not lc.can_transition(bad, "approved")


def test_unknown_source_state_is_refused() -> None:
    with pytest.raises(StateError, match="unknown project state"):
        lc.check_transition("archived", "approved")
