"""Access requests through the mirror (the Hub's gated-access workflow): one row per (model,
user), pending until a reviewer accepts or rejects it."""

from __future__ import annotations

import json
import uuid

import duckdb

from hub_assets.registry.models import now

STATUSES = ("pending", "accepted", "rejected")
_COLUMNS = (
    "request_id, model_id, username, status, fields, ingest_request_id, decided_by, reason, "
    "requested_at, decided_at"
)


def _as_dict(row: tuple | None) -> dict | None:
    if row is None:
        return None
    keys = [c.strip() for c in _COLUMNS.split(",")]
    out = dict(zip(keys, row, strict=True))
    if isinstance(out["fields"], str):
        out["fields"] = json.loads(out["fields"])
    return out


def access_request(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    *,
    username: str | None = None,
    request_id: str | None = None,
) -> dict | None:
    """The request of `username` (or with `request_id`) for the model, if any."""
    if request_id is not None:
        row = con.execute(
            f"SELECT {_COLUMNS} FROM access_requests WHERE lower(model_id) = lower(?) "
            "AND request_id = ?",
            [model_id, request_id],
        ).fetchone()
    else:
        row = con.execute(
            f"SELECT {_COLUMNS} FROM access_requests WHERE lower(model_id) = lower(?) "
            "AND username = ?",
            [model_id, username],
        ).fetchone()
    return _as_dict(row)


def add_access_request(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    username: str,
    fields: dict,
    ingest_request_id: int | None,
) -> dict:
    """A pending request of `username` for the model (their earlier one, if any, is asked
    again: pending, with the new fields)."""
    known = access_request(con, model_id, username=username)
    if known is not None:
        con.execute(
            "UPDATE access_requests SET status = 'pending', fields = ?, decided_by = NULL, "
            "reason = NULL, decided_at = NULL, requested_at = ?, "
            "ingest_request_id = coalesce(?, ingest_request_id) WHERE request_id = ?",
            [json.dumps(fields), now(), ingest_request_id, known["request_id"]],
        )
    else:
        con.execute(
            f"INSERT INTO access_requests ({_COLUMNS}) VALUES (?, ?, ?, 'pending', ?, ?, "
            "NULL, NULL, ?, NULL)",
            [uuid.uuid4().hex, model_id, username, json.dumps(fields), ingest_request_id, now()],
        )
    return access_request(con, model_id, username=username)  # type: ignore[return-value]


def decide_access_request(
    con: duckdb.DuckDBPyConnection,
    request_id: str,
    status: str,
    decided_by: str,
    reason: str | None,
) -> None:
    """Set a request's status with who decided and why."""
    if status not in STATUSES:
        raise ValueError(f"Unknown access-request status {status!r}")
    con.execute(
        "UPDATE access_requests SET status = ?, decided_by = ?, reason = ?, decided_at = ? "
        "WHERE request_id = ?",
        [status, decided_by, reason, now(), request_id],
    )


def access_requests(con: duckdb.DuckDBPyConnection, model_id: str, status: str) -> list[dict]:
    """The model's requests in one status, oldest first."""
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM access_requests WHERE lower(model_id) = lower(?) "
        "AND status = ? ORDER BY requested_at, request_id",
        [model_id, status],
    ).fetchall()
    return [_as_dict(r) for r in rows]  # type: ignore[misc]


def accepted_grants(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(lower-cased model id, username) of every accepted request."""
    rows = con.execute(
        "SELECT lower(model_id), username FROM access_requests WHERE status = 'accepted'"
    ).fetchall()
    return {(m, u) for m, u in rows}
