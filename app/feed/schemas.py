"""The feed's query and answer (documentation and the console's preview; the hot path
renders the same shape from pre-rendered bytes, app/feed/render.py)."""

from datetime import datetime

from pydantic import Field

from app.end_users.schemas import LocaleTag, Reaction, VisitorFields
from app.kit.schemas import OutputModel


class FeedQuery(VisitorFields):
    """The feed's query parameters (besides the key)."""

    locale: LocaleTag | None = None


class FeedCta(OutputModel):
    label: str
    url: str


class FeedItem(OutputModel):
    id: str
    title: str
    body_html: str
    locale: str | None
    category: str
    image_url: str | None
    cta: FeedCta | None
    display: str
    pinned: bool
    priority: int
    published_at: datetime
    pages: list[str]
    frequency: str
    seen: bool
    dismissed: bool
    clicked: bool
    reaction: Reaction | None
    auto_show: bool


class FeedResponse(OutputModel):
    announcements: list[FeedItem]
    unread_count: int
    poll_after_s: int
    changelog_url: str | None = Field(
        description="The workspace's public changelog (the widget's footer link), on the "
        "host and scheme this request came in by, or on the host name the workspace claimed "
        "for it; null while no announcement is public."
    )
