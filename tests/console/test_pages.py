"""Every console page in Chromium: accessible (axe, light and dark), under its strict CSP,
and closed to members of other workspaces. `/docs` works without the internet."""

from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from app.accounts.schemas import Role
from tests.console.conftest import Site, Team, sign_in
from tests.fixtures.axe import accessibility_problems
from tests.widget_e2e.conftest import BrowserLog
from tests.widget_e2e.harness import SCHEMES, ColorScheme


def _check(page: Page, log: BrowserLog, what: str) -> None:
    problems = accessibility_problems(page)
    assert problems == [], f"{what}: {problems}"
    # A 401 or 404 page is logged by the browser itself; anything else (a CSP refusal,
    # a script error) is a problem.
    problems = [p for p in log.problems if "the server responded with a status of" not in p]
    assert problems == [], f"{what}: {problems}"


class TestAccessibility:
    @pytest.mark.parametrize("scheme", SCHEMES)
    def test_signed_out_pages(
        self, page: Page, console_origin: str, log: BrowserLog, scheme: ColorScheme
    ) -> None:
        page.emulate_media(color_scheme=scheme)
        page.goto(f"{console_origin}/console/sign-in")
        _check(page, log, "sign-in")
        page.get_by_label("Email").fill("nobody@example.com")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_be_visible()
        _check(page, log, "sign-in with an error")

    @pytest.mark.parametrize("scheme", SCHEMES)
    def test_signed_in_pages(
        self, page: Page, console_origin: str, site: Site, log: BrowserLog, scheme: ColorScheme
    ) -> None:
        site.workspace.announce("Dark mode is here", category="new", pinned=True)
        site.workspace.announce("Spring pricing", status="draft")
        page.emulate_media(color_scheme=scheme)
        sign_in(page, console_origin, site.owner)
        expect(page.get_by_role("link", name="Dark mode is here")).to_be_visible()
        _check(page, log, "announcements")
        page.locator("details.switcher summary").click()
        _check(page, log, "workspace switcher open")
        page.get_by_role("link", name="Dark mode is here").click()
        expect(page.get_by_label("Title", exact=True)).to_have_value("Dark mode is here")
        _check(page, log, "editor")
        page.goto(f"{console_origin}/console/w/{site.slug}/announcements/new")
        page.get_by_role("button", name="Save draft").click()  # no title: errors shown
        expect(page.locator("#error-summary")).to_be_visible()
        _check(page, log, "editor with errors")
        page.goto(f"{console_origin}/console/w/{site.slug}/members")
        page.get_by_label("Email").fill("someone@example.com")
        page.get_by_role("button", name="Create invitation link").click()
        expect(page.get_by_role("textbox", name="Invitation link")).to_be_visible()
        _check(page, log, "members with an invitation link")
        page.goto(f"{console_origin}/console/w/{site.slug}/audit")
        expect(page.get_by_text("invitation.created")).to_be_visible()
        _check(page, log, "audit log")
        page.goto(f"{console_origin}/console/w/{site.slug}/settings")
        page.get_by_role("button", name="Create key").click()
        expect(page.get_by_role("textbox", name="New key")).to_be_visible()
        _check(page, log, "settings with a new key")
        page.goto(f"{console_origin}/console/w/{site.slug}/webhooks")
        page.get_by_label("URL").fill("http://127.0.0.1:9/hook")
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("textbox", name="Signing secret")).to_be_visible()
        _check(page, log, "webhooks with a new secret")
        page.get_by_role("link", name="http://127.0.0.1:9/hook").click()
        expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
        _check(page, log, "a webhook endpoint")
        page.goto(f"{console_origin}/console/account/password")
        _check(page, log, "password")
        page.goto(f"{console_origin}/console/no/such/page")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        _check(page, log, "not found")

    def test_usable_at_390_px(
        self, new_context: Callable[..., BrowserContext], console_origin: str, site: Site
    ) -> None:
        phone = new_context(viewport={"width": 390, "height": 844})
        page = phone.new_page()
        site.workspace.announce("A fairly long announcement title for a small screen")
        sign_in(page, console_origin, site.editor)
        # Nothing but the table (which scrolls in its own region) is wider than the screen.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        expect(page.get_by_role("link", name="New announcement")).to_be_in_viewport()


class TestKeyboard:
    def test_sign_in_and_switch_workspace_by_keyboard_only(
        self, page: Page, console_origin: str, team: Team
    ) -> None:
        first, second = team.workspace(), team.workspace()
        member = team.member(first, Role.editor)
        team.grant(member, second, Role.viewer)
        page.goto(f"{console_origin}/console/sign-in")
        expect(page.get_by_label("Email")).to_be_focused()  # autofocus
        page.keyboard.type(member.email)
        page.keyboard.press("Tab")
        page.keyboard.type(member.password)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Announcements")).to_be_visible()
        page.keyboard.press("Tab")  # the skip link comes first
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()

        summary = page.locator("details.switcher summary")
        summary.focus()
        page.keyboard.press("Enter")
        slugs = {team.slug_of(first): "editor", team.slug_of(second): "viewer"}
        landed = page.url.split("/console/w/")[1].split("/")[0]
        (other_slug,) = set(slugs) - {landed}
        link = page.locator(f".menu-list a[href='/console/w/{other_slug}']")
        expect(link).to_be_visible()
        page.keyboard.press("Escape")
        expect(link).to_be_hidden()
        expect(summary).to_be_focused()
        page.keyboard.press("Enter")
        link.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/console/w/{other_slug}/announcements")
        expect(page.locator("details.switcher summary")).to_contain_text(slugs[other_slug])


class TestTenancyAndRoles:
    def test_another_workspace_is_not_found_whether_it_exists_or_not(
        self, page: Page, console_origin: str, site: Site, team: Team
    ) -> None:
        elsewhere = team.workspace()
        elsewhere.announce("Secret plans")
        sign_in(page, console_origin, site.owner)
        for slug in (team.slug_of(elsewhere), "no-such-workspace"):
            answer = page.goto(f"{console_origin}/console/w/{slug}/announcements")
            assert answer is not None and answer.status == 404
            expect(page.get_by_role("heading", name="Not found")).to_be_visible()
            expect(page.get_by_text("Secret plans")).to_have_count(0)

    def test_viewers_are_not_offered_to_write(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        sign_in(page, console_origin, site.viewer)
        expect(page.get_by_role("heading", name="Announcements")).to_be_visible()
        expect(page.get_by_role("link", name="New announcement")).to_have_count(0)


class TestDocsAndRoot:
    def test_docs_work_without_the_internet(self, page: Page, console_origin: str) -> None:
        elsewhere: list[str] = []

        def only_local(route: Route) -> None:
            if route.request.url.startswith(console_origin):
                route.continue_()
            else:
                elsewhere.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.goto(f"{console_origin}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tidings")
        expect(page.get_by_text("/v1/announcements").first).to_be_visible()
        assert elsewhere == []

    def test_browsers_asking_for_the_root_land_on_the_console(
        self, page: Page, console_origin: str
    ) -> None:
        page.goto(f"{console_origin}/")
        assert page.url.startswith(f"{console_origin}/console/sign-in")
