"""Input that validation lets through but a database refuses is a 4xx, never a 500.

Found by the API fuzzing: a NUL character (U+0000), which SQLite stores and PostgreSQL
refuses, made a 500 on PostgreSQL only.
"""

import httpx
import pytest
import sqlalchemy.exc

from app.config import Settings
from app.kit.database import is_database_unavailable
from tests.fixtures.tenants import Tenant
from tests.workspaces.test_auth import assert_problem


class TestNulCharacters:
    @pytest.mark.parametrize(
        "body",
        [
            {"name": "pro\x00s", "condition": {}},
            {"name": "pros", "condition": {"plan\x00": "pro"}},
            {"name": "pros", "condition": {"plan": {"$in": ["a", "b\x00"]}}},
        ],
    )
    async def test_admin_bodies_refuse_nul_on_every_database(
        self, client: httpx.AsyncClient, tenant: Tenant, body: dict[str, object]
    ) -> None:
        response = await client.post("/v1/segments", json=body, headers=tenant.auth)
        problem = assert_problem(response, 422)
        assert "NUL" in str(problem["detail"])

    async def test_a_value_the_database_refuses_is_422_not_500(
        self, client: httpx.AsyncClient, tenant: Tenant, settings: Settings
    ) -> None:
        response = await client.get(
            "/v1/widget/announcements",
            params={"key": tenant.publishable_key, "user_id": "u\x00x"},
        )
        if settings.is_sqlite:
            assert response.status_code == 200  # SQLite stores it
        else:
            assert_problem(response, 422)


class _DriverFault(Exception):
    """What a driver raises: an exception with a SQLSTATE (asyncpg's carry one)."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _driver_error(sqlstate: str | None, *, invalidated: bool = False) -> Exception:
    return sqlalchemy.exc.DBAPIError(
        "SELECT 1", None, _DriverFault(sqlstate), connection_invalidated=invalidated
    )


class TestDatabaseFaultClassification:
    @pytest.mark.parametrize(
        ("error", "unavailable"),
        [
            (_driver_error("08003"), True),  # connection does not exist (closed mid-query)
            (_driver_error("57014"), True),  # statement timeout
            (_driver_error("57P01"), True),  # admin shutdown
            (_driver_error("53300"), True),  # too many connections
            (_driver_error(None, invalidated=True), True),
            (_driver_error("22021"), False),  # bad input: a 422 instead
            (_driver_error("23505"), False),  # unique violation: a bug if it escapes
            (_driver_error(None), False),
            (ConnectionRefusedError(), True),
            (TimeoutError(), True),
            (ValueError(), False),
        ],
    )
    def test_which_faults_are_a_503(self, error: Exception, unavailable: bool) -> None:
        assert is_database_unavailable(error) is unavailable
