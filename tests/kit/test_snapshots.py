"""Per-process workspace snapshots: requests that must wait share one reload."""

import asyncio

import pytest
from fastapi import FastAPI

from app.feed.snapshot import WorkspaceSnapshot, WorkspaceSnapshotCache
from app.kit.refresh import STALE_LIMIT
from tests.fixtures.tenants import Tenant

WAITERS = 60  # about the connections of a busy server


class LoopTurns:
    """Counts the event loop's turns while it runs (one ``sleep(0)`` a turn)."""

    def __init__(self) -> None:
        self.count = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    def stop(self) -> None:
        self._task.cancel()


class TestWaitingForASnapshot:
    @pytest.mark.parametrize("before", ["never loaded", "idle past the stale limit"])
    async def test_requests_that_must_wait_all_wake_when_the_one_reload_ends(
        self, app: FastAPI, tenant: Tenant, before: str
    ) -> None:
        sessionmaker = app.state.sessionmaker
        cache = WorkspaceSnapshotCache(recheck_s=0.05)
        first = None
        if before == "idle past the stale limit":  # as after a quiet minute: nothing serves it
            first = await cache.get(sessionmaker, tenant.workspace_id)
            await asyncio.sleep(0.05 * STALE_LIMIT + 0.01)
        assert cache.get_now(sessionmaker, tenant.workspace_id) is None

        turns = LoopTurns()
        woke_at: list[int] = []

        async def request() -> WorkspaceSnapshot | None:
            snapshot = await cache.get(sessionmaker, tenant.workspace_id)
            woke_at.append(turns.count)
            return snapshot

        try:
            snapshots = await asyncio.gather(*(request() for _ in range(WAITERS)))
        finally:
            turns.stop()
            await cache.aclose()

        assert snapshots[0] is not None and snapshots[0].workspace_id == tenant.workspace_id
        assert all(snapshot is snapshots[0] for snapshot in snapshots)
        if first is not None:
            assert snapshots[0] is first  # content unchanged: the same snapshot, re-checked
        # One reload, shared: every waiter wakes within a turn or two of the others. Queued
        # behind a lock they woke one a turn, the last some 60 turns after the first.
        assert max(woke_at) - min(woke_at) <= 2, woke_at

    async def test_an_explicit_renewal_joins_the_one_under_way(
        self, app: FastAPI, tenant: Tenant
    ) -> None:
        sessionmaker = app.state.sessionmaker
        cache = WorkspaceSnapshotCache(recheck_s=60)
        try:
            loaded = await asyncio.gather(
                cache.get(sessionmaker, tenant.workspace_id),
                cache.renew(sessionmaker, tenant.workspace_id),
                cache.renew(sessionmaker, tenant.workspace_id),
            )
            assert loaded[0] is not None
            assert loaded[1] is loaded[0] and loaded[2] is loaded[0]
        finally:
            await cache.aclose()
