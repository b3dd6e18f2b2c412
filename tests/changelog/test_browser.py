"""The public changelog in real Chromium, served by `tidings serve`: readable and accessible
(axe: no serious or critical finding) in light and dark, on a desktop and a phone, and
complete with scripts off."""

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.fixtures.axe import accessibility_problems
from tests.fixtures.databases import in_thread
from tests.widget_e2e.conftest import _delete_everything, _require_chromium
from tests.widget_e2e.harness import (
    ADMIN_TOKEN,
    CHROMIUM,
    CHROMIUM_ARGS,
    PNG_1PX,
    SCHEMES,
    ColorScheme,
    running_tidings,
)

VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}


@pytest.fixture(scope="module")
def origin(database_url: str) -> Iterator[str]:
    with running_tidings(database_url) as started:
        yield started
    in_thread(asyncio.run, _delete_everything(database_url))


@pytest.fixture(scope="module")
def slug(origin: str) -> str:
    """A themed workspace with a few public announcements, one of each kind of content."""
    with httpx.Client(base_url=origin, timeout=10) as api:
        created = api.post(
            "/v1/workspaces",
            json={"name": "Acme"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        ).json()
        auth = {"Authorization": f"Bearer {created['secret_key']}"}
        response = api.patch(
            "/v1/workspace",
            json={
                "changelog_logo_url": "https://images.test/logo.png",
                "changelog_accent": "#0b5fff",
                "changelog_product_url": "https://app.acme.test/",
            },
            headers=auth,
        )
        assert response.status_code == 200, response.text
        samples: list[dict[str, object]] = [
            {"title": "Exports keep leading zeros", "category": "fix", "body": "Ids like `007`."},
            {
                "title": "Faster search",
                "category": "improvement",
                "body": "Results as you type.\n\n- Twice as fast\n- [Read more](https://x.test/)",
            },
            {
                "title": "Dark mode is here",
                "category": "new",
                "body": "Switch it on in **Settings**.",
                "image_url": "https://images.test/dark.png",
                "cta": {"label": "Try dark mode", "url": "https://app.acme.test/settings"},
            },
        ]
        for sample in samples:
            body = {**sample, "status": "published", "public": True}
            assert api.post("/v1/announcements", json=body, headers=auth).status_code == 201
        return str(created["slug"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    _require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(
    browser: Browser,
    url: str,
    *,
    scheme: ColorScheme = "light",
    size: str = "desktop",
    scripts: bool = True,
) -> Page:
    context = browser.new_context(
        viewport=VIEWPORTS[size],
        color_scheme=scheme,
        java_script_enabled=scripts,
        locale="en-US",
    )
    context.set_default_timeout(5000)
    context.route(
        "https://images.test/**",
        lambda route: route.fulfill(body=PNG_1PX, content_type="image/png"),
    )
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 200
    return page


@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize("scheme", SCHEMES)
class TestAccessible:
    def test_the_page_has_no_serious_finding(
        self, browser: Browser, origin: str, slug: str, scheme: ColorScheme, size: str
    ) -> None:
        page = open_page(browser, f"{origin}/changelog/{slug}", scheme=scheme, size=size)
        try:
            assert accessibility_problems(page) == []
            heading = page.get_by_role("heading", level=1)
            assert heading.inner_text() == "Acme Changelog"
            articles = page.get_by_role("article")
            assert articles.count() == 3
            assert page.get_by_role("link", name="Try dark mode").is_visible()
            is_dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
            assert is_dark == (scheme == "dark")
            background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
            assert background == ("rgb(20, 22, 27)" if scheme == "dark" else "rgb(246, 247, 249)")
        finally:
            page.context.close()

    def test_a_permalink_has_no_serious_finding(
        self, browser: Browser, origin: str, slug: str, scheme: ColorScheme, size: str
    ) -> None:
        page = open_page(
            browser, f"{origin}/changelog/{slug}/dark-mode-is-here", scheme=scheme, size=size
        )
        try:
            assert accessibility_problems(page) == []
            assert page.get_by_role("heading", level=1).inner_text() == "Dark mode is here"
            page.get_by_role("link", name="All updates").last.click()
            page.wait_for_url(f"{origin}/changelog/{slug}")
        finally:
            page.context.close()


class TestWithoutScripts:
    def test_everything_is_there_and_filters_and_permalinks_work(
        self, browser: Browser, origin: str, slug: str
    ) -> None:
        page = open_page(browser, f"{origin}/changelog/{slug}", scripts=False)
        try:
            titles = page.locator("article h2").all_inner_texts()
            assert titles == ["Dark mode is here", "Faster search", "Exports keep leading zeros"]
            page.get_by_role("navigation", name="Categories").get_by_role(
                "link", name="Fix"
            ).click()
            page.wait_for_url(f"{origin}/changelog/{slug}?category=fix")
            assert page.locator("article h2").all_inner_texts() == ["Exports keep leading zeros"]
            page.get_by_role("link", name="Exports keep leading zeros").click()
            page.wait_for_url(f"{origin}/changelog/{slug}/exports-keep-leading-zeros")
            assert page.get_by_role("heading", level=1).inner_text() == "Exports keep leading zeros"
            # The stylesheet loaded (its integrity matched): the page is styled.
            radius = page.evaluate(
                "getComputedStyle(document.querySelector('article')).borderTopLeftRadius"
            )
            assert radius == "14px"
        finally:
            page.context.close()
