"""Seed a fresh Tidings database for the benchmark.

Announcements go through the admin API (so bodies are rendered and audiences compiled by
the app itself). End users, their engagement state, raw events and the quarter-hour
counters are bulk-inserted with the app's own table definitions (``app.models``), so
column types and encodings are the app's; the rows are what the widget endpoints would
have written for that history:

- every event is a row in ``events`` (UUID id, payload hash as the app computes it);
- each (user, announcement) state row is the fold of that user's events, in time order,
  with the rules of ``app/engagement/counting.py`` (seen, first impression, click, dismissal,
  latest reaction, auto-shown);
- ``announcement_stats`` holds, per quarter hour, the counts of impressions, clicks and
  dismissals, each user's first impression / click / dismissal as a unique, and users'
  current reactions in the bucket of that reaction.

So after seeding, for the whole workspace: sum(impressions) = impression events,
sum(unique_viewers) = state rows with a first impression, sum(reactions_x) = state rows
with reaction x, and so on. run.py checks these identities again after the load.
"""

import hashlib
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, cast

import httpx
import orjson

# The app's own rules, so the seeded counters are exactly what ingestion would write.
from app.engagement.counting import COUNTERS, apply_event, bucket_of

N_USERS = 10_000
N_ANNOUNCEMENTS = 50


def user_key(index: int) -> str:
    """The host product's id of user ``index`` (1-based); the Lua scripts use the same."""
    return f"user-{index:05d}"


# --- announcements ---------------------------------------------------------------------

FEATURES = [
    "Dark mode",
    "Saved views",
    "Bulk editing",
    "Keyboard shortcuts",
    "Audit log",
    "SAML single sign-on",
    "Custom fields",
    "Slack integration",
    "CSV import",
    "Recurring tasks",
    "Two-factor authentication",
    "Usage-based billing",
    "Faster search",
    "Team workspaces",
    "Webhooks",
    "Mobile offline mode",
    "Dashboards",
    "Approval flows",
    "Time tracking",
    "Public API v2",
    "Granular permissions",
    "Scheduled reports",
    "Comment threads",
    "Calendar sync",
    "Data retention controls",
]
VERBS = ["is here", "just shipped", "gets a big upgrade", "is now generally available", "beta"]
CATEGORIES = ["new", "improvement", "fix", "announcement", "improvement", "new"]
PARAGRAPHS = [
    "We heard you: **{feature}** was the most requested change of the last quarter, and it "
    "is rolling out to every workspace today. You will find it under *Settings → {area}*, "
    "and it works the same on the web app, the desktop app and on mobile.",
    "Under the hood we rewrote the {area} pipeline so that large accounts see results in "
    "well under a second. Teams with more than 10 000 records should notice the difference "
    "first; if anything looks slower than before, [tell us]({link}) and we will look at it "
    "the same day.",
    "Admins can turn it off per team for now. From **{month} 1** it will be on for "
    "everyone, and the old behaviour goes away. Nothing changes for your existing data: "
    "your `{slug}` settings carry over as they are.",
    "A few details worth knowing:\n\n"
    "- it respects the permissions you already set, per project and per role;\n"
    "- changes are recorded in the audit log with who did what and when;\n"
    "- the API exposes the same thing (`GET /v2/{slug}`), documented in the "
    "[reference]({link});\n"
    "- it is included in every paid plan at no extra cost.",
    "Thanks to the 240 customers in the early-access group who sent us feedback, "
    "screenshots and the occasional angry email. We fixed 37 issues you reported during "
    "the beta, including the one where {area} forgot your filters after a reload.",
    "### What's next\n\nNext up is sharing: you will be able to send a read-only link to "
    "people outside your workspace. Follow along on the [public roadmap]({link}), and vote "
    "for what you want us to build after that.",
]
AREAS = ["Workspace", "Billing", "Reports", "Integrations", "Security", "Projects", "Search"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "September"]

