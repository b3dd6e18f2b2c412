"""Writing announcements in the console, in Chromium: every change through the same
service as the API, errors next to their fields, the 412 between two editors shown side
by side with nothing lost, and roles and tenants enforced."""

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.console.conftest import Site, Team, sign_in
from tests.widget_e2e.conftest import BrowserLog
from tests.widget_e2e.harness import Database


def _api(site: Site, api: httpx.Client, announcement_id: str) -> dict[str, Any]:
    response = api.get(
        f"/v1/announcements/{announcement_id}",
        headers={"Authorization": f"Bearer {site.workspace.secret_key}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _id_in(url: str) -> str:
    return url.split("/announcements/")[1].split("?")[0]


class TestWriteAndPublish:
    def test_write_with_a_condition_and_publish(
        self, page: Page, console_origin: str, site: Site, api: httpx.Client, log: BrowserLog
    ) -> None:
        sign_in(page, console_origin, site.editor)
        page.get_by_role("link", name="New announcement").click()
        page.get_by_label("Title", exact=True).fill("Dark mode is here")
        page.get_by_label("Body", exact=True).fill("Switch it on in **Settings**.")
        page.get_by_label("Category").fill("new")
        page.get_by_label("Button label").fill("Try it")
        page.get_by_label("Button link").fill("https://app.example.com/settings")
        page.get_by_label("Display").select_option("popover")
        page.get_by_label("Condition 1: attribute").fill("plan")
        page.get_by_label("Condition 1: test").select_option("in")
        page.get_by_label("Condition 1: value").fill("pro, team")
        page.get_by_label("Pages").fill("/settings/*")
        page.get_by_label("Language", exact=True).first.fill("de")
        page.get_by_label("Translated title").first.fill("Der dunkle Modus ist da")
        page.get_by_role("button", name="Publish").click()

        expect(page.get_by_role("status")).to_have_text("Published.")
        expect(page.locator(".page-head .state")).to_have_text("live")
        stored = _api(site, api, _id_in(page.url))
        assert stored["status"] == "published" and stored["display"] == "popover"
        assert stored["cta"] == {"label": "Try it", "url": "https://app.example.com/settings"}
        assert stored["audience"]["condition"] == {"plan": {"$in": ["pro", "team"]}}
        assert stored["audience"]["pages"] == ["/settings/*"]
        assert stored["translations"]["de"]["title"] == "Der dunkle Modus ist da"
        assert "<strong>Settings</strong>" in stored["body_html"]

        # The widget's feed shows it to a pro user, not to a free one.
        for plan, expected in (("pro", True), ("free", False)):
            feed = httpx.post(
                f"{console_origin}/v1/widget/identify",
                params={"key": site.workspace.publishable_key},
                json={"user_id": f"u-{plan}", "attributes": {"plan": plan}},
            ).json()
            titles = [item["title"] for item in feed["announcements"]]
            assert ("Dark mode is here" in titles) is expected, (plan, titles)

        page.get_by_role("link", name="Announcements", exact=True).first.click()
        row = page.get_by_role("row", name="Dark mode is here")
        expect(row).to_contain_text("live")
        expect(row).to_contain_text("new")
        problems = [p for p in log.problems if "status of" not in p]
        assert problems == []

    def test_save_a_draft_schedule_it_archive_it(
        self, page: Page, console_origin: str, site: Site, api: httpx.Client
    ) -> None:
        sign_in(page, console_origin, site.editor)
        page.goto(f"{console_origin}/console/w/{site.slug}/announcements/new")
        page.get_by_label("Title", exact=True).fill("Spring pricing")
        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("status")).to_have_text("Saved as a draft.")
        announcement_id = _id_in(page.url)
        assert _api(site, api, announcement_id)["status"] == "draft"

        page.get_by_label("Start").fill("2031-04-01T09:00")
        page.get_by_label("Time zone").fill("Europe/Berlin")
        page.get_by_role("button", name="Publish").click()
        expect(page.locator(".page-head .state")).to_have_text("scheduled")
        stored = _api(site, api, announcement_id)
        assert stored["publish_at"].startswith("2031-04-01T07:00")  # 09:00 in Berlin, in UTC

        page.get_by_role("button", name="Archive").click()
        expect(page.get_by_role("status")).to_contain_text("Archived")
        assert _api(site, api, announcement_id)["status"] == "archived"

    def test_delete_a_draft(
        self, page: Page, console_origin: str, site: Site, api: httpx.Client
    ) -> None:
        draft = site.workspace.announce("Throwaway", status="draft")
        sign_in(page, console_origin, site.editor)
        page.goto(f"{console_origin}/console/w/{site.slug}/announcements/{draft['id']}")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete draft").click()
        expect(page.get_by_role("status")).to_have_text("The draft is deleted.")
        answer = api.get(
            f"/v1/announcements/{draft['id']}",
            headers={"Authorization": f"Bearer {site.workspace.secret_key}"},
        )
        assert answer.status_code == 404


class TestValidation:
    def test_errors_show_next_to_their_fields_and_keep_what_was_typed(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        sign_in(page, console_origin, site.editor)
        page.goto(f"{console_origin}/console/w/{site.slug}/announcements/new")
        page.get_by_label("Body", exact=True).fill("Kept **as typed**.")
        page.get_by_label("Button label").fill("Open")
        page.get_by_label("Button link").fill("javascript:alert(1)")
        page.get_by_text("Condition as JSON").click()
        page.get_by_label("Condition (JSON)").fill('{"plan": {"$regex": "("}}')
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name="Save draft").click()
        assert answer.value.status == 422
        expect(page.locator("#title-error")).to_be_visible()
        expect(page.locator("#cta_url-error")).to_contain_text("http")
        expect(page.get_by_label("Title", exact=True)).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Body", exact=True)).to_have_value("Kept **as typed**.")
        expect(page.get_by_label("Button link")).to_have_value("javascript:alert(1)")

        page.get_by_label("Title", exact=True).fill("Fine now")
        page.get_by_label("Button link").fill("https://example.com/")
        page.get_by_role("button", name="Save draft").click()
        # The bad regex is refused by the same validation as the API's.
        expect(page.locator("#audience_condition-error")).to_be_visible()
        page.get_by_label("Condition (JSON)").fill("")
        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("status")).to_have_text("Saved as a draft.")


