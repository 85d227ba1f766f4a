"""Applying the registry's numbered migrations (`registry/schema.py`): `migrate` brings any
older file up to date, each migration in one transaction with the `schema_migrations` row
that records it; the views' latest definitions and PostgreSQL's spelling of the tables for
the shared registry.
"""

from __future__ import annotations

import re

import duckdb

from hub_assets.registry.schema import MIGRATIONS

LATEST = MIGRATIONS[-1][0]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of an open registry (0 for an empty file)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' "
        "AND table_catalog = current_database()"  # not another registry attached beside it
    ).fetchone()[0]
    if not exists:
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(con: duckdb.DuckDBPyConnection, target: int = LATEST) -> list[int]:
    """Apply the migrations above the file's version up to `target`; return those applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ DEFAULT now())"
    )
    applied = []
    have = current_version(con)  # the file is attached read-write: no one else migrates it
    for version, name, sql in MIGRATIONS:
        if version > target or version <= have:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
        have = version
    return applied


# --- The same schema on PostgreSQL (the shared registry, `registry/postgres.py`) ------------
# Tables live in PostgreSQL; views use DuckDB functions (arg_max, json paths), so they live
# in each process's DuckDB, over the attached tables. Both come from the migrations above.
_VIEW_STATEMENT = re.compile(
    r"^(?:CREATE(?:\s+OR\s+REPLACE)?\s+VIEW|DROP\s+VIEW(?:\s+IF\s+EXISTS)?)\s+(\w+)", re.I
)
# DuckDB type names PostgreSQL spells otherwise. JSON is kept as text: DuckDB writes an
# upsert's new values through a VARCHAR staging table, which PostgreSQL will not assign to
# a json column; DuckDB's JSON functions read the text the same way.
_POSTGRES_TYPES = (
    (re.compile(r"\bDOUBLE\b(?!\s+PRECISION)"), "DOUBLE PRECISION"),
    (re.compile(r"\bJSON\b"), "TEXT"),
)


def statements(sql: str) -> list[str]:
    """The statements of a migration (none has a `;` inside a literal)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


def latest_views(target: int = LATEST) -> dict[str, str]:
    """Each view's last `CREATE … VIEW` statement up to `target`, in an order that creates
    every view after the views it reads."""
    views: dict[str, str] = {}
    for version, _, sql in MIGRATIONS:
        if version > target:
            break
        for stmt in statements(sql):
            m = _VIEW_STATEMENT.match(stmt)
            if not m:
                continue
            name = m.group(1)
            if stmt.upper().startswith("DROP"):
                views.pop(name, None)
            elif name in views:
                views[name] = stmt  # CREATE OR REPLACE keeps its place
            else:
                views[name] = stmt
    return views


def postgres_tables_sql(version: int) -> str:
    """Migration `version` without its views, in PostgreSQL's spelling."""
    sql = next(s for v, _, s in MIGRATIONS if v == version)
    out = []
    for stmt in statements(sql):
        if _VIEW_STATEMENT.match(stmt):
            continue
        for pattern, spelling in _POSTGRES_TYPES:
            stmt = pattern.sub(spelling, stmt)
        out.append(stmt + ";")
    return "\n".join(out)
