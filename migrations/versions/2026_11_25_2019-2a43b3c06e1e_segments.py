"""segments

Revision ID: 2a43b3c06e1e
Revises: d220052d0e05
Create Date: 2026-11-25 20:19:52.558374
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2a43b3c06e1e"
down_revision: str | None = "d220052d0e05"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column(
            "condition", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_segments_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_segments")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_segments_workspace_id_name")),
    )
    op.create_table(
        "announcement_segments",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("announcement_id", sa.String(length=40), nullable=False),
        sa.Column("segment_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "announcement_id"],
            ["announcements.workspace_id", "announcements.id"],
            name=op.f("fk_announcement_segments_workspace_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "segment_id"],
            ["segments.workspace_id", "segments.id"],
            name=op.f("fk_announcement_segments_workspace_id_segments"),
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "announcement_id", "segment_id", name=op.f("pk_announcement_segments")
        ),
    )
    with op.batch_alter_table("announcement_segments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_announcement_segments_workspace_id_segment_id",
            ["workspace_id", "segment_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("announcement_segments", schema=None) as batch_op:
        batch_op.drop_index("ix_announcement_segments_workspace_id_segment_id")

    op.drop_table("announcement_segments")
    op.drop_table("segments")
