"""One person's data on request: everything stored about them, or none of it any more."""

from sqlalchemy.ext.asyncio import AsyncSession

from app.end_users.repository import EndUserRepository
from app.end_users.schemas import (
    EndUserErasure,
    EndUserExport,
    EndUserRecord,
    ErasedCounts,
    EventRecord,
    EventSummary,
    UserStateRecord,
)
from app.errors import NotFound
from app.kit.time import as_utc

# Raw events are kept TIDINGS_EVENT_RETENTION_DAYS (180 by default): for one person that
# is rarely more than a few hundred. Past this many, the export lists the newest and says so.
MAX_EXPORTED_EVENTS = 10_000


class EndUserService:
    async def export(self, session: AsyncSession, workspace_id: str, user_id: str) -> EndUserExport:
        repository = EndUserRepository(session)
        ids = await self._ids(repository, workspace_id, user_id)
        counts = await repository.event_counts(workspace_id, ids)
        total = sum(count for _, count, _, _ in counts)
        events = await repository.newest_events(workspace_id, ids, MAX_EXPORTED_EVENTS)
        return EndUserExport(
            user_id=user_id,
            end_users=[
                EndUserRecord.model_validate(row)
                for row in await repository.end_users(workspace_id, ids)
            ],
            states=[
                UserStateRecord.model_validate(row)
                for row in await repository.states(workspace_id, ids)
            ],
            events=EventSummary(
                total=total,
                by_type={kind: count for kind, count, _, _ in counts},
                first_occurred_at=min((as_utc(c[2]) for c in counts), default=None),
                last_occurred_at=max((as_utc(c[3]) for c in counts), default=None),
                complete=len(events) == total,
                items=[EventRecord.model_validate(row) for row in events],
            ),
        )

    async def erase(self, session: AsyncSession, workspace_id: str, user_id: str) -> EndUserErasure:
        repository = EndUserRepository(session)
        ids = await self._ids(repository, workspace_id, user_id)
        counts = await repository.erase(workspace_id, ids)
        return EndUserErasure(user_id=user_id, deleted=ErasedCounts(**counts))

    async def _ids(
        self, repository: EndUserRepository, workspace_id: str, user_id: str
    ) -> list[str]:
        ids = await repository.ids_of_person(workspace_id, user_id)
        if not ids:
            raise NotFound(f"No end user {user_id!r} in this workspace.")
        return ids


end_user_service = EndUserService()