class TestConflict:
    def test_two_editors_saving_the_same_version(
        self, new_context: Any, console_origin: str, site: Site, api: httpx.Client
    ) -> None:
        created = site.workspace.announce("Release notes", body="First text.")
        path = f"/console/w/{site.slug}/announcements/{created['id']}"
        alice, bob = new_context().new_page(), new_context().new_page()
        sign_in(alice, console_origin, site.editor, path=path)
        sign_in(bob, console_origin, site.owner, path=path)

        alice.get_by_label("Title", exact=True).fill("Release notes, December")
        alice.get_by_role("button", name="Save", exact=True).click()
        expect(alice.get_by_role("status")).to_have_text("Saved.")

        bob.get_by_label("Body", exact=True).fill("Bob's careful text.")
        with bob.expect_response(lambda r: r.request.method == "POST") as answer:
            bob.get_by_role("button", name="Save", exact=True).click()
        assert answer.value.status == 412
        conflict = bob.get_by_role("alert")
        expect(conflict).to_contain_text("Someone else saved this announcement")
        title_row = bob.locator("tr", has=bob.get_by_role("rowheader", name="title", exact=True))
        expect(title_row).to_contain_text("Release notes, December")  # theirs
        expect(title_row).to_contain_text("Release notes")  # his
        expect(bob.get_by_label("Body", exact=True)).to_have_value(
            "Bob's careful text."
        )  # nothing lost
        assert _api(site, api, created["id"])["body"] == "First text."

        bob.get_by_label("Title", exact=True).fill("Release notes, December")  # he keeps theirs
        bob.get_by_role("button", name="Save", exact=True).click()
        expect(bob.get_by_role("status")).to_have_text("Saved.")
        stored = _api(site, api, created["id"])
        assert stored["title"] == "Release notes, December"
        assert stored["body"] == "Bob's careful text."


