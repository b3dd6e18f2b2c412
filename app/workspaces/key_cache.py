"""Publishable keys, remembered per process for a bounded time.

Every widget request carries the publishable key; looking it up in the database each time
would be the largest cost of a feed poll. A lookup's outcome (the workspace, or the
refusal) is kept for ``ttl_s``, and renewed ahead of time in the background (see
app/kit/refresh.py): revoking a publishable key takes effect within that bound on every
replica (up to five times it on an overloaded server), and requests do not wait for the
lookup. Secret keys are never cached.

What is kept is bounded by bytes, not only by entries: only well-formed keys (46
characters) are ever looked up (app/workspaces/auth.py refuses the rest first), refusals
are kept apart from the far fewer live keys and in smaller number, and a refusal is kept
as its message, so no exception (and no traceback, which grows with every raise) lives
in the cache.
"""

import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import Unauthorized
from app.kit.refresh import Renewals
from app.workspaces.keys import KeyKind
from app.workspaces.service import workspace_service


@dataclass(frozen=True, slots=True)
class KeyPrincipal:
    workspace_id: str
    key_id: str
    kind: KeyKind
    label: str = ""  # the key's name and preview, for the audit log


@dataclass(frozen=True, slots=True)
class _Outcome:
    principal: KeyPrincipal | None
    refusal: str | None  # the 401's detail
    looked_up_at: float


class PublishableKeyCache:
    def __init__(
        self, *, ttl_s: float = 1.0, max_keys: int = 100_000, max_refusals: int = 10_000
    ) -> None:
        self.ttl_s = ttl_s
        self.max_keys = max_keys
        self.max_refusals = max_refusals
        self._outcomes: OrderedDict[str, _Outcome] = OrderedDict()
        self._refusals: OrderedDict[str, _Outcome] = OrderedDict()
        self._renewals = Renewals("publishable key")

    async def principal(
        self, sessionmaker: async_sessionmaker[AsyncSession], key: str
    ) -> KeyPrincipal:
        outcome = self._servable(sessionmaker, key)
        if outcome is None:
            outcome = await self._renewals.wait(key, lambda: self._look_up(sessionmaker, key))
        return _principal_of(outcome)

    def principal_now(
        self, sessionmaker: async_sessionmaker[AsyncSession], key: str
    ) -> KeyPrincipal | None:
        """The principal if it can be answered without waiting, as nearly every time."""
        outcome = self._servable(sessionmaker, key)
        return None if outcome is None else _principal_of(outcome)

    def _servable(
        self, sessionmaker: async_sessionmaker[AsyncSession], key: str
    ) -> _Outcome | None:
        """The entry to serve now (renewed ahead in the background when due), if any."""
        outcome = self._outcomes.get(key) or self._refusals.get(key)
        if outcome is None:
            return None
        age = time.monotonic() - outcome.looked_up_at
        renewals = self._renewals
        if not renewals.may_serve(key, age, self.ttl_s, self._look_up, sessionmaker, key):
            return None
        return outcome

    def __len__(self) -> int:
        """How many outcomes are kept (live keys and refusals)."""
        return len(self._outcomes) + len(self._refusals)

    async def aclose(self) -> None:
        await self._renewals.aclose()

    async def _look_up(self, sessionmaker: async_sessionmaker[AsyncSession], key: str) -> _Outcome:
        try:
            async with sessionmaker() as session:
                api_key = await workspace_service.authenticate(session, key)
                await session.commit()  # last_used_at, at most once a minute
        except Unauthorized as exc:
            outcome = _Outcome(None, exc.detail, time.monotonic())
        else:
            principal = KeyPrincipal(api_key.workspace_id, api_key.id, KeyKind.publishable)
            outcome = _Outcome(principal, None, time.monotonic())
        if self.ttl_s > 0:
            if outcome.principal is None:
                self._outcomes.pop(key, None)
                _remember(self._refusals, key, outcome, self.max_refusals)
            else:
                self._refusals.pop(key, None)
                _remember(self._outcomes, key, outcome, self.max_keys)
        return outcome


def _remember(
    outcomes: OrderedDict[str, _Outcome], key: str, outcome: _Outcome, limit: int
) -> None:
    outcomes[key] = outcome
    outcomes.move_to_end(key)
    while len(outcomes) > limit:
        outcomes.popitem(last=False)


def _principal_of(outcome: _Outcome) -> KeyPrincipal:
    if outcome.refusal is not None:
        raise Unauthorized(outcome.refusal)  # a new error each time: see the module's doc
    assert outcome.principal is not None
    return outcome.principal
