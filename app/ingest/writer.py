"""Writing a group of event submissions in one transaction: the same code on every backend.

Events are inserted once per (workspace, event id); the user's per-announcement state and
the quarter-hour counters are folded in the same transaction (app/engagement/counting.py).
Statements come from app/ingest/statements.py, compiled once per dialect
(app/kit/compiled.py). The backends differ only where concurrency forces it
(``_Statements.holds_database``).
"""

import asyncio
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect

from app.end_users import statements as end_user_sql
from app.end_users.repository import new_end_user_row
from app.end_users.visitors import Visitor
from app.engagement import statements as stats_sql
from app.engagement.counting import (
    STATE_FIELDS,
    StatsDelta,
    empty_state,
    fold_event,
    mark_seen,
)
from app.ingest import statements as event_sql
from app.kit.compiled import CompiledStatement, SqliteTimes
from app.kit.deadlines import Deadline
from app.kit.ids import new_id
from app.kit.time import utc_now


@dataclass(slots=True)
class IncomingEvent:
    """One validated event on its way to the writer (occurred_at in UTC, clamped)."""

    index: int  # position in the request's batch, for per-event answers
    id: str
    type: str
    announcement_id: str | None
    occurred_at: datetime
    clamped: bool
    value: str | None
    surface: str | None
    payload_hash: str


@dataclass(slots=True)
class Submission:
    workspace_id: str
    visitor: Visitor
    events: list[IncomingEvent]
    # For "open" events: what the user could see when the feed was opened.
    visible: list[str]
    # Exact copies in the batch: the index of an event's first copy → the others' indexes.
    repeats: dict[int, list[int]]
    future: asyncio.Future["IngestResult"] = field(repr=False)
    # Its place in the ingestor's queue (app/ingest/ingestor.py): when its request is
    # answered 503 regardless, when it was queued (time.monotonic()), and whether the
    # writer took it or its request was answered without it (never both).
    deadline: Deadline = field(default_factory=Deadline)
    queued_at: float = 0.0
    is_taken: bool = False
    is_cancelled: bool = False


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


REUSED_ID = "this event id was already used for a different event"


_STATE_KEY_COLUMNS = (*end_user_sql.STATE_KEY, "seen_count")
_STATE_COLUMNS = (*end_user_sql.STATE_KEY, *STATE_FIELDS)


class _Statements:
    """Everything the writer runs, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        name = dialect.name
        # SQLite's writer holds the whole database (BEGIN IMMEDIATE): what it reads stays
        # true until it commits, so asking first which events and state rows exist is
        # exact, and cheaper. PostgreSQL replicas write concurrently: the event insert
        # itself says which rows were new (RETURNING), and the statement that creates
        # missing state rows locks them all.
        self.holds_database = name == "sqlite"
        # Only the SQLite writer uses it, and only from the event loop, one group at a time.
        self.times = SqliteTimes()

        def prepare(statement: Any, keys: Sequence[str] | None = None) -> CompiledStatement:
            return CompiledStatement(statement, dialect, self.times, keys)

        end_user_keys = tuple(new_end_user_row("", "", utc_now(), None, None))
        self.group_references = prepare(event_sql.group_references(name))
        self.end_users_by_key = prepare(end_user_sql.end_users_by_key(name))
        self.insert_end_users = prepare(end_user_sql.insert_end_users(name), end_user_keys)
        self.stored_events = prepare(event_sql.stored_events(name))
        if self.holds_database:
            self.insert_events = prepare(event_sql.insert_events(name), event_sql.EVENT_COLUMNS)
            self.insert_full_states = prepare(
                end_user_sql.insert_states(name), _STATE_KEY_COLUMNS[:-1] + STATE_FIELDS
            )
            self.lock_states = prepare(end_user_sql.lock_states_of(name))
            self.save_states = prepare(end_user_sql.save_states())
            self.add_to_stats = prepare(stats_sql.add_to_stats(name), stats_sql.STATS_COLUMNS)
            self.bump_state_version = prepare(end_user_sql.bump_state_version())
        else:
            # Each statement costs a round trip, and between two of them the transaction
            # waits for the event loop, which is busy with requests: one array per column,
            # and as few statements as the reads that decide the writes allow: what the
            # group refers to; the events, with the state rows they touch; then the writes
            # that folding the new events into those states decided.
            self.insert_events_and_lock_states = prepare(event_sql.insert_events_and_lock_states())
            self.write_states_counters_and_versions = prepare(
                event_sql.write_states_counters_and_versions()
            )


_compiled: dict[tuple[str, str, str], _Statements] = {}


def _statements_for(dialect: Dialect) -> _Statements:
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled[key] = _Statements(dialect)
    return compiled


def write_group(connection: Connection, group: list[Submission]) -> list[IngestResult]:
    """Write a group of submissions in the caller's transaction; one result per submission."""
    sql = _statements_for(connection.dialect)
    sql.times.clear()
    results = [IngestResult() for _ in group]
    by_workspace: dict[str, list[int]] = defaultdict(list)
    for position, submission in enumerate(group):
        by_workspace[submission.workspace_id].append(position)
    now = utc_now()
    for workspace_id, positions in by_workspace.items():
        _write_workspace(
            sql, connection, workspace_id, [(p, group[p]) for p in positions], results, now
        )
    return results


