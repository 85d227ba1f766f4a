"""Who did what: users, their API tokens (hashes only), and the audit log. SQL only; the
hashing and the rules live in `hub_assets/pipeline/identity.py`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from hub_assets.registry.models import now
from hub_assets.registry.store import next_id


@dataclass(frozen=True)
class UserRow:
    """A user of the registry service."""

    username: str
    password_hash: str | None
    permissions: tuple[str, ...]
    disabled: bool


@dataclass(frozen=True)
class TokenRow:
    """A stored token: never the token itself, only the hash of its secret."""

    token_id: int
    username: str
    name: str
    kind: str
    secret_hash: str
    expires_at: datetime | None
    revoked_at: datetime | None
    profile: str | None = None  # the mirror's policy profile it selects (None: default)


def get_user(con: duckdb.DuckDBPyConnection, username: str) -> UserRow | None:
    """One user, or None."""
    row = con.execute(
        "SELECT username, password_hash, permissions, disabled_at IS NOT NULL "
        "FROM users WHERE username = ?",
        [username],
    ).fetchone()
    return UserRow(row[0], row[1], tuple(row[2]), row[3]) if row else None


def upsert_user(
    con: duckdb.DuckDBPyConnection,
    username: str,
    permissions: list[str],
    password_hash: str | None,
    created_by: str | None,
) -> None:
    """Create a user, or set an existing one's permissions (and password when given)."""
    con.execute(
        "INSERT INTO users (username, password_hash, permissions, created_at, created_by) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
        "permissions = excluded.permissions, "
        "password_hash = coalesce(excluded.password_hash, users.password_hash)",
        [username, password_hash, permissions, now(), created_by],
    )


def set_disabled(con: duckdb.DuckDBPyConnection, username: str, disabled: bool) -> bool:
    """Disable (or enable again) a user; False when there is no such user."""
    if get_user(con, username) is None:
        return False
    con.execute(
        "UPDATE users SET disabled_at = ? WHERE username = ?",
        [now() if disabled else None, username],
    )
    return True


def revoke_user_tokens(
    con: duckdb.DuckDBPyConnection, username: str, kind: str | None = None
) -> list[int]:
    """Revoke every live token of a user (only its `kind` ones when given: `session` for
    the tokens logins made); the ids revoked."""
    ids = [
        r[0]
        for r in con.execute(
            "SELECT token_id FROM api_tokens WHERE username = ? AND revoked_at IS NULL "
            "AND (? IS NULL OR kind = ?)",
            [username, kind, kind],
        ).fetchall()
    ]
    if ids:
        con.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE token_id IN "
            f"({', '.join('?' for _ in ids)})",
            [now(), *ids],
        )
    return ids


def list_users(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(username, permissions, created_at, disabled) of every user."""
    return con.execute(
        "SELECT username, permissions, created_at, disabled_at IS NOT NULL FROM users "
        "ORDER BY username"
    ).fetchall()


def insert_token(
    con: duckdb.DuckDBPyConnection,
    username: str,
    name: str,
    kind: str,
    secret_hash: str,
    expires_at: datetime | None,
    profile: str | None = None,
) -> int:
    """Store a token's hash (and the policy profile it selects); return its id (the public
    part of the token)."""
    token_id = next_id(con, "api_tokens", "token_id")
    con.execute(
        "INSERT INTO api_tokens (token_id, username, name, kind, secret_hash, created_at, "
        "expires_at, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [token_id, username, name, kind, secret_hash, now(), expires_at, profile],
    )
    return token_id


def get_token(con: duckdb.DuckDBPyConnection, token_id: int) -> TokenRow | None:
    """A stored token by id, or None."""
    row = con.execute(
        "SELECT token_id, username, name, kind, secret_hash, expires_at, revoked_at, profile "
        "FROM api_tokens WHERE token_id = ?",
        [token_id],
    ).fetchone()
    return TokenRow(*row) if row else None


def revoke_token(con: duckdb.DuckDBPyConnection, token_id: int) -> bool:
    """Revoke a token; False when there is no such live token."""
    live = con.execute(
        "SELECT count(*) FROM api_tokens WHERE token_id = ? AND revoked_at IS NULL", [token_id]
    ).fetchone()[0]
    if live:
        con.execute("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ?", [now(), token_id])
    return bool(live)


def list_tokens(con: duckdb.DuckDBPyConnection, username: str | None = None) -> list[tuple]:
    """(token_id, username, name, kind, created_at, expires_at, revoked_at, profile): no
    secrets."""
    return con.execute(
        "SELECT token_id, username, name, kind, created_at, expires_at, revoked_at, profile "
        "FROM api_tokens WHERE ? IS NULL OR username = ? ORDER BY token_id",
        [username, username],
    ).fetchall()


def record_audit(
    con: duckdb.DuckDBPyConnection,
    *,
    username: str | None,
    action: str,
    target: str | None,
    outcome: str,
    status: int | None = None,
    request_id: str | None = None,
    client: str | None = None,
    detail: str | None = None,
) -> None:
    """One audit row for a request that changed (or tried to change) something."""
    con.execute(
        "INSERT INTO audit_events (created_at, username, action, target, outcome, status, "
        "request_id, client, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [now(), username, action, target, outcome, status, request_id, client, detail],
    )


def audit_events(con: duckdb.DuckDBPyConnection, limit: int = 100) -> list[dict]:
    """The latest audit rows, newest first."""
    cur = con.execute(
        "SELECT event_id, created_at, username, action, target, outcome, status, request_id, "
        "client, detail FROM audit_events ORDER BY event_id DESC LIMIT ?",
        [limit],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
