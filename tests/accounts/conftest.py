from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.schemas import Role
from app.accounts.service import SessionPolicy
from app.accounts.throttle import LoginThrottle
from app.config import Settings
from app.ratelimit.buckets import LocalRateLimiter
from tests.fixtures.accounts import TestMember, create_member
from tests.fixtures.tenants import Tenant

MakeMember = Callable[..., Awaitable[TestMember]]


class Clock:
    """A monotonic clock the test moves by hand (for the rate limiter's buckets)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy.from_settings(settings)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def throttle(settings: Settings, clock: Clock) -> LoginThrottle:
    return LoginThrottle(settings, LocalRateLimiter(clock=clock))


@pytest.fixture
def make_member(session: AsyncSession, tenant: Tenant) -> MakeMember:
    async def make(role: Role = Role.editor, **overrides: Any) -> TestMember:
        return await create_member(session, tenant.workspace_id, role, **overrides)

    return make
