"""What the live preview feeds the real widget: the feed answer it would get for this
announcement as written (saved or not), in the widget API's own shape (``FeedResponse``).

The text is rendered and sanitized by the same function as at save time. The preview
shows the item whatever the audience, pages and schedule say: those are explained by the
audience tools, not hidden here."""

from typing import Any

from app.announcements.content import render_markdown
from app.announcements.schemas import AnnouncementCreate, Display
from app.feed.schemas import FeedCta, FeedItem, FeedResponse
from app.kit.time import utc_now

PREVIEW_ID = "ann_preview"
SURFACES = ("as-set", "feed")


def preview_feed(
    data: AnnouncementCreate, *, surface: str, locale: str | None, announcement_id: str | None
) -> dict[str, Any]:
    text = data.translations.get(locale) if locale else None
    display = Display.feed if surface == "feed" else data.display
    item = FeedItem(
        id=announcement_id or PREVIEW_ID,
        title=text.title if text else data.title,
        body_html=render_markdown(text.body if text else data.body),
        locale=locale if text else None,
        category=data.category,
        image_url=data.image_url,
        cta=FeedCta(label=data.cta.label, url=data.cta.url) if data.cta else None,
        display=display.value,
        pinned=data.pinned,
        priority=data.priority,
        published_at=data.publish_at or utc_now(),
        pages=[],  # shown on the preview's page whatever the globs say
        frequency=data.frequency.value,
        seen=False,
        dismissed=False,
        clicked=False,
        reaction=None,
        auto_show=display is not Display.feed,
    )
    feed = FeedResponse(announcements=[item], unread_count=1, poll_after_s=3600, changelog_url=None)
    return feed.model_dump(mode="json")
