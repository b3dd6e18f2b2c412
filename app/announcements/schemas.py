from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, StringConstraints

from app.announcements.content import is_allowed_image_url, is_allowed_link_url
from app.kit.locales import normalize_locale
from app.kit.schemas import InputModel, OutputModel, PatchModel
from app.kit.time import Instant

MAX_TITLE = 200
MAX_BODY = 20_000
MAX_URL = 2000


class Display(StrEnum):
    feed = "feed"
    popover = "popover"
    banner = "banner"
    modal = "modal"


class Status(StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class State(StrEnum):
    """What a reader sees right now, derived from status and the publish window."""

    draft = "draft"
    scheduled = "scheduled"
    live = "live"
    expired = "expired"
    archived = "archived"


class Frequency(StrEnum):
    until_dismissed = "until_dismissed"
    once = "once"
    always = "always"


def _link_url(value: str) -> str:
    if not is_allowed_link_url(value):
        raise ValueError("must be an absolute http or https URL")
    return value


def _image_url(value: str) -> str:
    if not is_allowed_image_url(value):
        raise ValueError("must be an absolute https URL")
    return value


def _page_glob(value: str) -> str:
    if not value.startswith(("/", "*")) or any(char.isspace() for char in value):
        raise ValueError("must be a URL path glob such as /settings/* or /billing/**")
    return value


Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE)]
Body = Annotated[str, StringConstraints(max_length=MAX_BODY)]
Category = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")]
LinkUrl = Annotated[str, StringConstraints(max_length=MAX_URL), AfterValidator(_link_url)]
ImageUrl = Annotated[str, StringConstraints(max_length=MAX_URL), AfterValidator(_image_url)]
PageGlob = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_page_glob)
]
Locale = Annotated[str, StringConstraints(max_length=35), AfterValidator(normalize_locale)]

PUBLIC_DESPITE_AUDIENCE_DOC = (
    "The public changelog has no signed-in user: a public announcement is shown there to "
    "everyone, whatever its audience. `public: true` with an audience condition, segments "
    "or a rollout is refused (422) unless this is true too."
)


class CallToAction(InputModel):
    label: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    url: LinkUrl


class Audience(InputModel):
    """Who sees the announcement. Empty: everyone."""

    condition: dict[str, Any] | None = Field(
        default=None,
        description="A GrowthBook-style condition over the user's attributes.",
    )
    segments: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        default_factory=list, max_length=20, description="Saved segment ids, ANDed."
    )
    rollout: float | None = Field(
        default=None, ge=0, le=100, description="Percent of matching users, by stable hash."
    )
    pages: list[PageGlob] = Field(
        default_factory=list,
        max_length=50,
        description="Path globs where popovers, banners and modals may show.",
    )


class Translation(InputModel):
    title: Title
    body: Body = ""


Translations = Annotated[dict[Locale, Translation], Field(max_length=50)]


class AnnouncementCreate(InputModel):
    title: Title
    body: Body = ""
    slug: Slug | None = None
    category: Category = "announcement"
    image_url: ImageUrl | None = None
    cta: CallToAction | None = None
    display: Display = Display.feed
    pinned: bool = False
    priority: int = Field(default=0, ge=-1000, le=1000)
    status: Status = Status.draft
    publish_at: Instant | None = None
    expire_at: Instant | None = None
    audience: Audience = Field(default_factory=Audience)
    frequency: Frequency = Frequency.until_dismissed
    public: bool = Field(default=False, description="Shown on the public changelog page.")
    public_despite_audience: bool = Field(default=False, description=PUBLIC_DESPITE_AUDIENCE_DOC)
    translations: Translations = Field(default_factory=dict)


class AnnouncementUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {"slug", "image_url", "cta", "publish_at", "expire_at"}
    )

    title: Title | None = None
    body: Body | None = None
    slug: Slug | None = None
    category: Category | None = None
    image_url: ImageUrl | None = None
    cta: CallToAction | None = None
    display: Display | None = None
    pinned: bool | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    status: Status | None = None
    publish_at: Instant | None = None
    expire_at: Instant | None = None
    audience: Audience | None = None
    frequency: Frequency | None = None
    public: bool | None = None
    public_despite_audience: bool | None = Field(
        default=None, description=PUBLIC_DESPITE_AUDIENCE_DOC
    )
    translations: Translations | None = None


class TranslationPublic(OutputModel):
    title: str
    body: str
    body_html: str


class CallToActionPublic(OutputModel):
    label: str
    url: str


class AudiencePublic(OutputModel):
    condition: dict[str, Any] | None = None
    segments: list[str] = Field(default_factory=list)
    rollout: float | None = None
    pages: list[str] = Field(default_factory=list)


class AnnouncementPublic(OutputModel):
    id: str
    slug: str | None
    title: str
    body: str
    body_html: str = Field(description="Sanitized HTML rendered from `body` at write time.")
    category: str
    image_url: str | None
    cta: CallToActionPublic | None
    display: Display
    pinned: bool
    priority: int
    status: Status
    state: State = Field(description="draft, scheduled, live, expired or archived, as of now.")
    publish_at: datetime | None
    expire_at: datetime | None
    published_at: datetime | None
    audience: AudiencePublic
    frequency: Frequency
    public: bool
    public_despite_audience: bool
    translations: dict[str, TranslationPublic]
    version: int
    created_at: datetime
    updated_at: datetime


class AnnouncementPage(OutputModel):
    data: list[AnnouncementPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )
