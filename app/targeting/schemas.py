from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from app.kit.locales import MAX_LOCALE_LENGTH, normalize_locale
from app.kit.schemas import InputModel, OutputModel, PatchModel

SegmentName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
SegmentDescription = Annotated[str, StringConstraints(max_length=500)]
Locale = Annotated[
    str, StringConstraints(max_length=MAX_LOCALE_LENGTH), AfterValidator(normalize_locale)
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class SegmentCreate(InputModel):
    name: SegmentName = Field(description="Unique in the workspace.")
    description: SegmentDescription = ""
    condition: dict[str, Any] = Field(
        description="A GrowthBook-style condition over the user's attributes; `{}` is everyone."
    )


class SegmentUpdate(PatchModel):
    name: SegmentName | None = None
    description: SegmentDescription | None = None
    condition: dict[str, Any] | None = None


class SegmentPublic(OutputModel):
    id: str
    name: str
    description: str
    condition: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


class SegmentPage(OutputModel):
    data: list[SegmentPublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end."
    )


class PreviewUser(InputModel):
    """The user to test, as the widget would know them."""

    id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="The user id (or anonymous id); also the rollout key."
    )
    anonymous: bool | None = Field(
        default=None, description="Whether `id` is an anonymous id; default: not when `id` is set."
    )
    locale: Locale | None = None
    device: Literal["desktop", "mobile", "tablet"] | None = None
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="The user's own attributes (≤ 50 keys, ≤ 8 KB); they win over built-ins.",
    )


class AudiencePreviewRequest(InputModel):
    """Exactly one of `condition`, `segment_id` or `announcement_id`, and the user."""

    condition: dict[str, Any] | None = None
    segment_id: Id | None = None
    announcement_id: Id | None = None
    user: PreviewUser

    @model_validator(mode="after")
    def _exactly_one_subject(self) -> Self:
        sent = [
            name
            for name in ("condition", "segment_id", "announcement_id")
            if getattr(self, name) is not None
        ]
        if len(sent) != 1:
            raise ValueError(
                "send exactly one of condition, segment_id or announcement_id"
                + (f" (got {', '.join(sent)})" if sent else "")
            )
        return self


class AudiencePreview(OutputModel):
    match: bool = Field(description="Whether the user would be shown it now.")
    reasons: list[str] = Field(
        description="A readable trace: each sub-condition, segment, the rollout bucket and, "
        "for an announcement, its status and publish window."
    )
