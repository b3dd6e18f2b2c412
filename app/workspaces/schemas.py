from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, StringConstraints

from app.announcements.schemas import ImageUrl, LinkUrl
from app.changelog.hosts import normalize_host
from app.changelog.theme import parse_hex, to_hex
from app.kit.origins import normalize_origin
from app.kit.schemas import InputModel, OutputModel, PatchModel
from app.kit.slugs import SLUG_PATTERN
from app.kit.time import TimeZone
from app.workspaces.keys import KeyKind

Origin = Annotated[str, AfterValidator(normalize_origin)]
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=63)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Origins = Annotated[list[Origin], Field(max_length=100)]
AccentColor = Annotated[str, AfterValidator(lambda value: to_hex(parse_hex(value)))]
HostName = Annotated[str, StringConstraints(max_length=260), AfterValidator(normalize_host)]


class IdentityVerification(StrEnum):
    off = "off"
    optional = "optional"
    required = "required"


class WorkspaceCreate(InputModel):
    name: Name
    slug: Slug | None = Field(
        default=None, description="URL-safe name; derived from `name` when omitted."
    )
    allowed_origins: Origins = Field(
        default_factory=list,
        description="Origins (https://app.example.com) whose pages may call the widget API.",
    )


class WorkspaceUpdate(PatchModel):
    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "changelog_name",
            "changelog_logo_url",
            "changelog_accent",
            "changelog_product_url",
            "changelog_host",
            "time_zone",
        }
    )

    name: Name | None = None
    slug: Slug | None = None
    allowed_origins: Origins | None = None
    identity_verification: IdentityVerification | None = None
    allow_anonymous: bool | None = Field(
        default=None, description="Whether visitors who never identified may use the widget."
    )
    popover_daily_cap: int | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Auto-shown popovers, banners and modals per end user per day.",
    )
    rotate_identity_secret: bool | None = Field(
        default=None,
        description="Make a new current identity secret; the previous one stays valid "
        "until removed, so hashes made with either verify during the rotation.",
    )
    remove_identity_secret: str | None = Field(
        default=None, max_length=40, description="Id of a non-current identity secret to remove."
    )
    changelog_name: Name | None = Field(
        default=None, description="Heading of the public changelog (default: `name`)."
    )
    changelog_logo_url: ImageUrl | None = Field(
        default=None, description="https URL of a logo shown beside the changelog's heading."
    )
    changelog_accent: AccentColor | None = Field(
        default=None,
        description="#rrggbb accent of the changelog page; refused (422) below WCAG AA "
        "contrast (4.5:1) against the page's light background.",
    )
    changelog_product_url: LinkUrl | None = Field(
        default=None, description="Where the changelog's link back to the product goes."
    )
    changelog_host: HostName | None = Field(
        default=None,
        description="A host name of your own (changelog.example.com) whose requests are "
        "answered with this changelog at `/`; unique across the instance.",
    )
    time_zone: TimeZone | None = Field(
        default=None,
        description="IANA zone (Europe/Berlin) engagement is counted in by default: the "
        "stats API without `tz`, the console's charts. Unset: UTC.",
    )


class IdentitySecretPublic(OutputModel):
    id: str
    secret: str
    created_at: datetime


class WorkspacePublic(OutputModel):
    id: str
    name: str
    slug: str
    allowed_origins: list[str]
    identity_verification: IdentityVerification
    identity_secrets: list[IdentitySecretPublic] = Field(
        description="Newest first; the first signs new hashes, all verify."
    )
    allow_anonymous: bool
    popover_daily_cap: int
    changelog_name: str | None
    changelog_logo_url: str | None
    changelog_accent: str | None
    changelog_product_url: str | None
    changelog_host: str | None
    time_zone: str | None
    created_at: datetime
    updated_at: datetime


class WorkspaceCreated(WorkspacePublic):
    publishable_key: str = Field(description="For the widget's `data-key`; public.")
    secret_key: str = Field(description="For the admin API. Shown only now: store it safely.")


class ApiKeyCreate(InputModel):
    kind: KeyKind
    name: Name = "default"


class ApiKeyPublic(OutputModel):
    id: str
    kind: KeyKind
    name: str
    preview: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself. Secret keys are shown only now.")
