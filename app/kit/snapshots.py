"""Per-process snapshots of each workspace's content, re-checked by ``content_version``.

Each process keeps one snapshot per workspace and checks the workspace's
``content_version`` (one primary-key read) in the background once a snapshot is half of
``recheck_s`` old, and before serving one that is older (app/kit/refresh.py): every write
that changes what readers see bumps that version, so a replica serves a change made on
another replica within ``recheck_s`` plus one query (up to five times ``recheck_s`` when
the server is so overloaded that the re-check itself queues). The widget feed and the
public changelog each keep theirs, built by their own ``load``.
"""

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from app.kit.refresh import Renewals
from app.models import Workspace


class Versioned(Protocol):
    @property
    def content_version(self) -> int: ...


S = TypeVar("S", bound=Versioned)
# Builds a workspace's snapshot in the session given, or None when the workspace is gone.
Load = Callable[[AsyncSession, str], Awaitable[S | None]]


@dataclass(slots=True)
class _Entry(Generic[S]):
    snapshot: S
    checked_at: float


class SnapshotCache(Generic[S]):
    def __init__(
        self, load: Load[S], *, what: str, recheck_s: float = 1.0, max_workspaces: int = 10_000
    ) -> None:
        self.load = load
        self.recheck_s = recheck_s
        self.max_workspaces = max_workspaces
        self._entries: OrderedDict[str, _Entry[S]] = OrderedDict()
        self._renewals = Renewals(what)

    async def get(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> S | None:
        snapshot = self.get_now(sessionmaker, workspace_id)
        if snapshot is not None:
            return snapshot
        return await self._renewed(sessionmaker, workspace_id)

    def get_now(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> S | None:
        """The snapshot if it can be served without waiting, as nearly every time."""
        entry = self._entries.get(workspace_id)
        if entry is None:
            return None
        age = time.monotonic() - entry.checked_at
        renewals = self._renewals
        if not renewals.may_serve(
            workspace_id, age, self.recheck_s, self._reload, sessionmaker, workspace_id
        ):
            return None
        return entry.snapshot

    async def renew(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> S | None:
        """The snapshot checked against the database now (unless it was ``recheck_s / 2`` ago).

        For a request that names something its snapshot lacks: published a moment ago,
        another replica may already show it.
        """
        return await self._renewed(sessionmaker, workspace_id)

    async def aclose(self) -> None:
        await self._renewals.aclose()

    async def _renewed(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> S | None:
        """The workspace's snapshot after the reload under way, or after a new one.

        Every request that waits shares that one reload and wakes in the same turn of the
        loop when it ends. (Behind a lock they woke one per turn: at 64 busy connections
        the 60th request after an idle pause waited about a second.)
        """
        reload = partial(self._reload, sessionmaker, workspace_id)
        snapshot: S | None = await self._renewals.wait(workspace_id, reload)
        return snapshot

    async def _reload(
        self, sessionmaker: async_sessionmaker[AsyncSession], workspace_id: str
    ) -> S | None:
        # Renewals runs one of these at a time per workspace.
        async with sessionmaker() as session:
            entry = self._entries.get(workspace_id)
            if entry is not None and time.monotonic() - entry.checked_at < self.recheck_s / 2:
                return entry.snapshot  # renewed a moment ago
            version = await _content_version(session, workspace_id)
            if version is None:
                self._entries.pop(workspace_id, None)
                return None
            if entry is not None and entry.snapshot.content_version == version:
                entry.checked_at = time.monotonic()
                return entry.snapshot
            snapshot = await self.load(session, workspace_id)
            if snapshot is None:
                return None
            self._entries[workspace_id] = _Entry(snapshot, time.monotonic())
            self._entries.move_to_end(workspace_id)
            while len(self._entries) > self.max_workspaces:
                self._entries.popitem(last=False)
            return snapshot


async def _content_version(session: AsyncSession, workspace_id: str) -> int | None:
    statement = select(col(Workspace.content_version)).where(col(Workspace.id) == workspace_id)
    return (await session.execute(statement)).scalar_one_or_none()
