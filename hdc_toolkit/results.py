"""Result objects shared by every gate: a :class:`Run` of :class:`Check` results.

Gates (contract validation, release gates, output checks, budget checks) return results rather than
raising: a failed check is a result with a clear reason; an exception means the check could not run.
"""

from __future__ import annotations

import datetime as _dt
import enum
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hdc_toolkit._io import atomic_write_json

__all__ = ["Check", "Run", "Verdict"]


class Verdict(str, enum.Enum):
    """The outcome of one check. Ordered by severity: passed < warning < failed < error."""

    PASSED = "passed"
    WARNING = "warning"
    FAILED = "failed"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def worst(cls, verdicts: list[Verdict]) -> Verdict:
        return max(verdicts, key=lambda v: v.rank, default=cls.PASSED)


_RANK = {Verdict.PASSED: 0, Verdict.WARNING: 1, Verdict.FAILED: 2, Verdict.ERROR: 3}


@dataclass
class Check:
    """The result of one check.

    ``failing_count`` counts the rows (or cells, or items) that broke the rule out of
    ``element_count``; ``examples`` holds a few failing values, already masked where the column is
    a direct identifier or sensitive.
    """

    key: str
    kind: str
    verdict: Verdict
    table: str | None = None
    column: str | None = None
    message: str = ""
    element_count: int | None = None
    failing_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failing_fraction(self) -> float | None:
        if self.failing_count is None or not self.element_count:
            return None
        return self.failing_count / self.element_count

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["verdict"] = self.verdict.value
        d["failing_fraction"] = self.failing_fraction
        return d


@dataclass
class Run:
    """A named collection of checks, with when it ran and on what."""

    name: str
    checks: list[Check] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=lambda: _now())
    finished: str | None = None

    @property
    def verdict(self) -> Verdict:
        return Verdict.worst([c.verdict for c in self.checks])

    @property
    def passed(self) -> bool:
        """True when no check failed or errored (warnings do not fail a gate)."""
        return self.verdict in (Verdict.PASSED, Verdict.WARNING)

    def finish(self) -> Run:
        self.finished = _now()
        return self

    def by_key(self) -> dict[str, Check]:
        return {c.key: c for c in self.checks}

    def counts(self) -> dict[str, int]:
        out = {v.value: 0 for v in Verdict}
        for c in self.checks:
            out[c.verdict.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "passed": self.passed,
            "started": self.started,
            "finished": self.finished,
            "counts": self.counts(),
            "metadata": self.metadata,
            "checks": [c.to_dict() for c in self.checks],
        }

    def write_json(self, path: str | Path) -> Path:
        """Write the run as JSON atomically (temporary name, then rename)."""
        return atomic_write_json(path, self.to_dict())


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
