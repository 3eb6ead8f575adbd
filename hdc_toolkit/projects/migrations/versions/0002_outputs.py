"""Airlock tables: output requests, their files and reviews, and the ledger of released tables.

Revision ID: 0002_outputs
Revises: 0001_initial
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_outputs"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

REQUEST_STATES = (
    "submitted",
    "partially_reviewed",
    "approved",
    "rejected",
    "returned",
    "released",
    "withdrawn",
)
DECISIONS = ("approve", "reject", "return")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "output_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("risk_profile", sa.String(64), nullable=False),
        sa.Column("profile_version", sa.Integer(), nullable=False),
        sa.Column("profile_sha256", sa.String(64), nullable=False),
        sa.Column("permit_version", sa.Integer(), nullable=False),
        sa.Column("permit_sha256", sa.String(64), nullable=False),
        sa.Column("code_name", sa.Text(), nullable=True),
        sa.Column("code_sha256", sa.String(64), nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("blocking", sa.Integer(), nullable=False),
        sa.Column("flagged_cells", sa.Integer(), nullable=False),
        sa.Column("record_sha256", sa.String(64), nullable=False),
        sa.Column("staging_path", sa.Text(), nullable=False),
        sa.Column("outbox_path", sa.Text(), nullable=True),
        sa.Column("release_sha256", sa.String(64), nullable=True),
        sa.Column("released_by", sa.String(64), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("released_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_output_requests")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_output_requests_project_id_projects")
        ),
        sa.CheckConstraint(f"state IN ({_in(REQUEST_STATES)})", name=op.f("ck_output_requests_state")),
    )
    op.create_index(op.f("ix_output_requests_project_id"), "output_requests", ["project_id"])
    op.create_index(op.f("ix_output_requests_author"), "output_requests", ["author"])
    op.create_table(
        "output_files",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("table_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_output_files")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["output_requests.id"], name=op.f("fk_output_files_request_id_output_requests")
        ),
        sa.UniqueConstraint(
            "request_id", "round", "name", name=op.f("uq_output_files_request_id_round_name")
        ),
    )
    op.create_index(op.f("ix_output_files_request_id"), "output_files", ["request_id"])
    op.create_table(
        "output_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_output_reviews")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["output_requests.id"], name=op.f("fk_output_reviews_request_id_output_requests")
        ),
        sa.UniqueConstraint(
            "request_id", "round", "reviewer", name=op.f("uq_output_reviews_request_id_round_reviewer")
        ),
        sa.CheckConstraint(f"decision IN ({_in(DECISIONS)})", name=op.f("ck_output_reviews_decision")),
    )
    op.create_index(op.f("ix_output_reviews_request_id"), "output_reviews", ["request_id"])
    op.create_table(
        "output_ledger",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("table_json", sa.Text(), nullable=False),
        sa.Column("released_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_output_ledger")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_output_ledger_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"], ["output_requests.id"], name=op.f("fk_output_ledger_request_id_output_requests")
        ),
    )
    op.create_index(op.f("ix_output_ledger_project_id"), "output_ledger", ["project_id"])
    op.create_index(op.f("ix_output_ledger_request_id"), "output_ledger", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_output_ledger_request_id"), table_name="output_ledger")
    op.drop_index(op.f("ix_output_ledger_project_id"), table_name="output_ledger")
    op.drop_table("output_ledger")
    op.drop_index(op.f("ix_output_reviews_request_id"), table_name="output_reviews")
    op.drop_table("output_reviews")
    op.drop_index(op.f("ix_output_files_request_id"), table_name="output_files")
    op.drop_table("output_files")
    op.drop_index(op.f("ix_output_requests_author"), table_name="output_requests")
    op.drop_index(op.f("ix_output_requests_project_id"), table_name="output_requests")
    op.drop_table("output_requests")
