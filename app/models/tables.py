"""The Core ``Table`` of each model, for the paths that run SQL without the ORM.

The hot paths (the feed's user reads, the event writer, the benchmark's seeding) build
their statements from these, never from table or column names of their own, so a column
exists in one place: its model (and its migration).
"""

from typing import cast

from sqlalchemy import Table

from app.models.announcement import Announcement
from app.models.end_user import EndUser
from app.models.event import Event
from app.models.stats import AnnouncementStats
from app.models.user_state import UserState


def table_of(model: type) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


announcements = table_of(Announcement)
end_users = table_of(EndUser)
events = table_of(Event)
user_states = table_of(UserState)
announcement_stats = table_of(AnnouncementStats)
