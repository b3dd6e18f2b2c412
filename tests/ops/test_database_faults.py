"""PostgreSQL goes away under load and comes back: 503s meanwhile, no 500, no hang, no
acknowledged event lost, and recovery without a restart.

A TCP proxy stands between the service and PostgreSQL; the test cuts it (or stalls it)
while workers keep sending event batches, feed polls and admin reads.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import make_url

from app.migrate import upgrade_database
from tests.fixtures.apps import client_for, running_app
from tests.fixtures.databases import fresh_database, in_thread
from tests.fixtures.load import Load, Outcome
from tests.fixtures.seeding import Seeded, events_found, plain_settings, seed_workspace
from tests.fixtures.tcp_proxy import TcpProxy

figures = logging.getLogger("tests.figures")

ANSWER_WITHIN_S = 5.0
RECOVER_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database("postgresql", tmp_path_factory.mktemp("faults")) as url:
        in_thread(upgrade_database, url)
        yield url


@pytest.fixture
async def seeded(postgres_url: str) -> Seeded:
    return await seed_workspace(postgres_url)


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    tcp_proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await tcp_proxy.start()
    try:
        yield tcp_proxy
    finally:
        await tcp_proxy.close()


def _through(proxy: TcpProxy, database_url: str) -> str:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def _assert_answers(outcomes: list[Outcome]) -> None:
    """Every request answered, within the bound, and never with a 500 or a bare failure."""
    assert outcomes
    for outcome in outcomes:
        assert outcome.status is not None, outcome
        assert outcome.status in {200, 202, 304, 503}, outcome
        assert outcome.elapsed_s < ANSWER_WITHIN_S, outcome
        if outcome.status == 503:
            assert outcome.retry_after is not None and outcome.retry_after.isdigit(), outcome


async def _wait_until_ready(load: Load) -> float:
    started = time.monotonic()
    while time.monotonic() - started < RECOVER_WITHIN_S * 2:
        if (await load.send("ready")).status == 200:
            return time.monotonic()
        await asyncio.sleep(0.1)
    raise AssertionError("the service did not recover")


class TestDatabaseGoesAway:
    async def test_cut_under_load_then_restore(self, seeded: Seeded, proxy: TcpProxy) -> None:
        settings = plain_settings(_through(proxy, seeded.database_url))
        async with running_app(settings) as app, client_for(app) as client:
            load = Load(client, seeded.publishable_key, seeded.secret_key, seeded.announcement_id)
            stop = asyncio.Event()
            workers = asyncio.create_task(load.run(workers=6, stop=stop, max_s=30))
            await asyncio.sleep(1.0)

            cut_at = time.monotonic()
            await proxy.cut()
            await asyncio.sleep(0.3)
            readiness_while_down = await load.send("ready")
            await asyncio.sleep(2.7)

            restored_at = time.monotonic()
            await proxy.restore()
            ready_at = await _wait_until_ready(load)
            await asyncio.sleep(1.5)
            stop.set()
            await workers

        _assert_answers(load.outcomes)
        assert readiness_while_down.status == 503
        before = [o.status for o in load.outcomes if o.started + o.elapsed_s < cut_at]
        assert before and set(before) <= {200, 202, 304}, "healthy before the cut"
        down = load.statuses(since=cut_at + 0.1, until=restored_at)
        assert down[503] > 0, down
        assert ready_at - restored_at < RECOVER_WITHIN_S
        after = load.statuses(since=ready_at + 0.5)
        assert set(after) <= {200, 202, 304}, after
        assert after[202] > 0

        found = await events_found(seeded.database_url, load.acknowledged)
        assert found == load.acknowledged, "every 202 is in the database"
        figures.info(
            "cut: %d requests (%s while down), %d events sent, %d acknowledged, %d found; "
            "ready %.2f s after restore; slowest answer %.2f s",
            len(load.outcomes),
            dict(down),
            load.sent,
            len(load.acknowledged),
            len(found),
            ready_at - restored_at,
            max(o.elapsed_s for o in load.outcomes),
        )

    async def test_stalled_network_answers_503_within_the_timeouts(
        self, seeded: Seeded, proxy: TcpProxy
    ) -> None:
        # A partition, not a refusal: nothing answers, only timeouts end the wait. With 1 s
        # pool and statement timeouts, a request can wait for both, then answers.
        settings = plain_settings(
            _through(proxy, seeded.database_url), db_pool_timeout_s=1, db_statement_timeout_ms=1000
        )
        async with running_app(settings) as app, client_for(app) as client:
            load = Load(client, seeded.publishable_key, seeded.secret_key, seeded.announcement_id)
            stop = asyncio.Event()
            workers = asyncio.create_task(load.run(workers=4, stop=stop, max_s=30))
            await asyncio.sleep(0.5)
            stalled_at = time.monotonic()
            await proxy.stall()
            await asyncio.sleep(3.0)
            restored_at = time.monotonic()
            await proxy.restore()
            ready_at = await _wait_until_ready(load)
            await asyncio.sleep(1.0)
            stop.set()
            await workers

        _assert_answers(load.outcomes)
        # Answered while the network was down: 503s (or what caches could serve).
        ended = [
            o.status for o in load.outcomes if stalled_at < o.started + o.elapsed_s < restored_at
        ]
        assert 503 in ended, ended
        assert ready_at - restored_at < RECOVER_WITHIN_S
        assert set(load.statuses(since=ready_at + 0.5)) <= {200, 202, 304}
        found = await events_found(seeded.database_url, load.acknowledged)
        assert found == load.acknowledged
        figures.info(
            "stall: %d requests, %d acknowledged events, all found; slowest answer %.2f s",
            len(load.outcomes),
            len(found),
            max(o.elapsed_s for o in load.outcomes),
        )
