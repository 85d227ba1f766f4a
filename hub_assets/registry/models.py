"""Registry reads and writes for models, their lifecycle and their metadata revisions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

import duckdb

from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.registry.tree import record_edges
from hub_assets.states import ModelStatus

LIFECYCLE = tuple(s.value for s in ModelStatus)  # states.py names them


def now() -> datetime:
    return datetime.now(UTC)


def known_models(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """Model id → revision sha, for every model in the registry."""
    return dict(con.execute("SELECT model_id, sha FROM models").fetchall())


_MODEL_COLUMNS = (
    "model_id",
    "author",
    "pipeline_tag",
    "library_name",
    "license",
    "downloads",
    "likes",
    "last_modified",
    "created_at",
    "sha",
    "tags",
    "gated",
    "has_safetensors",
)


def mark_upstream_deleted(con: duckdb.DuckDBPyConnection, model_id: str) -> bool:
    """Record that the Hub no longer has a known model's repo (the first time only);
    whether the model is known. Seeing the model again (`upsert_models`) clears it."""
    known = con.execute("SELECT 1 FROM models WHERE model_id = ?", [model_id]).fetchone()
    if known is None:
        return False
    con.execute(
        "UPDATE models SET upstream_deleted_at = coalesce(upstream_deleted_at, ?) "
        "WHERE model_id = ?",
        [now(), model_id],
    )
    return True


def upsert_models(con: duckdb.DuckDBPyConnection, records: Iterable[dict], run_id: str) -> int:
    """Insert new models and refresh known ones (first_seen is kept), in one bulk statement.

    Returns the number of models written.
    """
    rows = [{c: r.get(c) for c in _MODEL_COLUMNS} for r in records]
    if not rows:
        return 0
    ts = now()
    import pandas as pd  # a DataFrame inserts a batch in one statement; heavy to import

    batch = pd.DataFrame(rows, columns=list(_MODEL_COLUMNS))
    batch["tags"] = [list(t or []) for t in batch["tags"]]
    batch["has_safetensors"] = batch["has_safetensors"].fillna(False).astype(bool)
    batch["downloads"] = batch["downloads"].fillna(0).astype("int64")
    batch["likes"] = batch["likes"].fillna(0).astype("int64")
    for col in ("last_modified", "created_at"):
        batch[col] = pd.to_datetime(batch[col], utc=True)
    con.register("model_batch", batch)
    try:
        con.execute(
            """
            INSERT INTO models (model_id, author, pipeline_tag, library_name, license,
                downloads, likes, last_modified, created_at, sha, tags, gated, has_safetensors,
                first_seen, last_seen, run_id)
            SELECT model_id, author, pipeline_tag, library_name, license, downloads, likes,
                last_modified, created_at, sha, tags::VARCHAR[], gated, has_safetensors,
                $ts, $ts, $run_id
            FROM model_batch
            ON CONFLICT (model_id) DO UPDATE SET
                author = excluded.author, pipeline_tag = excluded.pipeline_tag,
                library_name = excluded.library_name, license = excluded.license,
                downloads = excluded.downloads, likes = excluded.likes,
                last_modified = excluded.last_modified, created_at = excluded.created_at,
                sha = excluded.sha, tags = excluded.tags, gated = excluded.gated,
                has_safetensors = excluded.has_safetensors, last_seen = excluded.last_seen,
                run_id = excluded.run_id, upstream_deleted_at = NULL
            """,
            {"ts": ts, "run_id": run_id},
        )
    finally:
        con.unregister("model_batch")
    return len(rows)


def append_statuses(
    con: duckdb.DuckDBPyConnection,
    events: Iterable[tuple[str, str, str | None, str | None]],
    *,
    run_id: str,
) -> int:
    """Append many lifecycle events (model_id, status, reason, revision_sha) in one statement.

    Event ids within one call come in no particular order: record successive lifecycle steps
    of a model (discovered, then candidate) with successive calls.
    """
    rows = list(events)
    for _, status_, _, _ in rows:
        if status_ not in LIFECYCLE:
            raise ValueError(f"Unknown lifecycle status {status_!r}: expected one of {LIFECYCLE}.")
    if not rows:
        return 0
    import pandas as pd

    batch = pd.DataFrame(rows, columns=["model_id", "status", "reason", "revision_sha"])
    con.register("event_batch", batch)
    try:
        con.execute(
            "INSERT INTO model_status_events (model_id, status, reason, revision_sha, run_id, "
            "created_at) SELECT model_id, status, reason, revision_sha, $run_id, $ts "
            "FROM event_batch",
            {"run_id": run_id, "ts": now()},
        )
    finally:
        con.unregister("event_batch")
    return len(rows)


def append_status(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    status: str,
    *,
    run_id: str,
    reason: str | None = None,
    revision_sha: str | None = None,
) -> None:
    """Append one lifecycle event (the table is append-only)."""
    append_statuses(con, [(model_id, status, reason, revision_sha)], run_id=run_id)


def record_scan(
    con: duckdb.DuckDBPyConnection,
    *,
    pipeline_tag: str,
    pages: int,
    models_seen: int,
    new: int,
    changed: int,
    offline: bool,
    run_id: str,
) -> None:
    """Remember what one discovery scan of a tag cost and found."""
    con.execute(
        "INSERT INTO discovery_scans (pipeline_tag, pages, models_seen, new_models, changed, "
        "offline, run_id, scanned_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [pipeline_tag, pages, models_seen, new, changed, offline, run_id, now()],
    )


def save_revision(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    metadata: dict,
    *,
    from_cache: bool,
    fetched_at: str,
    run_id: str,
) -> str:
    """Store a model's metadata keyed by revision sha (replacing a refetch of the same sha)."""
    sha = metadata["info"]["sha"]
    con.execute(
        """
        INSERT OR REPLACE INTO model_revisions (model_id, revision_sha, info, card_data,
            card_text, commits, config, from_cache, fetched_at, run_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            model_id,
            sha,
            json.dumps(metadata["info"]),
            json.dumps(metadata["card_data"]),
            metadata["card_text"],
            json.dumps(metadata["commits"]),
            json.dumps(metadata["config"]) if metadata["config"] is not None else None,
            from_cache,
            fetched_at,
            run_id,
        ],
    )
    record_edges(con, model_id, sha, ModelEvidence.from_metadata(model_id, metadata).tree_edges())
    return sha


def current_sha(con: duckdb.DuckDBPyConnection, model_id: str) -> str | None:
    """The revision the registry judges a model at (None if it never recorded one)."""
    row = con.execute("SELECT sha FROM models WHERE model_id = ?", [model_id]).fetchone()
    return row[0] if row else None


def current_status(con: duckdb.DuckDBPyConnection, model_id: str) -> tuple[str, str | None] | None:
    """A model's latest lifecycle status and the revision it is about (None: never seen)."""
    row = con.execute(
        "SELECT status, revision_sha FROM v_model_status WHERE model_id = ?", [model_id]
    ).fetchone()
    return (row[0], row[1]) if row else None


def settled_revision(con: duckdb.DuckDBPyConnection, model_id: str, sha: str) -> bool:
    """Whether the model's current status is a decision past the gate about revision `sha`
    (`ModelStatus.settled`): evaluating or judging it again must not hide that status."""
    now_at = current_status(con, model_id)
    return now_at is not None and now_at[1] == sha and ModelStatus(now_at[0]).settled


def record_evaluated(
    con: duckdb.DuckDBPyConnection, model_id: str, sha: str, *, run_id: str, reason: str
) -> None:
    """Append `evaluated` for revision `sha`, unless its status is already past the gate
    (`settled_revision`): evaluating or scoring an ingested revision again keeps it so."""
    if not settled_revision(con, model_id, sha):
        append_status(
            con, model_id, ModelStatus.EVALUATED, run_id=run_id, revision_sha=sha, reason=reason
        )


def candidates(con: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """Current candidates: model id → revision sha."""
    return dict(con.execute("SELECT model_id, sha FROM v_candidates ORDER BY model_id").fetchall())


def status_history(con: duckdb.DuckDBPyConnection, model_id: str) -> list[tuple]:
    """A model's lifecycle, oldest first: (time, status, reason, revision, run id)."""
    return con.execute(
        "SELECT created_at, status, reason, revision_sha, run_id FROM model_status_events "
        "WHERE model_id = ? ORDER BY event_id",
        [model_id],
    ).fetchall()


def candidate_events_after(
    con: duckdb.DuckDBPyConnection, after: int, limit: int | None = None
) -> tuple[list[tuple[str, str, int]], int]:
    """(model, newest candidate revision, newest event id) for each model with a candidate
    event after `after`, and the event id to resume after: the newest of all, or, when more
    than `limit` candidate events wait, the `limit`-th (the rest come next time)."""
    upper = None
    if limit is not None:
        cut = con.execute(
            "SELECT event_id FROM model_status_events WHERE event_id > ? "
            "AND status = 'candidate' ORDER BY event_id LIMIT 1 OFFSET ?",
            [after, limit],
        ).fetchone()
        if cut is not None:  # more than `limit` wait: stop just before the next one
            upper = cut[0] - 1
    if upper is None:
        upper = con.execute(
            "SELECT coalesce(max(event_id), 0) FROM model_status_events"
        ).fetchone()[0]
    rows = con.execute(
        "SELECT model_id, arg_max(revision_sha, event_id), max(event_id) "
        "FROM model_status_events WHERE event_id > ? AND event_id <= ? "
        "AND status = 'candidate' GROUP BY model_id ORDER BY model_id",
        [after, upper],
    ).fetchall()
    return rows, upper


def registry_summary(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    """Counts by status, and each model's status, license, net score and gate outcome
    (passed models first)."""
    counts = con.execute(
        "SELECT status, count(*) FROM v_model_status GROUP BY status ORDER BY status"
    ).fetchall()
    rows = con.execute(
        """
        SELECT s.model_id, s.status, m.license, n.value AS net, g.passed, g.message, s.reason
        FROM v_model_status s JOIN models m USING (model_id)
        LEFT JOIN v_latest_metrics n ON n.model_id = s.model_id AND n.metric = 'net_score'
        LEFT JOIN v_gate g ON g.model_id = m.model_id AND g.revision_sha = m.sha
        ORDER BY g.passed DESC NULLS LAST, s.status, s.model_id
        """
    ).fetchall()
    return counts, rows


def search_models(con: duckdb.DuckDBPyConnection, q: str, limit: int = 50) -> list[dict]:
    """Models whose id, tags or latest card text contain `q` (case-insensitive; a plain
    substring, bound as a parameter: no pattern syntax)."""
    cur = con.execute(
        """
        WITH card AS (
            SELECT model_id, arg_max(card_text, fetched_at) AS card_text
            FROM model_revisions GROUP BY model_id
        )
        SELECT m.model_id, s.status, m.pipeline_tag, m.license, m.downloads,
               CASE WHEN contains(lower(m.model_id), lower($q)) THEN 'id'
                    WHEN len(list_filter(m.tags, lambda t: contains(lower(t), lower($q)))) > 0
                         THEN 'tag'
                    ELSE 'card' END AS matched
        FROM models m
        JOIN v_model_status s USING (model_id)
        LEFT JOIN card c USING (model_id)
        WHERE contains(lower(m.model_id), lower($q))
           OR len(list_filter(m.tags, lambda t: contains(lower(t), lower($q)))) > 0
           OR contains(lower(coalesce(c.card_text, '')), lower($q))
        ORDER BY matched = 'id' DESC, matched = 'tag' DESC, m.downloads DESC, m.model_id
        LIMIT $limit
        """,
        {"q": q, "limit": limit},
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
