"""What every repository shares: its session, its dialect, and versioned updates."""

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``: the few statements that differ are built for it."""
        return self.session.bind.dialect.name if self.session.bind else "sqlite"

    async def compare_and_update(
        self,
        model: Any,
        workspace_id: str,
        row_id: str,
        expected_version: int,
        values: dict[str, Any],
    ) -> bool:
        """Apply ``values`` only if nobody changed the row since ``expected_version``.

        The row's ``version`` moves to the next one with them: the ETag an ``If-Match``
        names, so a second author working from the same version gets 412, not a silent
        overwrite.
        """
        statement = (
            update(model)
            .where(
                model.workspace_id == workspace_id,
                model.id == row_id,
                model.version == expected_version,
            )
            .values(**values, version=expected_version + 1)
        )
        result = await self.session.execute(statement)
        return bool(getattr(result, "rowcount", 0) == 1)
