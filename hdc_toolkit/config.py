"""Settings resolved from an explicit environment mapping (never read deep inside the library)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


def _default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "hdc"


@dataclass(frozen=True)
class Settings:
    """Where the toolkit keeps its state.

    ``home`` (``HDC_HOME``) holds the registry, the audit log, keys and ``projects/<id>/``.
    ``database_url`` (``HDC_DATABASE_URL``) selects the registry database; default SQLite in ``home``.
    """

    home: Path
    database_url: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("HDC_HOME") or _default_home()).expanduser().resolve()
        url = env.get("HDC_DATABASE_URL") or f"sqlite:///{home / 'registry.sqlite'}"
        return cls(home=home, database_url=url)

    @property
    def projects_dir(self) -> Path:
        return self.home / "projects"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.jsonl"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"
