"""Host pages that enforce Trusted Types: the widget works through its `tidings` policy,
and shows bodies as text when the page does not allow that policy."""

from playwright.sync_api import Page, expect

from tests.widget_e2e.conftest import BrowserLog, Embed
from tests.widget_e2e.harness import Workspace

WATCH_VIOLATIONS = (
    "<script>window.violations=[];document.addEventListener('securitypolicyviolation',"
    "function(e){violations.push(e.violatedDirective+' '+e.sample)})</script>"
)


def enforcing(policies: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": f"require-trusted-types-for 'script'; trusted-types {policies}"
    }


class TestTrustedTypes:
    def test_the_tidings_policy_lets_the_sanitized_body_in(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode", body="Switch it on in **Settings**.")
        workspace.announce("Tour", display="popover")
        page.goto(embed("/tt", enforcing("app tidings"), head=WATCH_VIOLATIONS))
        expect(page.get_by_role("article", name="Tour")).to_be_visible()
        page.get_by_role("button", name="What's new, 2 unread").click()
        article = page.get_by_role("dialog").get_by_role("article", name="Dark mode")
        expect(article.locator("strong")).to_have_text("Settings")
        expect(article.get_by_role("button", name="Positive")).to_be_visible()
        assert page.evaluate("violations") == []
        assert log.problems == []

    def test_without_the_policy_bodies_are_text(
        self, page: Page, embed: Embed, workspace: Workspace, log: BrowserLog
    ) -> None:
        workspace.announce("Dark mode", body="Switch it on in **Settings** & enjoy.")
        page.goto(embed("/tt-refused", enforcing("app"), head=WATCH_VIOLATIONS))
        page.get_by_role("button", name="What's new, 1 unread").click()
        article = page.get_by_role("dialog").get_by_role("article", name="Dark mode")
        expect(article).to_contain_text("Switch it on in Settings & enjoy.")
        expect(article.locator("strong")).to_have_count(0)
        assert log.errors == []
