"""Engagement in the console, in Chromium against a live Tidings: events recorded by the real
widget and the events endpoint are read back on the chart page (its table and its chart
data), and its CSV downloads are the API's CSV for the same range and zone."""

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.console.conftest import Site, Team, sign_in
from tests.fixtures.axe import accessibility_problems
from tests.widget_e2e.conftest import BrowserLog
from tests.widget_e2e.harness import SCHEMES, HostSite, host_page, wait_until

ZONE = "Asia/Tokyo"
FIGURES = (
    "impressions",
    "unique_viewers",
    "clicks",
    "unique_clickers",
    "dismissals",
    "reactions_positive",
    "reactions_neutral",
    "reactions_negative",
)


@pytest.fixture(scope="module")
def host_site() -> Iterator[HostSite]:
    site = HostSite()
    yield site
    site.close()


def auth(site: Site) -> dict[str, str]:
    return {"Authorization": f"Bearer {site.workspace.secret_key}"}


def record(
    api: httpx.Client, site: Site, who: str, *events: tuple[str, str, dict[str, Any]]
) -> None:
    """Events as the widget sends them, through the widget's events endpoint."""
    body = {
        "anonymous_id": who,
        "events": [
            {
                "id": str(uuid.uuid4()),
                "type": kind,
                "announcement_id": announcement_id,
                "occurred_at": datetime.now(UTC).isoformat(),
                **fields,
            }
            for kind, announcement_id, fields in events
        ],
    }
    response = api.post(
        "/v1/widget/events", params={"key": site.workspace.publishable_key}, json=body
    )
    assert response.status_code == 202 and response.json()["accepted"] == len(events)


def api_stats(api: httpx.Client, site: Site, announcement_id: str, **params: str) -> httpx.Response:
    response = api.get(
        f"/v1/announcements/{announcement_id}/stats", params=params, headers=auth(site)
    )
    assert response.status_code == 200, response.text
    return response


def last_days(days: int, zone: str = ZONE) -> dict[str, str]:
    today = datetime.now(ZoneInfo(zone)).date()
    return {"from": str(today - timedelta(days=days - 1)), "to": str(today), "tz": zone}


def table_rows(page: Page) -> list[dict[str, Any]]:
    """The series table as a reader sees it: start, then each figure as a number."""
    keys = page.locator("#series thead th[data-key]").evaluate_all(
        "cells => cells.map(cell => cell.dataset.key)"
    )
    rows = page.locator("#series tbody tr").evaluate_all(
        """rows => rows.map(row => ({
            start: row.querySelector('time').getAttribute('datetime'),
            cells: [...row.querySelectorAll('td')].map(cell => cell.textContent.trim()),
        }))"""
    )
    shown = []
    for row in rows:
        figures: dict[str, Any] = {"start": row["start"]}
        for key, text in zip(keys, row["cells"], strict=True):
            figures[key] = text if key in ("ctr", "dismiss_rate") else int(text.replace(",", ""))
        shown.append(figures)
    return shown


def api_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    def percent(value: float | None) -> str:
        return "\u2013" if value is None else f"{value * 100:.1f}%"

    rows = []
    for point in body["series"]:
        row = {"start": point["start"], **{key: point.get(key) for key in FIGURES[:5]}}
        row.update({f"reactions_{k}": v for k, v in point["reactions"].items()})
        row.update(ctr=percent(point["ctr"]), dismiss_rate=percent(point["dismiss_rate"]))
        rows.append(row)
    return rows


