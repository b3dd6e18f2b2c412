"""user_states clustered by user on SQLite

Revision ID: 5c1f0e7a9b3d
Revises: 94a89343ce06
Create Date: 2026-11-26 05:20:00

On SQLite, ``user_states`` becomes a WITHOUT ROWID table: its rows are stored in primary
key order, (workspace, end user, announcement), so one user's states sit together. The
feed reads them in one B-tree descent instead of an index entry plus a table lookup per
row, and the event writer updates one B-tree per state instead of two. PostgreSQL is
unchanged.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5c1f0e7a9b3d"
down_revision: str | None = "94a89343ce06"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_user_states(*, with_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # A table's storage can only change by copying it into a new one (batch mode).
    with op.batch_alter_table(
        "user_states", recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
    ):
        pass


def upgrade() -> None:
    _rebuild_user_states(with_rowid=False)


def downgrade() -> None:
    _rebuild_user_states(with_rowid=True)