# Ten targeted audiences, of the shapes product teams write; one of them with a rollout.
TARGETED_AUDIENCES: list[dict[str, Any]] = [
    {"condition": {"plan": "pro"}},
    {"condition": {"plan": {"$in": ["pro", "team"]}, "country": {"$in": ["DE", "AT", "CH"]}}},
    {"condition": {"beta": True}},
    {"condition": {"$or": [{"country": "US"}, {"beta": True}]}},
    {"condition": {"plan": "enterprise", "seats": {"$gte": 50}}},
    {"condition": {"country": {"$nin": ["US", "CA"]}, "plan": {"$ne": "free"}}},
    {"condition": {"app_version": {"$vgte": "2.10.0"}}},
    {"condition": {"email": {"$regexi": "@(acme|globex)\\.(com|io)$"}}},
    {"condition": {"plan": {"$in": ["pro", "team", "enterprise"]}}, "rollout": 30},
    {"condition": {"company.size": {"$gt": 100}, "signup_date": {"$gte": "2025-06-01"}}},
]


def _body(rng: random.Random, feature: str) -> str:
    area = rng.choice(AREAS)
    slug = feature.lower().replace(" ", "-")
    link = f"https://docs.example.com/{slug}"
    chosen = rng.sample(PARAGRAPHS, 4)
    values = {"feature": feature, "area": area, "link": link, "slug": slug}
    values["month"] = rng.choice(MONTHS)
    return "\n\n".join(paragraph.format(**values) for paragraph in chosen)


def announcement_specs(seed: int = 7) -> list[dict[str, Any]]:
    """Fifty published announcements; the first is the one that gets the big history.

    Ten are targeted (every fifth, from the fifth on), a few pop up, banner or open as a
    modal, some are pinned or prioritised, some have a German or French translation.
    """
    rng = random.Random(seed)
    specs: list[dict[str, Any]] = []
    targeted = iter(TARGETED_AUDIENCES)
    for index in range(N_ANNOUNCEMENTS):
        feature = FEATURES[index % len(FEATURES)]
        title = f"{feature} {VERBS[index % len(VERBS)]}"
        if index >= len(FEATURES):
            title += f" (part {index // len(FEATURES) + 1})"
        spec: dict[str, Any] = {
            "title": title,
            "body": _body(rng, feature),
            "category": CATEGORIES[index % len(CATEGORIES)],
            "status": "published",
            "display": "feed",
        }
        if index % 5 == 4:
            spec["audience"] = next(targeted)
        if index in (3, 17, 29):
            spec.update(display="popover", frequency="until_dismissed")
            spec["audience"] = {**spec.get("audience", {}), "pages": ["/dashboard/*"]}
        if index == 11:
            spec.update(display="banner", frequency="once")
        if index == 23:
            spec.update(display="modal", frequency="until_dismissed")
        if index in (1, 8):
            spec["pinned"] = True
        if index % 7 == 0:
            spec["priority"] = 10 * (index % 3 + 1)
        if index % 2 == 0:
            spec["cta"] = {"label": "Try it", "url": f"https://app.example.com/go/{index}"}
        if index % 3 == 0:
            spec["image_url"] = f"https://cdn.example.com/announcements/{index}.png"
        if index % 6 == 1:
            spec["translations"] = {
                "de": {"title": f"Neu: {feature}", "body": _body(rng, feature)},
                "fr": {"title": f"Nouveau : {feature}", "body": _body(rng, feature)},
            }
        specs.append(spec)
    return specs


@dataclass
class Content:
    ids: list[str]  # in creation order; ids[0] carries the big history
    targeted: set[str]
    html_bytes: list[int]

    @property
    def stats_announcement(self) -> str:
        return self.ids[0]

    @property
    def seen_by_everyone(self) -> list[str]:
        """The untargeted announcements but the stats one: in every user's feed, so their
        events are counted (events about what a user's feed does not show are refused)."""
        return [a for a in self.ids[1:] if a not in self.targeted]


