"""Signing in and out of the console in Chromium: cookies, wrong credentials, one-time
passwords, sign-out (here and everywhere), and CSRF refusals."""

from collections.abc import Callable

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from app.accounts.schemas import Role
from tests.console.conftest import Site, Team, random_password, sign_in
from tests.widget_e2e.conftest import BrowserLog
from tests.widget_e2e.harness import Workspace


def workspace_name(team: Team, workspace: Workspace) -> str:
    auth = {"Authorization": f"Bearer {workspace.secret_key}"}
    name: str = team.api.get("/v1/workspace", headers=auth).json()["name"]
    return name


def _session_cookie(context: BrowserContext) -> dict[str, object]:
    cookies = [c for c in context.cookies() if c["name"] == "tidings_session"]
    assert len(cookies) == 1, cookies
    return dict(cookies[0])


class TestSignIn:
    def test_sign_in_lands_on_the_workspace_with_a_safe_cookie(
        self, page: Page, console_origin: str, site: Site, log: BrowserLog
    ) -> None:
        sign_in(page, console_origin, site.editor)
        assert page.url == f"{console_origin}/console/w/{site.slug}/announcements"
        expect(page.get_by_role("heading", level=1)).to_have_text("Announcements")
        expect(page.get_by_text(site.editor.email)).to_be_visible()
        cookie = _session_cookie(page.context)
        assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
        assert cookie["path"] == "/console" and cookie["secure"] is False
        assert log.problems == []  # no CSP violation, no script error

    def test_a_deep_link_comes_back_after_sign_in(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        target = f"/console/w/{site.slug}/announcements?state=draft"
        sign_in(page, console_origin, site.viewer, path=target)
        assert page.url == f"{console_origin}{target}"
        expect(page.get_by_label("State")).to_have_value("draft")

    def test_wrong_password_and_unknown_email_get_the_same_answer(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        messages = []
        for email, password in (
            (site.editor.email, "not the password"),
            ("nobody@example.com", site.editor.password),
        ):
            page.goto(f"{console_origin}/console/sign-in")
            page.get_by_label("Email").fill(email)
            page.get_by_label("Password").fill(password)
            with page.expect_response(lambda r: r.request.method == "POST") as answer:
                page.get_by_role("button", name="Sign in").click()
            assert answer.value.status == 401
            messages.append(page.get_by_role("alert").inner_text())
            expect(page.get_by_label("Email")).to_have_value(email)
        assert messages[0] == messages[1] == "The email or the password is wrong."
        assert [c for c in page.context.cookies() if c["name"] == "tidings_session"] == []

    def test_a_one_time_password_must_be_replaced_first(
        self, page: Page, console_origin: str, team: Team
    ) -> None:
        workspace = team.workspace()
        member = team.member(workspace, Role.owner, must_change_password=True)
        sign_in(page, console_origin, member)
        assert page.url.endswith("/console/account/password")
        expect(page.get_by_text("one-time password")).to_be_visible()
        # Any other page sends them back here.
        page.goto(f"{console_origin}/console/w/{team.slug_of(workspace)}/announcements")
        assert page.url.endswith("/console/account/password")

        new_password = random_password()
        page.get_by_label("Current password").fill(member.password)
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("New password, again").fill(new_password + "x")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("#confirm_password-error")).to_have_text(
            "The two new passwords differ."
        )
        expect(page.get_by_label("New password, again")).to_have_attribute("aria-invalid", "true")

        page.get_by_label("Current password").fill(member.password)
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_label("New password, again").fill(new_password)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("status")).to_have_text(
            "Your password is changed; other devices are signed out."
        )
        page.get_by_role("link", name=workspace_name(team, workspace)).click()
        expect(page.get_by_role("heading", name="Announcements")).to_be_visible()


class TestSignOut:
    def test_sign_out_ends_the_session(self, page: Page, console_origin: str, site: Site) -> None:
        sign_in(page, console_origin, site.editor)
        token = _session_cookie(page.context)["value"]
        page.get_by_text(site.editor.email).click()
        page.get_by_role("button", name="Sign out", exact=True).click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        # The old token opens nothing any more, even if someone kept it.
        answer = httpx.get(
            f"{console_origin}/console/w/{site.slug}/announcements",
            cookies={"tidings_session": str(token)},
        )
        assert answer.status_code == 303 and "/console/sign-in" in answer.headers["location"]

    def test_sign_out_everywhere_ends_every_device(
        self, new_context: Callable[..., BrowserContext], console_origin: str, site: Site
    ) -> None:
        make = new_context
        laptop, phone = make().new_page(), make().new_page()
        sign_in(laptop, console_origin, site.owner)
        sign_in(phone, console_origin, site.owner)
        phone.get_by_text(site.owner.email).click()
        phone.get_by_role("button", name="Sign out everywhere").click()
        expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
        laptop.reload()
        expect(laptop.get_by_role("heading", name="Sign in")).to_be_visible()


class TestCsrf:
    def test_a_form_without_the_token_changes_nothing(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        sign_in(page, console_origin, site.editor)
        answer = page.request.post(
            f"{console_origin}/console/sign-out", form={"csrf_token": "forged"}
        )
        assert answer.status == 403
        assert "security token" in answer.text()
        page.reload()  # still signed in
        expect(page.get_by_role("heading", name="Announcements")).to_be_visible()

    def test_a_post_from_another_site_is_refused(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        sign_in(page, console_origin, site.editor)
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        answer = page.request.post(
            f"{console_origin}/console/sign-out",
            form={"csrf_token": str(token)},
            headers={"Origin": "https://evil.example"},
        )
        assert answer.status == 403
        page.reload()
        expect(page.get_by_role("heading", name="Announcements")).to_be_visible()

    def test_signing_in_needs_the_sign_in_pages_token(
        self, console_origin: str, site: Site
    ) -> None:
        answer = httpx.post(
            f"{console_origin}/console/sign-in",
            data={"email": site.editor.email, "password": site.editor.password},
        )
        assert answer.status_code == 403 and "tidings_session" not in answer.cookies
