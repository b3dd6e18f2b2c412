"""The accessibility check the browser tests rely on finds what it must, and only that."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.fixtures.axe import accessibility_problems
from tests.widget_e2e.harness import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    from tests.widget_e2e.conftest import _require_chromium

    _require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page()
        browser.close()


READABLE = """<!doctype html><html lang="en"><head><title>ok</title></head>
<body><main><h1>Fine</h1>
<p style="color:#222;background:#fff">Readable text.</p></main></body></html>"""

UNREADABLE = """<!doctype html><html lang="en"><head><title>bad</title></head>
<body><main><h1>Bad</h1><p style="color:#eee;background:#fff">Pale text.</p>
<button></button></main></body></html>"""


def test_a_readable_page_has_no_problem(page: Page) -> None:
    page.set_content(READABLE)
    assert accessibility_problems(page) == []


def test_low_contrast_and_an_unnamed_button_are_reported(page: Page) -> None:
    page.set_content(UNREADABLE)
    problems = accessibility_problems(page)
    assert any("color-contrast" in problem for problem in problems), problems
    assert any("button-name" in problem for problem in problems), problems


def test_a_strict_csp_does_not_stop_the_check(page: Page) -> None:
    page.route(
        "http://csp.test/",
        lambda route: route.fulfill(
            body=UNREADABLE,
            content_type="text/html",
            headers={"Content-Security-Policy": "script-src 'none'; style-src 'unsafe-inline'"},
        ),
    )
    page.goto("http://csp.test/")
    assert any("color-contrast" in problem for problem in accessibility_problems(page))
