"""The model tree: edges (child, parent, relation) recorded with every model's metadata,
and the ancestry of a model through them (a recursive query)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

MAX_DEPTH = 16


def record_edges(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    sha: str,
    edges: Sequence[tuple[str, str, str]],
) -> None:
    """A revision's edges to its base models replace the model's earlier ones."""
    con.execute("DELETE FROM model_tree_edges WHERE child = ?", [model_id])
    for parent, relation, evidence in edges:
        con.execute(
            "INSERT OR REPLACE INTO model_tree_edges (child, parent, relation, evidence, "
            "child_sha, recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            [model_id, parent, relation, evidence, sha, datetime.now(UTC)],
        )


def ancestry(con: duckdb.DuckDBPyConnection, model_id: str) -> list[dict]:
    """Every ancestor of `model_id` (nearest first), with the child it is a base of, the
    relation, its depth, and (from its newest metadata, when the registry has it) its
    declared licence and its files. Cycles and depths over 16 are cut."""
    rows = con.execute(
        f"""
        WITH RECURSIVE up(child, parent, relation, depth, path) AS (
            SELECT child, parent, relation, 1, [child, parent]
            FROM model_tree_edges WHERE lower(child) = lower(?)
            UNION ALL
            SELECT e.child, e.parent, e.relation, up.depth + 1, list_append(up.path, e.parent)
            FROM up JOIN model_tree_edges e ON lower(e.child) = lower(up.parent)
            WHERE NOT list_contains(up.path, e.parent) AND up.depth < {MAX_DEPTH}
        ), latest AS (
            SELECT model_id, arg_max(card_data, fetched_at) AS card_data,
                   arg_max(info, fetched_at) AS info
            FROM model_revisions GROUP BY model_id
        )
        SELECT up.parent, up.child, up.relation, min(up.depth) AS depth,
               any_value(l.card_data) AS card_data, any_value(l.info) AS info,
               any_value(m.license) AS listed_license
        FROM up
        LEFT JOIN latest l ON lower(l.model_id) = lower(up.parent)
        LEFT JOIN models m ON lower(m.model_id) = lower(up.parent)
        GROUP BY up.parent, up.child, up.relation
        ORDER BY depth, up.parent
        """,
        [model_id],
    ).fetchall()
    out = []
    for parent, child, relation, depth, card, info, listed in rows:
        card = json.loads(card) if isinstance(card, str) else (card or {})
        info = json.loads(info) if isinstance(info, str) else (info or {})
        lic = (card or {}).get("license") or (info.get("cardData") or {}).get("license") or listed
        files = [s.get("rfilename") for s in info.get("siblings") or [] if s.get("rfilename")]
        out.append(
            {
                "model_id": parent,
                "parent_of": child,
                "relation": relation,
                "depth": depth,
                "license": str(lic).strip().lower() if lic else None,
                "files": files,
                "known": bool(info),
            }
        )
    return out


def missing_ancestors(con: duckdb.DuckDBPyConnection, model_id: str) -> list[str]:
    """Ancestors the registry has no metadata for (their own edges are unknown too)."""
    return [a["model_id"] for a in ancestry(con, model_id) if not a["known"]]