def create_announcements(base_url: str, secret_key: str) -> Content:
    ids: list[str] = []
    targeted: set[str] = set()
    sizes: list[int] = []
    headers = {"Authorization": f"Bearer {secret_key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for spec in announcement_specs():
            response = client.post("/v1/announcements", json=spec)
            if response.status_code != 201:
                raise RuntimeError(
                    f"POST /v1/announcements: {response.status_code} {response.text[:500]}"
                )
            created = response.json()
            ids.append(created["id"])
            sizes.append(len(created["body_html"].encode()))
            audience = spec.get("audience", {})
            if "condition" in audience or "rollout" in audience:
                targeted.add(created["id"])
    return Content(ids=ids, targeted=targeted, html_bytes=sizes)


# --- users, state, history -------------------------------------------------------------

PLANS = ["free"] * 45 + ["pro"] * 30 + ["team"] * 15 + ["enterprise"] * 10
COUNTRIES = ["US"] * 30 + ["DE"] * 12 + ["GB"] * 10 + ["FR"] * 8 + ["CA"] * 6 + ["AT"] * 3
COUNTRIES += ["CH"] * 3 + ["NL"] * 5 + ["BR"] * 6 + ["IN"] * 8 + ["JP"] * 5 + ["ES"] * 4
DOMAINS = ["acme.com", "globex.io", "initech.com", "example.org", "umbrella.co", "hooli.com"]
LOCALES = [None] * 70 + ["de"] * 12 + ["fr"] * 8 + ["en-GB"] * 6 + ["pt-BR"] * 4
NAMES = ["alex", "sam", "kim", "noor", "lena", "ravi", "mia", "tom", "ana", "yuki", "omar"]


def user_attributes(rng: random.Random, index: int) -> dict[str, Any]:
    plan = rng.choice(PLANS)
    signup = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(1000))
    return {
        "plan": plan,
        "country": rng.choice(COUNTRIES),
        "beta": rng.random() < 0.1,
        "seats": rng.choice([1, 3, 5, 12, 25, 60, 150]) if plan != "free" else 1,
        "app_version": f"2.{rng.randrange(4, 14)}.{rng.randrange(0, 6)}",
        "email": f"{rng.choice(NAMES)}.{index}@{rng.choice(DOMAINS)}",
        "company": {"name": f"Company {index % 997}", "size": rng.choice([5, 40, 120, 800])},
        "signup_date": signup.date().isoformat(),
        "role": rng.choice(["admin", "member", "member", "viewer"]),
    }


def payload_hash(
    user: str, kind: str, announcement: str, at: datetime, value: str | None, surface: str | None
) -> str:
    """As the app computes it: blake2b-128 of [visitor key, type, announcement, time, ...]."""
    content = orjson.dumps([user, kind, announcement, at.isoformat(), value, surface])
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def empty_state() -> dict[str, Any]:
    return {
        "first_seen_at": None,
        "last_seen_at": None,
        "seen_count": 0,
        "first_impression_at": None,
        "clicked_at": None,
        "dismissed_at": None,
        "reaction": None,
        "reacted_at": None,
        "auto_shown_at": None,
    }


@dataclass
class Counters:
    """announcement_stats rows being built: (announcement, bucket) -> counter -> n."""

    rows: defaultdict[tuple[str, datetime], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    )

    def add(self, announcement: str, at: datetime, counter: str, amount: int = 1) -> None:
        self.rows[(announcement, bucket_of(at))][counter] += amount

    def totals(self, announcement: str) -> dict[str, int]:
        totals = dict.fromkeys(COUNTERS, 0)
        for (owner, _), counts in self.rows.items():
            if owner == announcement:
                for name, value in counts.items():
                    totals[name] += value
        return totals


class HistoryEvent(TypedDict):
    type: str
    occurred_at: datetime
    value: str | None
    surface: str | None


