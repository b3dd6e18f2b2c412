"""Schemathesis over the whole OpenAPI document, in process, on SQLite and PostgreSQL.

Every operation of the document, once with a secret key and once with a publishable key,
with data that fits the document and data that does not: no 5xx, and each answer's status
code, content type, headers and body are the ones the document declares. Derandomized
(the seed comes from the test), so CI sees the same cases on every run.

Driven through Hypothesis directly rather than schemathesis's pytest plugin, so each
operation is a test of its own (and the plugin's pytest internals do not matter).

Date-times are drawn over datetime's whole range with offsets up to ±14 h, and often at
its very ends (where converting to UTC overflows), not only around today; and a third of
the JSON bodies get one field replaced by a value nested hundreds of levels deep. That is
where the 500s were (issue 17).
"""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi as in_process
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.main import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.databases import in_thread
from tests.fixtures.seeding import Seeded, plain_settings, seed_workspace, wipe_database

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_OPERATION = 50
ANSWERED: Counter[int] = Counter()  # status → count, for the figures
figures = logging.getLogger("tests.figures")
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)

_OFFSETS = st.builds(
    timezone, st.integers(-14 * 60, 14 * 60).map(lambda minutes: timedelta(minutes=minutes))
)
_EDGES = [
    datetime.min,
    datetime.min + timedelta(hours=13, minutes=59),
    datetime.max,
    datetime.max - timedelta(hours=13, minutes=59),
    datetime(1969, 12, 31, 23, 59, 59),
    datetime(1970, 1, 1),
    datetime(9998, 12, 31, 23, 59, 59),
    datetime(9999, 1, 1),
]
_NAIVE = st.one_of(st.sampled_from(_EDGES), st.datetimes())
# Aware date-times anywhere in datetime's range, a third of them at its edges.
DATE_TIMES = st.builds(
    lambda naive, offset: naive.replace(tzinfo=offset).isoformat(), _NAIVE, _OFFSETS
)
# The stats bounds: a date, a date-time with or without an offset.
MOMENTS = st.one_of(
    st.dates().map(date.isoformat),
    st.sampled_from([date.min, date.max, date(1970, 1, 1), date(9998, 12, 31)]).map(date.isoformat),
    _NAIVE.map(datetime.isoformat),
    DATE_TIMES,
)
schemathesis.openapi.format("date-time", DATE_TIMES)
schemathesis.openapi.format("date-or-date-time", MOMENTS)


def _nested(depth: int, as_list: bool) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """The body as generated, or with one of its fields nested 60 to 1 000 levels deep."""
    if not isinstance(body, dict) or not body:
        return st.just(body)
    deepened = st.builds(
        lambda name, depth, as_list: {**body, name: _nested(depth, as_list)},
        st.sampled_from(sorted(body)),
        st.integers(60, 1000),
        st.booleans(),
    )
    return st.one_of(st.just(body), st.just(body), deepened)


OPERATIONS = [
    (method.upper(), path)
    for path, item in create_app(Settings(_env_file=None, database_url="sqlite+aiosqlite://"))
    .openapi()["paths"]
    .items()
    for method in item
]


@pytest.fixture(scope="module")
def fuzzed(database_url: str) -> Iterator[tuple[Any, Seeded]]:
    """The app on this database, its document loaded by schemathesis, and a workspace."""
    seeded: Seeded = in_thread(asyncio.run, seed_workspace(database_url))
    app = create_app(plain_settings(database_url, admin_token=ADMIN_TOKEN))
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)  # runs the lifespan
    ANSWERED.clear()
    try:
        yield loaded, seeded
    finally:
        figures.info("fuzzed %d requests: %s", ANSWERED.total(), dict(sorted(ANSWERED.items())))
        in_process.shutdown_lifespans()
        in_thread(asyncio.run, wipe_database(database_url))


def _cases(operation: Any) -> st.SearchStrategy[Any]:
    strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # when nothing in the operation can be made invalid
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(strategies)


@pytest.mark.parametrize("key", ["secret", "publishable"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_keeps_its_documented_promises(
    method: str, path: str, key: str, fuzzed: tuple[Any, Seeded]
) -> None:
    loaded, seeded = fuzzed
    presented = seeded.secret_key if key == "secret" else seeded.publishable_key
    headers = {"Authorization": f"Bearer {presented}"}
    if key == "publishable":
        headers["X-Tidings-Key"] = presented

    @FUZZ
    @given(case=_cases(loaded[path][method]))
    def fuzz(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        ANSWERED[response.status_code] += 1

    fuzz()
