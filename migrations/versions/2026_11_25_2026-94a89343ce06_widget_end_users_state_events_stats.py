"""widget end users state events stats

Revision ID: 94a89343ce06
Revises: 2a43b3c06e1e
Create Date: 2026-11-25 20:26:15.487363
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "94a89343ce06"
down_revision: str | None = "2a43b3c06e1e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "end_users",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=256), nullable=True),
        sa.Column("anonymous_id", sa.String(length=64), nullable=True),
        sa.Column("merged_into", sa.String(length=40), nullable=True),
        sa.Column(
            "attributes", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("locale", sa.String(length=35), nullable=True),
        sa.Column("state_version", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_end_users_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_end_users")),
        sa.UniqueConstraint(
            "workspace_id", "anonymous_id", name=op.f("uq_end_users_workspace_id_anonymous_id")
        ),
        sa.UniqueConstraint(
            "workspace_id", "user_id", name=op.f("uq_end_users_workspace_id_user_id")
        ),
    )
    with op.batch_alter_table("end_users", schema=None) as batch_op:
        batch_op.create_index(
            "ix_end_users_workspace_id_merged_into", ["workspace_id", "merged_into"], unique=False
        )

    op.create_table(
        "announcement_stats",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("announcement_id", sa.String(length=40), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("impressions", sa.Integer(), nullable=False),
        sa.Column("clicks", sa.Integer(), nullable=False),
        sa.Column("dismissals", sa.Integer(), nullable=False),
        sa.Column("reactions_positive", sa.Integer(), nullable=False),
        sa.Column("reactions_neutral", sa.Integer(), nullable=False),
        sa.Column("reactions_negative", sa.Integer(), nullable=False),
        sa.Column("unique_viewers", sa.Integer(), nullable=False),
        sa.Column("unique_clickers", sa.Integer(), nullable=False),
        sa.Column("unique_dismissers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "announcement_id"],
            ["announcements.workspace_id", "announcements.id"],
            name=op.f("fk_announcement_stats_workspace_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "announcement_id", "bucket", name=op.f("pk_announcement_stats")
        ),
    )
    op.create_table(
        "events",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("end_user_id", sa.String(length=40), nullable=True),
        sa.Column("announcement_id", sa.String(length=40), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=32), nullable=True),
        sa.Column("surface", sa.String(length=16), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clamped", sa.Boolean(), nullable=False),
        sa.Column("payload_hash", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "announcement_id"],
            ["announcements.workspace_id", "announcements.id"],
            name=op.f("fk_events_workspace_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_events_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_workspace_id_announcement_id",
            ["workspace_id", "announcement_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_events_workspace_id_end_user_id", ["workspace_id", "end_user_id"], unique=False
        )

    op.create_table(
        "user_states",
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("end_user_id", sa.String(length=40), nullable=False),
        sa.Column("announcement_id", sa.String(length=40), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_count", sa.Integer(), nullable=False),
        sa.Column("first_impression_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismissed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reaction", sa.String(length=16), nullable=True),
        sa.Column("reacted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_shown_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id", "announcement_id"],
            ["announcements.workspace_id", "announcements.id"],
            name=op.f("fk_user_states_workspace_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "end_user_id"],
            ["end_users.workspace_id", "end_users.id"],
            name=op.f("fk_user_states_workspace_id_end_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workspace_id", "end_user_id", "announcement_id", name=op.f("pk_user_states")
        ),
    )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("content_version", sa.Integer(), nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("content_version")

    op.drop_table("user_states")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_workspace_id_end_user_id")
        batch_op.drop_index("ix_events_workspace_id_announcement_id")

    op.drop_table("events")
    op.drop_table("announcement_stats")
    with op.batch_alter_table("end_users", schema=None) as batch_op:
        batch_op.drop_index("ix_end_users_workspace_id_merged_into")

    op.drop_table("end_users")
