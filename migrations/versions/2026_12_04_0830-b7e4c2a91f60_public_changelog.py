"""public changelog: workspace theming and host, announcements' public_despite_audience

Revision ID: b7e4c2a91f60
Revises: 03ae91b9bdd0
Create Date: 2026-12-04 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7e4c2a91f60"
down_revision: str | None = "03ae91b9bdd0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite can only add a unique constraint by rebuilding the table.
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("changelog_name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("changelog_logo_url", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("changelog_accent", sa.String(length=7), nullable=True))
        batch.add_column(sa.Column("changelog_product_url", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("changelog_host", sa.String(length=253), nullable=True))
        batch.create_unique_constraint(op.f("uq_workspaces_changelog_host"), ["changelog_host"])
    with op.batch_alter_table("announcements") as batch:
        batch.add_column(
            sa.Column(
                "public_despite_audience",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("announcements") as batch:
        batch.drop_column("public_despite_audience")
    with op.batch_alter_table("workspaces") as batch:
        batch.drop_constraint(op.f("uq_workspaces_changelog_host"), type_="unique")
        batch.drop_column("changelog_host")
        batch.drop_column("changelog_product_url")
        batch.drop_column("changelog_accent")
        batch.drop_column("changelog_logo_url")
        batch.drop_column("changelog_name")
