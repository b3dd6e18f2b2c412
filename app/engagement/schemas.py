"""Response shapes of the engagement API (documentation; bodies are built as dicts)."""

from datetime import datetime

from pydantic import BaseModel, Field


class Reactions(BaseModel):
    positive: int
    neutral: int
    negative: int


class Figures(BaseModel):
    impressions: int
    unique_viewers: int
    clicks: int
    unique_clickers: int
    dismissals: int
    unique_dismissers: int
    reactions: Reactions = Field(description="End users' current reactions.")
    ctr: float | None = Field(description="unique_clickers / unique_viewers; null without viewers.")
    dismiss_rate: float | None = Field(description="unique_dismissers / unique_viewers.")


class SeriesPoint(Figures):
    start: datetime = Field(description="Bucket start in the requested time zone.")


class AnnouncementStatsOut(BaseModel):
    announcement_id: str
    from_: datetime = Field(alias="from")
    to: datetime
    interval: str
    tz: str
    totals: Figures
    series: list[SeriesPoint]


class StatsRow(Figures):
    announcement_id: str
    title: str
    state: str
    published_at: datetime | None


class WorkspaceStatsOut(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    tz: str
    data: list[StatsRow]
    next_cursor: str | None
