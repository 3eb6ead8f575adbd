"""Initial registry schema: projects, members, permits, permitted columns, releases, audit head.

Revision ID: 0001_initial
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

STATES = ("submitted", "approved", "provisioned", "active", "closed", "deleted")
ROLES = ("project_leader", "researcher", "data_steward", "output_checker")
RELEASE_STATES = ("released", "revoked", "deleted")
GENESIS_HASH = "0" * 64


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("risk_profile", sa.String(64), nullable=True),
        sa.Column("dp_epsilon", sa.Float(), nullable=True),
        sa.Column("dp_delta", sa.Float(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("deletion_date", sa.Date(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.CheckConstraint(f"state IN ({_in(STATES)})", name=op.f("ck_projects_state")),
    )
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_members_project_id_projects")),
        sa.UniqueConstraint("project_id", "username", name=op.f("uq_members_project_id_username")),
        sa.CheckConstraint(f"role IN ({_in(ROLES)})", name=op.f("ck_members_role")),
    )
    op.create_index(op.f("ix_members_project_id"), "members", ["project_id"])
    op.create_index(op.f("ix_members_username"), "members", ["username"])
    op.create_table(
        "permits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("application_json", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=False),
        sa.Column("approved_at", _ts(), nullable=False),
        sa.Column("supersedes", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permits")),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("fk_permits_project_id_projects")),
        sa.ForeignKeyConstraint(["supersedes"], ["permits.id"], name=op.f("fk_permits_supersedes_permits")),
        sa.UniqueConstraint("project_id", "version", name=op.f("uq_permits_project_id_version")),
    )
    op.create_index(op.f("ix_permits_project_id"), "permits", ["project_id"])
    op.create_index(op.f("ix_permits_sha256"), "permits", ["sha256"])
    op.create_table(
        "permitted_columns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("permit_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("column", sa.String(128), nullable=False),
        sa.Column("granularity", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_permitted_columns")),
        sa.ForeignKeyConstraint(
            ["permit_id"], ["permits.id"], name=op.f("fk_permitted_columns_permit_id_permits")
        ),
        sa.UniqueConstraint(
            "permit_id", "dataset", "column", name=op.f("uq_permitted_columns_permit_id_dataset_column")
        ),
    )
    op.create_index(op.f("ix_permitted_columns_permit_id"), "permitted_columns", ["permit_id"])
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("permit_sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_releases_project_id_projects")
        ),
        sa.CheckConstraint(f"state IN ({_in(RELEASE_STATES)})", name=op.f("ck_releases_state")),
    )
    op.create_index(op.f("ix_releases_project_id"), "releases", ["project_id"])
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(
        audit_head,
        [
            {
                "id": 1,
                "head_hash": GENESIS_HASH,
                "entry_count": 0,
                "updated_at": dt.datetime.now(dt.timezone.utc),
            }
        ],
    )


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index(op.f("ix_releases_project_id"), table_name="releases")
    op.drop_table("releases")
    op.drop_index(op.f("ix_permitted_columns_permit_id"), table_name="permitted_columns")
    op.drop_table("permitted_columns")
    op.drop_index(op.f("ix_permits_sha256"), table_name="permits")
    op.drop_index(op.f("ix_permits_project_id"), table_name="permits")
    op.drop_table("permits")
    op.drop_index(op.f("ix_members_username"), table_name="members")
    op.drop_index(op.f("ix_members_project_id"), table_name="members")
    op.drop_table("members")
    op.drop_table("projects")