def _references(
    sql: _Statements,
    connection: Connection,
    workspace_id: str,
    announcement_ids: set[str],
    keys: set[tuple[str | None, str | None]],
    now: datetime,
) -> tuple[set[str], dict[tuple[str | None, str | None], str]]:
    """Which of the announcements the workspace has, and the end users' ids (created on
    first sight)."""
    known: set[str] = set()
    found: dict[tuple[str | None, str | None], str] = {}
    values = {"workspace_id": workspace_id, "ids": sorted(announcement_ids), **_key_lists(keys)}
    for row_id, user_id, anonymous_id, kind in sql.group_references.fetch(connection, values):
        if kind == "announcement":
            known.add(row_id)
        else:
            found[(user_id, None) if user_id is not None else (None, anonymous_id)] = row_id
    missing = sorted((key for key in keys if key not in found), key=str)
    if missing:
        # Someone else may create the same user meanwhile (another replica): theirs stands.
        rows = [new_end_user_row(workspace_id, new_id("eu"), now, uid, aid) for uid, aid in missing]
        sql.insert_end_users.execute_many(connection, rows)
        values = {"workspace_id": workspace_id, **_key_lists(missing)}
        for end_user_id, user_id, anonymous_id in sql.end_users_by_key.fetch(connection, values):
            found[(user_id, None) if user_id is not None else (None, anonymous_id)] = end_user_id
    return known, found


def _key_lists(keys: Collection[tuple[str | None, str | None]]) -> dict[str, list[str]]:
    """End users' keys as ``end_users_by_key`` binds them: user ids, and anonymous ids of
    visitors who have none."""
    return {
        "user_ids": [uid for uid, _ in keys if uid is not None],
        "anonymous_ids": [aid for uid, aid in keys if uid is None and aid is not None],
    }


