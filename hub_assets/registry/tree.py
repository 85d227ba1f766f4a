"""The model tree: edges (child, parent, relation) recorded with every model's metadata,
and the two views of it: the ancestry of a model and the descendants of a base (recursive
queries)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from hub_assets.states import verdict_of

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
    declared licence, its files and its declared training datasets. Cycles and depths
    over 16 are cut."""
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
        declared = (card or {}).get("datasets") or (info.get("cardData") or {}).get("datasets")
        out.append(
            {
                "model_id": parent,
                "parent_of": child,
                "relation": relation,
                "depth": depth,
                "license": str(lic).strip().lower() if lic else None,
                "files": files,
                "known": bool(info),
                # the card's declared training data, as written (str or list)
                "datasets": declared if isinstance(declared, list) else [declared] * bool(declared),
            }
        )
    return out


def missing_ancestors(con: duckdb.DuckDBPyConnection, model_id: str) -> list[str]:
    """Ancestors the registry has no metadata for (their own edges are unknown too)."""
    return [a["model_id"] for a in ancestry(con, model_id) if not a["known"]]


def parents(con: duckdb.DuckDBPyConnection, model_id: str) -> list[tuple[str, str]]:
    """(parent, relation) of the model's current edges."""
    return [
        (p, r)
        for p, r in con.execute(
            "SELECT parent, relation FROM model_tree_edges WHERE lower(child) = lower(?) "
            "ORDER BY parent",
            [model_id],
        ).fetchall()
    ]


def descendants(
    con: duckdb.DuckDBPyConnection, base: str, relations: Sequence[str] = ()
) -> list[dict]:
    """Every model below `base` in the tree (nearest first): its parent, the relation, the
    evidence for it, its depth, and its status and latest gate outcome. With `relations`,
    only the children reached by those relations (at any depth)."""
    rows = con.execute(
        f"""
        WITH RECURSIVE down(child, parent, relation, evidence, depth, path) AS (
            SELECT child, parent, relation, evidence, 1, [parent, child]
            FROM model_tree_edges WHERE lower(parent) = lower(?)
            UNION ALL
            SELECT e.child, e.parent, e.relation, e.evidence, down.depth + 1,
                   list_append(down.path, e.child)
            FROM down JOIN model_tree_edges e ON lower(e.parent) = lower(down.child)
            WHERE NOT list_contains(down.path, e.child) AND down.depth < {MAX_DEPTH}
        ), gate AS (
            SELECT g.model_id, arg_max(g.passed, g.decided_at) AS passed
            FROM v_gate g JOIN model_tree_edges e
              ON e.child = g.model_id AND e.child_sha = g.revision_sha
            GROUP BY g.model_id
        )
        SELECT down.child, down.parent, down.relation, down.evidence, min(down.depth) AS depth,
               any_value(s.status), any_value(gate.passed)
        FROM down
        LEFT JOIN v_model_status s ON s.model_id = down.child
        LEFT JOIN gate ON gate.model_id = down.child
        WHERE len(?) = 0 OR list_contains(?, down.relation)
        GROUP BY down.child, down.parent, down.relation, down.evidence
        ORDER BY depth, down.relation, down.child
        """,
        [base, list(relations), list(relations)],
    ).fetchall()
    return [
        {
            "model_id": child,
            "parent": parent,
            "relation": relation,
            "evidence": evidence,
            "depth": depth,
            "status": status,
            "gate": verdict_of(passed),
        }
        for child, parent, relation, evidence, depth, status, passed in rows
    ]