def _history(
    rng: random.Random, count: int, start: datetime, end: datetime, display: str
) -> list[HistoryEvent]:
    """``count`` events of one user on one announcement between start and end, in order."""
    span = (end - start).total_seconds()
    events: list[HistoryEvent] = []
    for position in range(count):
        roll = rng.random()
        at = start + timedelta(seconds=rng.random() * span)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # the widget sends ms
        value: str | None
        surface: str | None
        if position == 0 or roll < 0.85:
            kind, value = "impression", None
            surface = display if display != "feed" and rng.random() < 0.5 else "feed"
        elif roll < 0.93:
            kind, value, surface = "click", None, None
        elif roll < 0.97:
            kind, value, surface = "dismiss", None, None
        else:
            kind, value, surface = "reaction", rng.choice(["positive", "neutral", "negative"]), None
        events.append({"type": kind, "occurred_at": at, "value": value, "surface": surface})
    events.sort(key=lambda event: event["occurred_at"])
    return events


@dataclass
class SeedReport:
    users: int = 0
    states: int = 0
    events: int = 0
    stats_events: int = 0
    counter_rows: int = 0
    stats_totals: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    write_seconds: float = 0.0


async def seed_database(
    database_url: str,
    workspace_id: str,
    content: Content,
    stats_events: int,
    progress: Callable[[str], None],
    now: datetime | None = None,
) -> SeedReport:
    """Users with attributes, their state and history, and the big announcement's history."""
    from sqlalchemy import insert, text, update
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool
    from sqlmodel import col

    from app.kit.ids import new_id
    from app.models import (
        Announcement,
        AnnouncementStats,
        EndUser,
        Event,
        UserState,
        Workspace,
        tables,
    )

    started = time.perf_counter()
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    rng = random.Random(42)
    report = SeedReport()
    postgres = database_url.startswith("postgresql")
    engine = create_async_engine(database_url, poolclass=NullPool)
    ws = workspace_id
    stats_id = content.stats_announcement
    counters = Counters()

    # Announcements went out over the last two months; the big one 31 days ago, so that
    # its 30 days of history fall after its publication.
    published: dict[str, datetime] = {}
    for position, announcement_id in enumerate(content.ids):
        days = 31.0 if announcement_id == stats_id else 0.5 + (position * 37 % 60)
        published[announcement_id] = now - timedelta(days=days, minutes=position)
    displays = {a: "feed" for a in content.ids}
    for position, spec in enumerate(announcement_specs()):
        displays[content.ids[position]] = spec["display"]
    untargeted = content.seen_by_everyone

    event_columns = [c.name for c in tables.events.columns]

    async with engine.begin() as conn:
        if postgres:
            # Bulk load: skip the per-row foreign-key triggers (the rows are consistent by
            # construction; needs a superuser, as the throwaway database's owner is here).
            await conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            await conn.execute(text("PRAGMA synchronous=OFF"))
            await conn.execute(text("PRAGMA cache_size=-400000"))
        for announcement_id, at in published.items():
            await conn.execute(
                update(Announcement)
                .where(
                    col(Announcement.workspace_id) == ws, col(Announcement.id) == announcement_id
                )
                .values(published_at=at, created_at=at - timedelta(hours=2), updated_at=at)
            )
        # Content changed behind the app's back: bump the version its caches watch.
        await conn.execute(
            update(Workspace)
            .where(col(Workspace.id) == ws)
            .values(content_version=Workspace.content_version + 1)
        )

        per_user_stats = [stats_events // N_USERS] * N_USERS
        for index in range(stats_events % N_USERS):
            per_user_stats[index] += 1
        chunk = 500
        for first in range(0, N_USERS, chunk):
            users, states, events = [], [], []
            for index in range(first + 1, min(first + chunk, N_USERS) + 1):
                key = user_key(index)
                end_user_id = new_id("eu")
                first_seen = now - timedelta(days=rng.uniform(31, 120))
                plan: list[tuple[str, list[HistoryEvent]]] = []
                # A few of the everyday announcements: seen, sometimes clicked or dismissed.
                for announcement_id in rng.sample(untargeted, rng.randrange(2, 10)):
                    start = max(published[announcement_id], first_seen)
                    history = _history(
                        rng, rng.randrange(1, 4), start, now, displays[announcement_id]
                    )
                    plan.append((announcement_id, history))
                if per_user_stats[index - 1]:
                    start = now - timedelta(days=30)
                    history = _history(
                        rng,
                        per_user_stats[index - 1],
                        start,
                        now - timedelta(minutes=5),
                        displays[stats_id],
                    )
                    plan.append((stats_id, history))
                last_seen = first_seen
                for announcement_id, history in plan:
                    state = empty_state()
                    for event in history:
                        # Counters duck-types StatsDelta (its add()), keeping every counter
                        # of a row, zeros included, for the bulk insert.
                        apply_event(state, announcement_id, event, counters)  # type: ignore[arg-type]
                        at = event["occurred_at"]
                        last_seen = max(last_seen, at)
                        received = at + timedelta(milliseconds=rng.randrange(40, 4000))
                        events.append(
                            {
                                "workspace_id": ws,
                                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                                "end_user_id": end_user_id,
                                "announcement_id": announcement_id,
                                "type": event["type"],
                                "value": event["value"],
                                "surface": event["surface"],
                                "occurred_at": at,
                                "received_at": received,
                                "clamped": False,
                                "payload_hash": payload_hash(
                                    key,
                                    event["type"],
                                    announcement_id,
                                    at,
                                    event["value"],
                                    event["surface"],
                                ),
                            }
                        )
                    report.events += len(history)
                    if announcement_id == stats_id:
                        report.stats_events += len(history)
                    states.append(
                        {
                            "workspace_id": ws,
                            "end_user_id": end_user_id,
                            "announcement_id": announcement_id,
                            **state,
                        }
                    )
                users.append(
                    {
                        "workspace_id": ws,
                        "id": end_user_id,
                        "user_id": key,
                        "anonymous_id": None,
                        "merged_into": None,
                        "attributes": user_attributes(rng, index),
                        "locale": rng.choice(LOCALES),
                        # One bump per batch of events the widget sent; about one per event.
                        "state_version": 1 + sum(len(history) for _, history in plan),
                        "first_seen_at": first_seen,
                        "last_seen_at": last_seen,
                    }
                )
            writing = time.perf_counter()
            await conn.execute(insert(EndUser), users)
            await conn.execute(insert(UserState), states)
            events.sort(key=lambda row: cast(str, row["id"]))  # append-only primary key: faster
            if postgres:
                raw = await conn.get_raw_connection()
                assert raw.driver_connection is not None  # a live connection has its driver's
                await raw.driver_connection.copy_records_to_table(
                    "events",
                    records=[tuple(row[name] for name in event_columns) for row in events],
                    columns=event_columns,
                )
            else:
                await conn.execute(insert(Event), events)
            report.write_seconds += time.perf_counter() - writing
            report.users += len(users)
            report.states += len(states)
            if (first // chunk) % 4 == 3 or first + chunk >= N_USERS:
                progress(
                    f"seeded {report.users:,} users, {report.states:,} state rows, "
                    f"{report.events:,} events"
                )
        stats_rows = [
            {"workspace_id": ws, "announcement_id": a, "bucket": bucket, **counts}
            for (a, bucket), counts in counters.rows.items()
        ]
        for offset in range(0, len(stats_rows), 5000):
            await conn.execute(insert(AnnouncementStats), stats_rows[offset : offset + 5000])
        report.counter_rows = len(stats_rows)
    async with engine.connect() as conn:
        if postgres:
            await conn.execute(text("COMMIT"))  # ANALYZE as autovacuum soon would
            await conn.execute(text("ANALYZE"))
        else:
            await conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    await engine.dispose()
    report.stats_totals = counters.totals(stats_id)
    report.seconds = time.perf_counter() - started
    return report