def _write_workspace(
    sql: _Statements,
    connection: Connection,
    workspace_id: str,
    submissions: list[tuple[int, Submission]],
    results: list[IngestResult],
    now: datetime,
) -> None:
    by_position = dict(submissions)

    # Events about announcements this workspace does not have are refused one by one.
    referenced = {e.announcement_id for _, s in submissions for e in s.events if e.announcement_id}
    visitors = {s.visitor.lookup for _, s in submissions}
    known, end_user_of = _references(sql, connection, workspace_id, referenced, visitors, now)

    # Raw events: the first copy of an id in the group is the one inserted, unless the id is
    # stored already; the other copies are then compared with what the id stands for.
    owners: dict[str, tuple[int, IncomingEvent]] = {}
    copies: list[tuple[int, IncomingEvent]] = []
    rows: list[dict[str, Any]] = []
    touched: set[tuple[str, str]] = set()  # the state rows the events may change
    for position, submission in submissions:
        end_user_id = end_user_of[submission.visitor.lookup]
        for incoming in submission.events:
            if incoming.announcement_id is not None and incoming.announcement_id not in known:
                error = f"no announcement {incoming.announcement_id!r}"
                for index in _indexes(submission, incoming):
                    results[position].rejected.append((index, error))
                continue
            copies.append((position, incoming))
            if incoming.id not in owners:
                owners[incoming.id] = (position, incoming)
                rows.append(_event_row(workspace_id, end_user_id, incoming, now))
                if incoming.announcement_id is not None:
                    touched.add((end_user_id, incoming.announcement_id))
                if incoming.type == "open":
                    touched.update((end_user_id, a) for a in submission.visible)
    # One order for every concurrent writer (no deadlocks); a user's events side by side.
    rows.sort(key=lambda row: (row["end_user_id"], row["id"]))
    inserted, stored_hashes, states = _insert_events(sql, connection, workspace_id, rows, touched)

    for position, incoming in copies:
        submission = by_position[position]
        _, owner = owners[incoming.id]
        result = results[position]
        if incoming.id in inserted:
            if owner is incoming:
                result.accepted += 1
                result.duplicates += len(submission.repeats.get(incoming.index, ()))
                continue
            stands_for = owner.payload_hash  # stored by this group: its first copy
        else:
            # Stored before (or by another writer meanwhile): the stored row decides, never
            # another copy in this group.
            stands_for = stored_hashes.get(incoming.id, "")
        if incoming.payload_hash == stands_for:
            result.duplicates += len(_indexes(submission, incoming))
        else:
            result.rejected += [(index, REUSED_ID) for index in _indexes(submission, incoming)]

    # State and counters, for the events that are new.
    new_by_user: dict[str, list[IncomingEvent]] = defaultdict(list)
    visible_by_user: dict[str, list[str]] = defaultdict(list)
    for event_id in inserted:
        position, incoming = owners[event_id]
        submission = by_position[position]
        end_user_id = end_user_of[submission.visitor.lookup]
        new_by_user[end_user_id].append(incoming)
        if incoming.type == "open":
            visible_by_user[end_user_id] = submission.visible
    if new_by_user:
        _fold_states(sql, connection, workspace_id, new_by_user, visible_by_user, now, states)


States = dict[str, dict[str, dict[str, Any]]]  # end user → announcement → state fields


def _insert_events(
    sql: _Statements,
    connection: Connection,
    workspace_id: str,
    rows: list[dict[str, Any]],
    touched: set[tuple[str, str]],
) -> tuple[set[str], dict[str, str], States | None]:
    """Store the rows that are new: the ids inserted, and the payload hashes of the others.

    On PostgreSQL the same round trip creates and locks the ``touched`` state rows, and
    returns them (those of events stored before exist already, and stay as they are).
    """
    if not rows:
        return set(), {}, None
    if not sql.holds_database:  # PostgreSQL
        keys = [{**_state_key(workspace_id, u, a), "seen_count": 0} for u, a in sorted(touched)]
        values = {
            **_as_arrays(rows, event_sql.EVENT_COLUMNS),
            **_as_arrays(keys, _STATE_KEY_COLUMNS, prefix=event_sql.STATES_PREFIX),
        }
        inserted: set[str] = set()
        states: States = defaultdict(dict)
        for row in sql.insert_events_and_lock_states.fetch(connection, values):
            event_id, end_user_id, announcement_id, *fields = row
            if event_id is not None:
                inserted.add(event_id)
            else:
                states[end_user_id][announcement_id] = dict(zip(STATE_FIELDS, fields, strict=True))
        undecided = [row["id"] for row in rows if row["id"] not in inserted]
        stored = _stored_hashes(sql, connection, workspace_id, undecided)
        return inserted, stored, states
    stored = _stored_hashes(sql, connection, workspace_id, [row["id"] for row in rows])
    new = [row for row in rows if row["id"] not in stored]
    written = sql.insert_events.execute_many(connection, new)
    if written != len(new):  # cannot happen while this transaction holds the write lock
        raise RuntimeError(f"{len(new) - written} events appeared while the database was locked")
    return {row["id"] for row in new}, stored, None


def _stored_hashes(
    sql: _Statements, connection: Connection, workspace_id: str, ids: list[str]
) -> dict[str, str]:
    if not ids:
        return {}
    query = {"workspace_id": workspace_id, "ids": ids}
    return {event_id: digest for event_id, digest in sql.stored_events.fetch(connection, query)}


