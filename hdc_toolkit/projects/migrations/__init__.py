"""Alembic migrations of the project registry, shipped inside the package (no ``alembic.ini`` needed).

:func:`upgrade_to_head` runs them programmatically on an engine: it takes the registry's write lock
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL) and upgrades inside that one
transaction, so two processes opening a fresh database at once do not race; the loser finds the
schema at head and does nothing.

Adding a table later (privacy budget ledger, output requests): declare the model on
:class:`hdc_toolkit.projects.registry.Base`, add ``versions/NNNN_<what>.py`` whose ``down_revision`` is
the current head, and write the ``op.create_table`` calls by hand (or generate them with
``alembic -c <ini with script_location=hdc_toolkit/projects/migrations> revision --autogenerate``
against a scratch database). Keep each migration self-contained: never import models in it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = [
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "alembic_config",
    "current_revision",
    "head_revision",
    "upgrade_to_head",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent
# Our own version table, so a JupyterHub (also Alembic) database at the same URL cannot collide.
VERSION_TABLE = "hdc_registry_version"


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped in this package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("version_table", VERSION_TABLE)
    return cfg


def head_revision() -> str:
    """The newest revision id in the package."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def upgrade_to_head(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` under the registry's write lock (no-op when already there)."""
    from hdc_toolkit.projects.registry import take_write_lock

    if revision == "head" and current_revision(engine) == head_revision():
        return
    cfg = alembic_config()
    with engine.execution_options(hdc_write=True).connect() as conn:
        with conn.begin():
            take_write_lock(conn)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
