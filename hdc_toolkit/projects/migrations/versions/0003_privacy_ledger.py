"""Privacy budget ledger: one row per reservation / charge against a project's DP budget.

Revision ID: 0003_privacy_ledger
Revises: 0002_outputs
Create Date: 2026-05-10

See :mod:`hdc_toolkit.privacy.models` for the meaning of each column (kept self-contained here:
migrations never import models).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_privacy_ledger"
down_revision = "0002_outputs"
branch_labels = None
depends_on = None

ENTRY_KINDS = ("training", "synthetic", "preprocessing", "query")
ENTRY_STATES = ("reserved", "running", "committed", "released", "abandoned")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "privacy_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("permit_version", sa.Integer(), nullable=False),
        sa.Column("permit_sha256", sa.String(64), nullable=False),
        sa.Column("release_sha256", sa.String(64), nullable=True),
        sa.Column("code_sha256", sa.String(64), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("accountant", sa.String(16), nullable=False),
        sa.Column("mechanism_json", sa.Text(), nullable=False),
        sa.Column("rdp_json", sa.Text(), nullable=True),
        sa.Column("charged_epsilon", sa.Float(), nullable=True),
        sa.Column("charged_delta", sa.Float(), nullable=True),
        sa.Column("charged_mechanism_json", sa.Text(), nullable=True),
        sa.Column("charged_rdp_json", sa.Text(), nullable=True),
        sa.Column("progress_steps", sa.Integer(), nullable=False),
        sa.Column("owner_pid", sa.Integer(), nullable=False),
        sa.Column("owner_host", sa.String(255), nullable=False),
        sa.Column("owner_boot_id", sa.String(64), nullable=False),
        sa.Column("owner_started", sa.Float(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("started_at", _ts(), nullable=True),
        sa.Column("heartbeat_at", _ts(), nullable=False),
        sa.Column("lease_expires_at", _ts(), nullable=False),
        sa.Column("deadline_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_ledger")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_privacy_ledger_project_id_projects")
        ),
        sa.UniqueConstraint("run_id", name=op.f("uq_privacy_ledger_run_id")),
        sa.CheckConstraint(f"state IN ({_in(ENTRY_STATES)})", name=op.f("ck_privacy_ledger_state")),
        sa.CheckConstraint(f"kind IN ({_in(ENTRY_KINDS)})", name=op.f("ck_privacy_ledger_kind")),
    )
    op.create_index(op.f("ix_privacy_ledger_project_id"), "privacy_ledger", ["project_id"])
    op.create_index(op.f("ix_privacy_ledger_state"), "privacy_ledger", ["state"])
    op.create_index("ix_privacy_ledger_project_dataset", "privacy_ledger", ["project_id", "dataset"])


def downgrade() -> None:
    op.drop_index("ix_privacy_ledger_project_dataset", table_name="privacy_ledger")
    op.drop_index(op.f("ix_privacy_ledger_state"), table_name="privacy_ledger")
    op.drop_index(op.f("ix_privacy_ledger_project_id"), table_name="privacy_ledger")
    op.drop_table("privacy_ledger")
