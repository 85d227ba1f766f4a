"""Events out, in the registry: the lifecycle log (`model_status_events`) is the outbox, so
an event exists exactly when the change it reports committed, in the same transaction
(`models.append_statuses` writes both). Per webhook endpoint, a cursor holds the last
event it acknowledged and the back-off of the next; every attempt is kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from hub_assets.registry.models import now


@dataclass(frozen=True)
class LifecycleEvent:
    """One lifecycle change as it is sent: `event_id` orders and identifies it."""

    event_id: int
    model_id: str
    status: str
    reason: str | None
    revision_sha: str | None
    run_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Cursor:
    """How far one endpoint has acknowledged, and when to try the next event again."""

    endpoint: str
    delivered_through: int
    attempts: int  # failed attempts of the next event so far
    next_attempt_at: datetime | None
    last_error: str | None


def newest_event_id(con: duckdb.DuckDBPyConnection) -> int:
    """The id of the newest lifecycle event (0: none yet)."""
    return con.execute("SELECT coalesce(max(event_id), 0) FROM model_status_events").fetchone()[0]


def find_cursor(con: duckdb.DuckDBPyConnection, endpoint: str) -> Cursor | None:
    """The endpoint's cursor, if it has one yet."""
    row = con.execute(
        "SELECT endpoint, delivered_through, attempts, next_attempt_at, last_error "
        "FROM event_cursors WHERE endpoint = ?",
        [endpoint],
    ).fetchone()
    return Cursor(*row) if row is not None else None


def cursor_of(con: duckdb.DuckDBPyConnection, endpoint: str) -> Cursor:
    """The endpoint's cursor (a write connection); a new endpoint starts at the newest
    event (it is sent what happens from now on; `rewind` sends it history)."""
    found = find_cursor(con, endpoint)
    if found is not None:
        return found
    con.execute(
        "INSERT INTO event_cursors (endpoint, delivered_through, attempts, updated_at) "
        "VALUES (?, ?, 0, ?) ON CONFLICT DO NOTHING",
        [endpoint, newest_event_id(con), now()],
    )
    return cursor_of(con, endpoint)


def events_after(
    con: duckdb.DuckDBPyConnection, event_id: int, limit: int, settled_before: datetime
) -> list[LifecycleEvent]:
    """The next `limit` events after `event_id`, oldest first, written before
    `settled_before` (a writer still committing a lower id is waited for)."""
    rows = con.execute(
        "SELECT event_id, model_id, status, reason, revision_sha, run_id, created_at "
        "FROM model_status_events WHERE event_id > ? AND created_at < ? "
        "ORDER BY event_id LIMIT ?",
        [event_id, settled_before, limit],
    ).fetchall()
    return [LifecycleEvent(*r) for r in rows]


def record_delivery(
    con: duckdb.DuckDBPyConnection,
    endpoint: str,
    event_id: int,
    *,
    delivered: bool,
    status: int | None,
    error: str | None,
    retry_at: datetime | None,
) -> None:
    """One attempt: logged; the cursor moves past the event when it was delivered, else
    counts the failure and holds the event until `retry_at`."""
    cursor = cursor_of(con, endpoint)
    attempt = cursor.attempts + 1
    con.execute(
        "INSERT INTO event_deliveries (endpoint, event_id, attempt, delivered, status, error, "
        "attempted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [endpoint, event_id, attempt, delivered, status, error, now()],
    )
    if delivered:
        con.execute(
            "UPDATE event_cursors SET delivered_through = greatest(delivered_through, ?), "
            "attempts = 0, next_attempt_at = NULL, last_error = NULL, updated_at = ? "
            "WHERE endpoint = ?",
            [event_id, now(), endpoint],
        )
    else:
        con.execute(
            "UPDATE event_cursors SET attempts = ?, next_attempt_at = ?, last_error = ?, "
            "updated_at = ? WHERE endpoint = ?",
            [attempt, retry_at, error, now(), endpoint],
        )


def rewind(con: duckdb.DuckDBPyConnection, endpoint: str | None, since_event_id: int) -> list[str]:
    """Send again every event from `since_event_id` on (to one endpoint, or all): the
    endpoints rewound."""
    con.execute(
        "UPDATE event_cursors SET delivered_through = ?, attempts = 0, next_attempt_at = NULL, "
        "updated_at = ? WHERE ? IS NULL OR endpoint = ?",
        [since_event_id - 1, now(), endpoint, endpoint],
    )
    return [
        r[0]
        for r in con.execute(
            "SELECT endpoint FROM event_cursors WHERE ? IS NULL OR endpoint = ? ORDER BY 1",
            [endpoint, endpoint],
        ).fetchall()
    ]


def recent_events(
    con: duckdb.DuckDBPyConnection, model_id: str | None, limit: int
) -> list[tuple[LifecycleEvent, dict[str, bool]]]:
    """The newest events (of one model, or all), newest first, each with whether each
    endpoint has acknowledged it."""
    cursors = dict(con.execute("SELECT endpoint, delivered_through FROM event_cursors").fetchall())
    rows = con.execute(
        "SELECT event_id, model_id, status, reason, revision_sha, run_id, created_at "
        "FROM model_status_events WHERE ? IS NULL OR model_id = ? "
        "ORDER BY event_id DESC LIMIT ?",
        [model_id, model_id, limit],
    ).fetchall()
    return [
        (e, {url: e.event_id <= through for url, through in cursors.items()})
        for e in (LifecycleEvent(*r) for r in rows)
    ]


def delivery_log(con: duckdb.DuckDBPyConnection, endpoint: str | None, limit: int) -> list[tuple]:
    """The newest delivery attempts: (attempted_at, endpoint, event_id, attempt,
    delivered, status, error)."""
    return con.execute(
        "SELECT attempted_at, endpoint, event_id, attempt, delivered, status, error "
        "FROM event_deliveries WHERE ? IS NULL OR endpoint = ? "
        "ORDER BY attempted_at DESC, event_id DESC LIMIT ?",
        [endpoint, endpoint, limit],
    ).fetchall()