class TestRolesAndTenants:
    def test_a_viewer_reads_but_cannot_change(
        self, page: Page, console_origin: str, site: Site, api: httpx.Client
    ) -> None:
        created = site.workspace.announce("Read only for viewers")
        path = f"/console/w/{site.slug}/announcements/{created['id']}"
        sign_in(page, console_origin, site.viewer, path=path)
        expect(page.get_by_label("Title", exact=True)).to_be_disabled()
        expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
        # A forged post with the viewer's own valid token is refused all the same.
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        denied = page.goto(f"{console_origin}/console/w/{site.slug}/announcements/new")
        assert denied is not None and denied.status == 403
        answer = page.request.post(
            f"{console_origin}{path}",
            form={
                "csrf_token": str(token),
                "action": "archive",
                "title": "Hijacked",
                "version": str(created["version"]),
            },
        )
        assert answer.status == 403 and "viewer" in answer.text()
        assert _api(site, api, created["id"])["title"] == "Read only for viewers"

    def test_another_workspaces_announcement_is_not_found(
        self, page: Page, console_origin: str, site: Site, team: Team
    ) -> None:
        elsewhere = team.workspace().announce("Their secret")
        sign_in(page, console_origin, site.owner)
        token = page.locator("input[name=csrf_token]").first.get_attribute("value")
        answer = page.goto(
            f"{console_origin}/console/w/{site.slug}/announcements/{elsewhere['id']}"
        )
        assert answer is not None and answer.status == 404
        expect(page.get_by_text("Their secret")).to_have_count(0)
        posted = page.request.post(
            f"{console_origin}/console/w/{site.slug}/announcements/{elsewhere['id']}/delete",
            form={"csrf_token": str(token)},
        )
        assert posted.status == 404


class TestPreview:
    def test_the_real_widget_draws_what_is_typed_and_records_nothing(
        self, page: Page, console_origin: str, site: Site, database_url: str
    ) -> None:
        sign_in(page, console_origin, site.editor)
        page.goto(f"{console_origin}/console/w/{site.slug}/announcements/new")
        frame = page.frame_locator("#preview-frame")
        expect(frame.get_by_text("Type a title to see the preview.")).to_be_visible()

        page.get_by_label("Title", exact=True).fill("Bulk edit is here")
        page.get_by_label("Body", exact=True).fill("Select many rows, then **Edit**.")
        page.get_by_label("Button label").fill("Try it")
        page.get_by_label("Button link").fill("https://app.example.com/rows")
        # A feed item: the widget's own feed panel opens, with the item in it.
        feed = frame.get_by_role("dialog", name="What's new")
        expect(feed.get_by_role("article", name="Bulk edit is here")).to_be_visible()
        expect(feed.get_by_role("link", name="Try it")).to_have_attribute(
            "href", "https://app.example.com/rows"
        )
        expect(feed.locator("strong")).to_have_text("Edit")

        # As a modal, then in dark colors (the system's): the widget's own dark palette.
        page.get_by_label("Display").select_option("modal")
        modal = frame.get_by_role("dialog", name="Bulk edit is here")
        expect(modal).to_be_visible()
        expect(modal.get_by_role("button", name="Dismiss")).to_be_visible()
        light = modal.evaluate("e => getComputedStyle(e).backgroundColor")
        page.emulate_media(color_scheme="dark")
        expect(modal).not_to_have_css("background-color", light)
        dark = modal.evaluate("e => getComputedStyle(e).backgroundColor")
        # Forced either way, whatever the system says (the widget's own theme command).
        page.get_by_label("Colors").select_option("light")
        expect(modal).to_have_css("background-color", light)
        page.emulate_media(color_scheme="light")
        page.get_by_label("Colors").select_option("dark")
        expect(modal).to_have_css("background-color", dark)
        page.get_by_label("Colors").select_option("auto")
        expect(modal).to_have_css("background-color", light)

        # Shown as a feed item on request, whatever its display.
        page.get_by_label("Show as").select_option("feed")
        expect(feed.get_by_role("article", name="Bulk edit is here")).to_be_visible()

        # Nothing the preview did reached the server as engagement.
        page.wait_for_timeout(500)
        assert Database(database_url).count_events(site.workspace.id, "impression") == 0

    def test_a_translation_is_previewed_in_its_language(
        self, page: Page, console_origin: str, site: Site
    ) -> None:
        created = site.workspace.announce(
            "Reports", translations={"de": {"title": "Berichte", "body": "Neu!"}}
        )
        sign_in(
            page,
            console_origin,
            site.viewer,  # viewers see the preview too
            path=f"/console/w/{site.slug}/announcements/{created['id']}",
        )
        frame = page.frame_locator("#preview-frame")
        expect(frame.get_by_role("article", name="Reports")).to_be_visible()
        page.get_by_label("Preview language").select_option("de")
        page.get_by_role("button", name="Refresh preview").click()
        expect(frame.get_by_role("article", name="Berichte")).to_be_visible()
        expect(frame.get_by_role("dialog", name="Neuigkeiten")).to_be_visible()