def _fold_states(
    sql: _Statements,
    connection: Connection,
    ws: str,
    new_by_user: dict[str, list[IncomingEvent]],
    visible_by_user: dict[str, list[str]],
    now: datetime,
    locked: States | None,
) -> None:
    """Apply the new events to their users' states and to the counters. The states are
    ``locked`` already on PostgreSQL; on SQLite they are read here."""
    fresh: list[tuple[str, str]] = []
    if locked is not None:
        states = locked
    else:
        # Nobody else writes until this commits: the rows not there now are this group's.
        touched = sorted(
            {
                (end_user_id, announcement_id)
                for end_user_id, events in new_by_user.items()
                for announcement_id in [e.announcement_id for e in events if e.announcement_id]
                + visible_by_user.get(end_user_id, [])
            }
        )
        states = defaultdict(dict)
        for row in sql.lock_states.fetch(connection, {"workspace_id": ws, "keys": touched}):
            end_user_id, announcement_id, *fields = row
            states[end_user_id][announcement_id] = dict(zip(STATE_FIELDS, fields, strict=True))
        fresh = [(u, a) for u, a in touched if a not in states[u]]
        for u, a in fresh:
            states[u][a] = empty_state()
    stats = StatsDelta()
    changed: list[tuple[str, str]] = []
    for end_user_id, events in new_by_user.items():
        user_states = states[end_user_id]
        before = {key: tuple(value.values()) for key, value in user_states.items()}
        for incoming in sorted(events, key=lambda e: e.occurred_at):
            if incoming.type == "open":
                for announcement_id in visible_by_user.get(end_user_id, []):
                    mark_seen(user_states[announcement_id], incoming.occurred_at)
            elif incoming.announcement_id is not None:
                fold_event(
                    user_states[incoming.announcement_id],
                    incoming.announcement_id,
                    incoming.type,
                    incoming.occurred_at,
                    incoming.value,
                    incoming.surface,
                    stats,
                )
        changed += [
            (end_user_id, announcement_id)
            for announcement_id, state in user_states.items()
            if tuple(state.values()) != before[announcement_id]
        ]
    stat_rows = sorted(stats.rows(ws), key=lambda row: (row["announcement_id"], row["bucket"]))
    if sql.holds_database:
        sql.insert_full_states.execute_many(
            connection, [{**_state_key(ws, u, a), **states[u][a]} for u, a in fresh]
        )
        new = set(fresh)
        updates = [
            end_user_sql.state_parameters(ws, u, a, states[u][a])
            for u, a in changed
            if (u, a) not in new
        ]
        sql.save_states.execute_many(connection, updates)
        sql.add_to_stats.execute_many(connection, stat_rows)
        sql.bump_state_version.execute_many(
            connection,
            [
                {"key_workspace_id": ws, "key_id": end_user_id, "now": now}
                for end_user_id in sorted(new_by_user)
            ],
        )
    else:
        saved = _as_arrays(
            [{**_state_key(ws, u, a), **states[u][a]} for u, a in changed], _STATE_COLUMNS
        )
        added = _as_arrays(stat_rows, stats_sql.STATS_COLUMNS, prefix=event_sql.STATS_PREFIX)
        versions = {"bump_workspace_id": ws, "bump_ids": sorted(new_by_user), "bump_now": now}
        sql.write_states_counters_and_versions.execute(connection, {**saved, **added, **versions})


def _as_arrays(
    rows: Sequence[dict[str, Any]], names: Sequence[str], prefix: str = ""
) -> dict[str, list[Any]]:
    """PostgreSQL: rows as one list per column (``prefix`` + its name), for a statement
    that takes arrays."""
    return {prefix + name: [row[name] for row in rows] for name in names}


def _state_key(workspace_id: str, end_user_id: str, announcement_id: str) -> dict[str, str]:
    return {
        "workspace_id": workspace_id,
        "end_user_id": end_user_id,
        "announcement_id": announcement_id,
    }


def _indexes(submission: Submission, incoming: IncomingEvent) -> tuple[int, ...]:
    """Where the event is in its batch: its own index and those of its exact copies."""
    return (incoming.index, *submission.repeats.get(incoming.index, ()))


def _event_row(
    workspace_id: str, end_user_id: str, incoming: IncomingEvent, now: datetime
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "id": incoming.id,
        "end_user_id": end_user_id,
        "announcement_id": incoming.announcement_id,
        "type": incoming.type,
        "value": incoming.value,
        "surface": incoming.surface,
        "occurred_at": incoming.occurred_at,
        "received_at": now,
        "clamped": incoming.clamped,
        "payload_hash": incoming.payload_hash,
    }
