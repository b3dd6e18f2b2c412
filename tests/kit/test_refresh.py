"""Refresh-ahead renewals: one at a time per key, shared by waiters, failures contained."""

import asyncio
import logging

import pytest

from app.kit.refresh import STALE_LIMIT, Renewals, is_due, must_wait


class Counter:
    def __init__(self, *, delay_s: float = 0.01, fail: bool = False) -> None:
        self.calls = 0
        self.delay_s = delay_s
        self.fail = fail

    async def renew(self) -> int:
        self.calls += 1
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise ConnectionError("database gone")
        return self.calls


class TestRenewals:
    def test_due_past_half_the_ttl_and_always_with_no_ttl(self) -> None:
        assert not is_due(0.49, 1.0)
        assert is_due(0.5, 1.0)
        assert is_due(0.0, 0.0)

    def test_an_expired_entry_is_served_while_its_renewal_runs_up_to_the_limit(self) -> None:
        assert not must_wait(0.9, 1.0, renewing=False)
        assert must_wait(1.0, 1.0, renewing=False)  # nobody renewing it: wait
        assert not must_wait(1.0, 1.0, renewing=True)  # renewing (overload): serve it
        assert must_wait(STALE_LIMIT * 1.0, 1.0, renewing=True)
        assert must_wait(0.0, 0.0, renewing=True)  # no ttl: always read

    async def test_one_renewal_per_key_however_many_ask(self) -> None:
        renewals, counter = Renewals("thing"), Counter()
        results = await asyncio.gather(*(renewals.wait("k", counter.renew) for _ in range(20)))
        renewals.start("k", counter.renew)  # the first finished: this is a second renewal
        await asyncio.sleep(0.05)
        assert results == [1] * 20
        assert counter.calls == 2

    async def test_keys_renew_independently(self) -> None:
        renewals, counter = Renewals("thing"), Counter()
        await asyncio.gather(renewals.wait("a", counter.renew), renewals.wait("b", counter.renew))
        assert counter.calls == 2

    async def test_a_waiter_that_gives_up_does_not_cancel_it_for_the_others(self) -> None:
        renewals, counter = Renewals("thing"), Counter(delay_s=0.1)
        impatient = asyncio.create_task(renewals.wait("k", counter.renew))
        patient = asyncio.create_task(renewals.wait("k", counter.renew))
        await asyncio.sleep(0.02)
        impatient.cancel()
        assert await patient == 1
        assert counter.calls == 1

    async def test_a_failed_renewal_reaches_its_waiters_and_the_next_one_runs(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        renewals, counter = Renewals("thing"), Counter(fail=True)
        with caplog.at_level(logging.WARNING, logger="tidings.cache"):
            with pytest.raises(ConnectionError):
                await renewals.wait("k", counter.renew)
            background = renewals.start("k", counter.renew)
            await asyncio.gather(background, return_exceptions=True)
        assert counter.calls == 2
        assert "renewing a cached thing failed: ConnectionError" in caplog.text

    async def test_closing_cancels_what_is_in_flight(self) -> None:
        renewals, counter = Renewals("thing"), Counter(delay_s=10)
        task = renewals.start("k", counter.renew)
        await asyncio.sleep(0)
        await renewals.aclose()
        assert task.cancelled()
