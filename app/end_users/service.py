"""End users: who they are (identify, with an anonymous visitor's state merged in), and
one person's data on request: everything stored about them, or none of it any more."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
from app.end_users.visitors import Visitor
from app.engagement.counting import StatsDelta, merge_state, states_by_announcement
from app.engagement.repository import EngagementRepository
from app.errors import NotFound
from app.kit.ids import new_id
from app.kit.time import as_utc
from app.models import EndUser, UserState

# Raw events are kept TIDINGS_EVENT_RETENTION_DAYS (180 by default): for one person that
# is rarely more than a few hundred. Past this many, the export lists the newest and says so.
MAX_EXPORTED_EVENTS = 10_000


class EndUserService:
    async def identify(
        self,
        session: AsyncSession,
        workspace_id: str,
        visitor: Visitor,
        attributes: dict[str, Any],
        locale: str | None,
        now: datetime,
    ) -> tuple[EndUser, Sequence[UserState]]:
        """Store who the visitor is; an anonymous visitor who identifies brings their state.

        Returns the end user as now stored and their states, read back in the caller's
        transaction (the feed answered shows what was just written).
        """
        repository = EndUserRepository(session)
        user_id, anonymous_id = visitor.user_id, visitor.anonymous_id
        end_user = await repository.ensure_end_user(
            workspace_id, new_id("eu"), now, user_id=user_id, anonymous_id=anonymous_id
        )
        if user_id is not None and anonymous_id is not None:
            anonymous = await repository.find_end_user(
                workspace_id, user_id=None, anonymous_id=anonymous_id
            )
            if anonymous is not None and anonymous.merged_into is None:
                await _merge_into(session, workspace_id, anonymous, end_user)
                await repository.mark_merged(anonymous, end_user, now)
        await repository.save_profile(end_user, attributes, locale, now)
        stored = await repository.find_end_user(
            workspace_id, user_id=user_id, anonymous_id=anonymous_id
        )
        assert stored is not None
        return stored, await repository.states_of(workspace_id, stored.id)

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


async def _merge_into(
    session: AsyncSession, workspace_id: str, source: EndUser, target: EndUser
) -> None:
    """Move an anonymous visitor's state to the user they turned out to be."""
    repository = EndUserRepository(session)
    theirs = states_by_announcement(await repository.lock_states(workspace_id, source.id))
    if not theirs:
        return
    await repository.ensure_states(workspace_id, target.id, theirs.keys())
    mine = states_by_announcement(
        await repository.lock_states(workspace_id, target.id, theirs.keys())
    )
    stats = StatsDelta()
    for announcement_id, state in theirs.items():
        merge_state(mine[announcement_id], state, announcement_id, stats)
    await repository.delete_states(workspace_id, source.id)
    await repository.save_states(workspace_id, target.id, mine)
    await EngagementRepository(session).add_stats(stats.rows(workspace_id))


end_user_service = EndUserService()
