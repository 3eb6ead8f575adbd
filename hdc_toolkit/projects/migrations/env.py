"""Alembic environment: runs on the connection that :func:`upgrade_to_head` passes in."""

from __future__ import annotations

from alembic import context

from hdc_toolkit.projects.migrations import VERSION_TABLE
from hdc_toolkit.projects.registry import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError(
        "hdc registry migrations run on a live connection: use "
        "hdc_toolkit.projects.migrations.upgrade_to_head(engine) (open_registry() calls it)"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