def download(page: Page, name: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.get_by_role("link", name=name).click()
    path = info.value.path()
    return info.value.url, path.read_bytes()


class TestAnnouncementEngagement:
    def test_widget_events_read_on_the_chart_page_and_its_csv_is_the_apis(
        self,
        page: Page,
        console_origin: str,
        api: httpx.Client,
        site: Site,
        host_site: HostSite,
        log: BrowserLog,
        new_context: Callable[..., BrowserContext],
    ) -> None:
        api.patch("/v1/workspace", json={"allowed_origins": [host_site.origin]}, headers=auth(site))
        popover = site.workspace.announce(
            "Weekly digest", display="popover", cta={"label": "Read", "url": "https://x.test/"}
        )
        # The real widget on a host page: an identified reader sees the popover and dismisses it.
        reader = log.watch(new_context().new_page())
        before = "tidings('identify',{user_id:'reader-1'});"
        script = f"{console_origin}/widget.js"
        reader.goto(
            host_site.add("/app", host_page(script, site.workspace.publishable_key, before=before))
        )
        reader.get_by_role("button", name="Dismiss").click()
        reader.goto("about:blank")  # pagehide: the widget's beacon carries what is left
        # And three anonymous visitors, through the events endpoint.
        pid = popover["id"]
        record(
            api,
            site,
            "visitor-a",
            ("impression", pid, {}),
            ("impression", pid, {}),
            ("click", pid, {}),
        )
        record(
            api,
            site,
            "visitor-b",
            ("impression", pid, {}),
            ("reaction", pid, {"value": "positive"}),
        )
        record(
            api,
            site,
            "visitor-c",
            ("impression", pid, {}),
            ("dismiss", pid, {}),
            ("reaction", pid, {"value": "negative"}),
        )
        week = last_days(7)
        wait_until(
            lambda: api_stats(api, site, pid, **week).json()["totals"]["dismissals"] == 2,
            timeout=10,
        )
        expected = api_stats(api, site, pid, **week).json()
        assert expected["totals"]["impressions"] == 5 and expected["totals"]["unique_viewers"] == 4

        # A viewer reads it, from the announcements list, in the zone they choose.
        sign_in(page, console_origin, site.viewer)
        row = page.get_by_role("row").filter(has_text="Weekly digest")
        row.get_by_role("link", name="Engagement").click()
        expect(page.get_by_role("heading", name="Engagement of Weekly digest")).to_be_visible()
        page.get_by_label("Range", exact=True).select_option("7")
        page.wait_for_url("**range=7**")
        page.get_by_label("Time zone").fill(ZONE)
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(f"**tz={ZONE.replace('/', '%2F')}**")

        totals = expected["totals"]
        for key in ("impressions", "unique_viewers", "ctr", "dismiss_rate"):
            value = totals[key]
            shown = f"{value * 100:.1f}%" if key in ("ctr", "dismiss_rate") else str(value)
            expect(page.locator(f"[data-total='{key}']")).to_have_text(shown)
        expect(page.locator("[data-total='clicks']")).to_contain_text("1")
        expect(page.locator("[data-total='dismissals']")).to_contain_text("2")
        page.get_by_text("The figures as a table").click()
        assert table_rows(page) == api_rows(expected)
        assert len(table_rows(page)) == 7
        # The charts are drawn, from the same numbers.
        expect(page.locator(".chart-plot canvas")).to_have_count(3)
        chart = page.evaluate("JSON.parse(document.getElementById('engagement-data').textContent)")
        assert chart["tz"] == ZONE
        assert chart["series"]["impressions"] == [p["impressions"] for p in expected["series"]]
        assert chart["series"]["reactions_negative"] == [
            p["reactions"]["negative"] for p in expected["series"]
        ]

        url, body = download(page, "Download CSV")
        query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
        assert query == {**week, "interval": "day"}
        assert body == api_stats(api, site, pid, **week, format="csv").content

        # By hour: 168 buckets, the same as the API's, and its CSV too.
        page.get_by_label("By", exact=True).select_option("hour")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**interval=hour**")
        page.get_by_text("The figures as a table").click()
        hourly = api_stats(api, site, pid, **week, interval="hour").json()
        assert table_rows(page) == api_rows(hourly) and len(hourly["series"]) == 168
        _, body = download(page, "Download CSV")
        assert body == api_stats(api, site, pid, **week, interval="hour", format="csv").content
        assert log.problems == []

    def test_works_without_script_and_explains_bad_ranges(
        self,
        new_context: Callable[..., BrowserContext],
        console_origin: str,
        site: Site,
    ) -> None:
        item = site.workspace.announce("Offline mode")
        page = new_context(java_script_enabled=False).new_page()
        sign_in(page, console_origin, site.editor)
        path = f"/console/w/{site.slug}/announcements/{item['id']}/engagement"
        page.goto(f"{console_origin}{path}")
        page.get_by_label("Range", exact=True).select_option("custom")
        page.get_by_label("From", exact=True).fill("2026-01-10")
        page.get_by_label("To (included)").fill("2026-01-12")
        page.get_by_label("Time zone").fill("Europe/Berlin")
        page.get_by_role("button", name="Show").click()
        page.wait_for_url("**range=custom**")
        expect(
            page.get_by_text("2026-01-10 to 2026-01-12, by day, in Europe/Berlin")
        ).to_be_visible()
        expect(page.locator("#series tbody tr")).to_have_count(3)

        answer = page.goto(f"{console_origin}{path}?tz=Mars/Olympus")
        assert answer is not None and answer.status == 422
        expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#tz-error")).to_contain_text("not an IANA time zone")
        answer = page.goto(f"{console_origin}{path}?range=90&interval=hour")
        assert answer is not None and answer.status == 422
        expect(page.locator("#interval-error")).to_contain_text("at most 31 days")
        answer = page.goto(f"{console_origin}{path}?range=custom&from=2026-02-01&to=2026-01-01")
        assert answer is not None and answer.status == 422
        expect(page.locator("#from-error")).to_have_text("Must not be after the end date.")

    def test_the_browsers_time_zone_is_the_default(
        self,
        new_context: Callable[..., BrowserContext],
        console_origin: str,
        site: Site,
    ) -> None:
        item = site.workspace.announce("Around the world")
        page = new_context(timezone_id="America/Sao_Paulo").new_page()
        sign_in(page, console_origin, site.viewer)  # the list's script notes the zone
        page.goto(f"{console_origin}/console/w/{site.slug}/announcements/{item['id']}/engagement")
        expect(page.get_by_label("Time zone")).to_have_value("America/Sao_Paulo")
        expect(page.locator("#range-summary")).to_contain_text("in America/Sao_Paulo")
        days = page.locator("#series tbody time").evaluate_all(
            "times => times.map(time => time.getAttribute('datetime'))"
        )
        assert len(days) == 30 and all(day.endswith("T00:00:00-03:00") for day in days)

    def test_another_workspaces_announcement_is_not_found(
        self, page: Page, console_origin: str, site: Site, team: Team
    ) -> None:
        elsewhere = team.workspace().announce("Their secret")
        sign_in(page, console_origin, site.owner)
        for suffix in ("engagement", "engagement.csv"):
            answer = page.goto(
                f"{console_origin}/console/w/{site.slug}/announcements/{elsewhere['id']}/{suffix}"
            )
            assert answer is not None and answer.status == 404
            expect(page.get_by_text("Their secret")).to_have_count(0)


class TestWorkspaceOverview:
    def test_sorted_by_any_figure_and_its_csv_is_the_apis(
        self, page: Page, console_origin: str, api: httpx.Client, site: Site
    ) -> None:
        quiet = site.workspace.announce("Quiet one")
        busy = site.workspace.announce("Busy one")
        site.workspace.announce("Still a draft", status="draft")
        for who in ("a", "b", "c"):
            record(api, site, who, ("impression", busy["id"], {}))
        record(api, site, "a", ("impression", quiet["id"], {}), ("click", quiet["id"], {}))

        sign_in(page, console_origin, site.owner)
        page.get_by_role("navigation", name="Sections").get_by_role(
            "link", name="Engagement"
        ).click()
        expect(page.get_by_role("heading", name="Engagement", exact=True)).to_be_visible()
        titles = page.locator("#overview tbody .title-cell a")
        expect(titles).to_have_text(["Busy one", "Quiet one"])  # most impressions first
        page.get_by_role("link", name="Clicks").click()
        expect(titles).to_have_text(["Quiet one", "Busy one"])
        expect(page.locator("th[aria-sort='descending']")).to_have_text("Clicks ↓")

        url, body = download(page, "Download CSV")
        query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
        params = {key: query[key] for key in ("from", "to", "tz", "sort")}
        assert params["sort"] == "-clicks"
        expected = api.get("/v1/stats", params={**params, "format": "csv"}, headers=auth(site))
        assert body == expected.content
        assert b"Still a draft" not in body

        titles.first.click()
        expect(page.get_by_role("heading", name="Engagement of Quiet one")).to_be_visible()


class TestAccessibility:
    @pytest.mark.parametrize("scheme", SCHEMES)
    @pytest.mark.parametrize("width", (1280, 390))
    def test_engagement_pages(
        self,
        new_context: Callable[..., BrowserContext],
        console_origin: str,
        api: httpx.Client,
        site: Site,
        log: BrowserLog,
        scheme: str,
        width: int,
    ) -> None:
        item = site.workspace.announce("Charts for everyone")
        record(
            api,
            site,
            "a",
            ("impression", item["id"], {}),
            ("reaction", item["id"], {"value": "neutral"}),
        )
        page = log.watch(
            new_context(viewport={"width": width, "height": 844}, color_scheme=scheme).new_page()
        )
        sign_in(page, console_origin, site.viewer)
        page.goto(f"{console_origin}/console/w/{site.slug}/announcements/{item['id']}/engagement")
        expect(page.locator(".chart-plot canvas")).to_have_count(3)
        page.get_by_text("The figures as a table").click()
        assert accessibility_problems(page) == [], f"announcement, {scheme}, {width}"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.goto(f"{console_origin}/console/w/{site.slug}/engagement")
        expect(page.locator("#overview")).to_be_visible()
        assert accessibility_problems(page) == [], f"overview, {scheme}, {width}"
        assert log.problems == []
