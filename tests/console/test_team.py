"""Members, invitations and the audit log in Chromium: owners manage, editors cannot, an
invitation link signs a new member in, removal ends the removed member's sessions."""

from typing import Any

from playwright.sync_api import Page, expect

from tests.console.conftest import Site, random_password, sign_in


class TestInvitations:
    def test_an_owner_invites_and_the_link_brings_a_new_member_in(
        self, page: Page, new_context: Any, console_origin: str, site: Site
    ) -> None:
        sign_in(page, console_origin, site.owner, path=f"/console/w/{site.slug}/members")
        page.get_by_label("Email").fill("newcomer@example.com")
        page.get_by_label("Role", exact=True).select_option("viewer")
        page.get_by_role("button", name="Create invitation link").click()
        expect(page.get_by_role("status")).to_have_text("newcomer@example.com is invited.")
        link = page.get_by_role("textbox", name="Invitation link").input_value()
        assert "/console/invitations/" in link
        expect(page.get_by_text("newcomer@example.com (viewer)")).to_be_visible()

        newcomer = new_context().new_page()
        newcomer.goto(link)
        expect(newcomer.get_by_role("heading", level=1)).to_contain_text("Join")
        password = random_password()
        newcomer.get_by_label("Choose a password").fill(password)
        newcomer.get_by_label("Password, again").fill(password)
        newcomer.get_by_role("button", name="Join").click()
        expect(newcomer.get_by_role("heading", name="Announcements")).to_be_visible()
        expect(newcomer.locator("details.switcher summary")).to_contain_text("viewer")
        # Used once only.
        again = newcomer.goto(link)
        assert again is not None and again.status == 410

        page.goto(f"{console_origin}/console/w/{site.slug}/audit")
        expect(page.get_by_text("invitation.created")).to_be_visible()
        expect(page.get_by_text("member.joined")).to_be_visible()


class TestRoles:
    def test_an_editor_cannot_manage_members(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        sign_in(page, console_origin, site.editor, path=f"/console/w/{site.slug}/members")
        expect(page.get_by_role("cell", name=site.owner.email)).to_be_visible()
        expect(page.get_by_role("button", name="Create invitation link")).to_have_count(0)
        expect(page.get_by_role("button", name="Remove")).to_have_count(0)
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        base = f"{console_origin}/console/w/{site.slug}"
        invited = page.request.post(
            f"{base}/members/invite",
            form={"csrf_token": str(token), "email": "x@example.com", "role": "owner"},
        )
        assert invited.status == 403 and "owner" in invited.text()
        promoted = page.request.post(
            f"{base}/members/{site.editor.member.id}/role",
            form={"csrf_token": str(token), "role": "owner"},
        )
        assert promoted.status == 403
        page.reload()
        expect(page.locator("details.switcher summary")).to_contain_text("editor")

    def test_removal_ends_the_removed_members_sessions(
        self, page: Page, new_context: Any, console_origin: str, site: Site
    ) -> None:
        editor = new_context().new_page()
        sign_in(editor, console_origin, site.editor)
        sign_in(page, console_origin, site.owner, path=f"/console/w/{site.slug}/members")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name=f"Remove {site.editor.email}").click()
        expect(page.get_by_role("status")).to_contain_text("Member removed")
        expect(page.get_by_role("cell", name=site.editor.email)).to_have_count(0)
        editor.reload()
        expect(editor.get_by_role("heading", name="Sign in")).to_be_visible()
