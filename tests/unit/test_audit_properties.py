"""Generative: any deletion, reordering, truncation or content change of a chain is detected."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hdc_toolkit.audit import GENESIS_HASH, entry_hash, verify_lines

FIELDS = ("seq", "ts", "actor", "action", "project", "details", "prev", "hash")


def chain(n: int) -> list[str]:
    lines, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        body = {
            "seq": seq,
            "ts": f"2027-01-0{seq % 9 + 1}T00:00:00+00:00",
            "actor": f"u{seq}",
            "action": "test.event",
            "project": "p" if seq % 2 else None,
            "details": {"n": seq},
            "prev": prev,
        }
        body["hash"] = prev = entry_hash(body)
        lines.append(json.dumps({k: body[k] for k in FIELDS}, separators=(",", ":")))
    return lines


def head(lines: list[str]) -> tuple[str, int]:
    return (json.loads(lines[-1])["hash"], len(lines)) if lines else (GENESIS_HASH, 0)


sizes = st.integers(min_value=1, max_value=12)
PROPS = settings(max_examples=150, deadline=None, derandomize=True)


@PROPS
@given(sizes)
def test_intact_chain_verifies(n: int) -> None:
    lines = chain(n)
    assert verify_lines(lines, *head(lines)).passed


@PROPS
@given(sizes, st.data())
def test_any_deleted_line_is_detected(n: int, data: st.DataObject) -> None:
    lines = chain(n)
    i = data.draw(st.integers(0, n - 1))
    run = verify_lines(lines[:i] + lines[i + 1 :], *head(lines))
    assert not run.passed
    expected_line = i + 1 if i < n - 1 else n - 1  # the entry after the gap, or the new end of the log
    assert run.metadata["first_problem"]["line"] in (expected_line, None)


@PROPS
@given(st.integers(2, 12), st.data())
def test_any_swap_is_detected(n: int, data: st.DataObject) -> None:
    lines = chain(n)
    i = data.draw(st.integers(0, n - 2))
    j = data.draw(st.integers(i + 1, n - 1))
    swapped = list(lines)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    run = verify_lines(swapped, *head(lines))
    assert not run.passed and run.metadata["first_problem"]["line"] == i + 1


@PROPS
@given(sizes, st.data())
def test_any_truncation_is_detected(n: int, data: st.DataObject) -> None:
    lines = chain(n)
    k = data.draw(st.integers(0, n - 1))
    run = verify_lines(lines[:k], *head(lines))
    assert not run.passed and run.by_key()["audit.head"].verdict.value == "failed"


@PROPS
@given(sizes, st.data())
def test_any_content_change_is_detected(n: int, data: st.DataObject) -> None:
    lines = chain(n)
    i = data.draw(st.integers(0, n - 1))
    pos = data.draw(st.integers(0, len(lines[i]) - 1))
    char = data.draw(st.characters(codec="utf-8", exclude_characters="\n\r"))
    mutated = list(lines)
    mutated[i] = lines[i][:pos] + char + lines[i][pos + 1 :]
    try:
        same = json.loads(mutated[i]) == json.loads(lines[i])
    except ValueError:
        same = False
    run = verify_lines(mutated, *head(lines))
    if same:  # e.g. whitespace or an equivalent number spelling: the content did not change
        assert run.passed
    else:
        assert not run.passed and run.metadata["first_problem"]["line"] == i + 1