class TestAudienceBuilder:
    def test_rows_json_and_who_would_see_it(
        self, page: Page, console_origin: str, site: Site, api: httpx.Client
    ) -> None:
        # Three known end users, as the widget would have met them.
        for user_id, plan in (("u-1", "pro"), ("u-2", "pro"), ("u-3", "free")):
            identified = api.post(
                "/v1/widget/identify",
                params={"key": site.workspace.publishable_key},
                json={"user_id": user_id, "attributes": {"plan": plan, "seats": 12}},
            )
            assert identified.status_code == 200
        sign_in(page, console_origin, site.editor)
        page.goto(f"{console_origin}/console/w/{site.slug}/announcements/new")
        page.get_by_label("Title", exact=True).fill("For pro teams")
        page.get_by_label("Condition 1: attribute").fill("plan")
        page.get_by_label("Condition 1: value").fill("pro")
        page.get_by_label("Condition 2: attribute").fill("seats")
        page.get_by_label("Condition 2: test").select_option("gte")
        page.get_by_label("Condition 2: value").fill("10")

        page.get_by_label("User id").fill("u-3")
        page.get_by_label("Their attributes (JSON)").fill('{"plan": "free", "seats": 12}')
        page.get_by_role("button", name="Explain").click()
        answer = page.locator("#audience-answer")
        expect(answer).to_contain_text("No: this user is not in the audience")
        expect(answer).to_contain_text("2 of 3 known end users match")
        page.get_by_label("Their attributes (JSON)").fill('{"plan": "pro", "seats": 12}')
        page.get_by_role("button", name="Explain").click()
        expect(answer).to_contain_text("Yes: this user is in the audience")

        page.get_by_role("button", name="Save draft").click()
        expect(page.get_by_role("status")).to_have_text("Saved as a draft.")
        stored = _api(site, api, _id_in(page.url))
        assert stored["audience"]["condition"] == {"plan": {"$eq": "pro"}, "seats": {"$gte": 10}}
        # The JSON view shows the same condition; edited there, it replaces the rows.
        page.get_by_text("Condition as JSON").click()
        expect(page.get_by_label("Condition (JSON)")).to_contain_text('"$gte": 10')
        page.get_by_label("Condition (JSON)").fill('{"$or": [{"plan": "pro"}, {"plan": "team"}]}')
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.get_by_role("status")).to_have_text("Saved.")
        expect(page.get_by_text("parts the rows cannot show")).to_be_visible()
        stored = _api(site, api, _id_in(page.url))
        assert stored["audience"]["condition"] == {"$or": [{"plan": "pro"}, {"plan": "team"}]}
