"""Which revision of each model the curated mirror may serve, and why the others are hidden.

A revision is servable when it has a live (not retired) package, its latest gate result
passed, and its latest decision (promote / retire / reject) is not retire or reject. With
`require_promoted`, its latest decision must be a promotion. Per model the mirror serves
the most recently promoted servable revision when promotion is required, else the most
recently ingested one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import duckdb

from hub_assets.states import ModelStatus

_LIVE = """
WITH decisions AS (
    SELECT model_id, revision_sha,
           arg_max(status, event_id) AS decision,
           max(event_id) FILTER (WHERE status = 'promoted') AS promoted_event
    FROM model_status_events
    WHERE status IN ('promoted', 'retired', 'rejected') AND revision_sha IS NOT NULL
    GROUP BY model_id, revision_sha
)
SELECT p.model_id, p.revision_sha, p.package_id, p.name, p.version, p.uri, p.size_bytes,
       p.sha256, p.manifest, p.created_at, d.decision, d.promoted_event,
       m.downloads, m.likes, m.pipeline_tag, m.library_name, m.created_at AS model_created_at,
       r.info ->> '$.lastModified' AS last_modified
FROM packages p
JOIN v_gate g USING (model_id, revision_sha)
LEFT JOIN decisions d USING (model_id, revision_sha)
LEFT JOIN models m USING (model_id)
LEFT JOIN model_revisions r USING (model_id, revision_sha)
WHERE p.retired_at IS NULL AND g.passed AND (? IS NULL OR p.model_id = ?)
  AND coalesce(d.decision, '') NOT IN ('retired', 'rejected')
ORDER BY p.model_id, p.created_at, p.package_id
"""


@dataclass(frozen=True)
class ApprovedPackage:
    """The package the mirror serves for one model, with the listing facts it shows."""

    model_id: str
    revision_sha: str
    package_id: str
    name: str
    version: str
    uri: str
    size_bytes: int
    sha256: str
    manifest: dict
    created_at: datetime
    promoted: bool
    downloads: int
    likes: int
    pipeline_tag: str | None
    library_name: str | None
    model_created_at: datetime | None
    last_modified: str | None


def live_packages(con: duckdb.DuckDBPyConnection) -> list[tuple[ApprovedPackage, int | None]]:
    """Every servable package (live, gate passed, not retired or rejected), oldest first,
    each with the event id of its revision's latest promotion (None: not promoted)."""
    out = []
    for row in _live_rows(con):
        (model_id, sha, package_id, name, version, uri, size, sha256, manifest, created) = row[:10]
        decision, promoted_event = row[10], row[11]
        promoted = decision == "promoted"
        package = ApprovedPackage(
            model_id=model_id,
            revision_sha=sha,
            package_id=package_id,
            name=name,
            version=version,
            uri=uri,
            size_bytes=size,
            sha256=sha256,
            manifest=json.loads(manifest),
            created_at=created,
            promoted=promoted,
            downloads=int(row[12] or 0),
            likes=int(row[13] or 0),
            pipeline_tag=row[14],
            library_name=row[15],
            model_created_at=row[16],
            last_modified=row[17],
        )
        out.append((package, promoted_event if promoted else None))
    return out


def newest_servable(
    live: list[tuple[ApprovedPackage, int | None]], require_promoted: bool
) -> dict[str, ApprovedPackage]:
    """Per model, the package the mirror serves of `live` (as `live_packages` orders
    them): the most recently promoted one when promotion is required, else the most
    recently ingested one."""
    out: dict[str, tuple[ApprovedPackage, int]] = {}
    for package, promoted_event in live:
        if require_promoted and promoted_event is None:
            continue
        rank = promoted_event if require_promoted else 0  # rows come oldest package first
        if package.model_id not in out or rank >= out[package.model_id][1]:
            out[package.model_id] = (package, rank)
    return {m: p for m, (p, _) in out.items()}


def approved_packages(
    con: duckdb.DuckDBPyConnection, require_promoted: bool
) -> dict[str, ApprovedPackage]:
    """The servable package of every model that has one, by model id."""
    return newest_servable(live_packages(con), require_promoted)


def live_evidence(
    con: duckdb.DuckDBPyConnection, metrics: list[str]
) -> dict[tuple[str, str], tuple[str | None, dict[str, float], dict | None]]:
    """For each revision with a live package: the model's licence, the latest stored value
    of each of `metrics`, and the stored details of `licence_obligations`, in one read (a
    policy profile decides from these alone)."""
    rows = con.execute(
        "WITH live AS (SELECT DISTINCT model_id, revision_sha FROM packages "
        "WHERE retired_at IS NULL), "
        "latest AS (SELECT v.model_id, v.revision_sha, v.metric, "
        "arg_max(v.value, v.created_at) AS value, arg_max(v.details, v.created_at) AS details "
        "FROM metric_values v JOIN live USING (model_id, revision_sha) "
        "WHERE list_contains(?, v.metric) GROUP BY ALL) "
        "SELECT l.model_id, l.revision_sha, any_value(m.license), "
        "list(t.metric) FILTER (WHERE t.metric IS NOT NULL), "
        "list(t.value) FILTER (WHERE t.metric IS NOT NULL), "
        "any_value(t.details) FILTER (WHERE t.metric = 'licence_obligations') "
        "FROM live l LEFT JOIN latest t USING (model_id, revision_sha) "
        "LEFT JOIN models m ON m.model_id = l.model_id GROUP BY ALL",
        [metrics],
    ).fetchall()
    return {
        (model, sha): (
            licence,
            {n: v for n, v in zip(names or [], values or [], strict=True) if v is not None},
            json.loads(details) if details else None,
        )
        for model, sha, licence, names, values, details in rows
    }


class HiddenReason(NamedTuple):
    """Why the mirror does not serve a model: one word to count by (`kind`) and the
    sentence it answers with."""

    kind: str  # not_promoted, rejected, retired, revoked, gate_failed, not_packaged,
    # filtered_out, not_evaluated
    text: str


def hidden_reason(
    con: duckdb.DuckDBPyConnection, model_id: str, require_promoted: bool
) -> HiddenReason | None:
    """Why the mirror does not serve a model the registry knows, the latest fact first;
    None when the registry does not know the model at all."""
    status = con.execute(
        "SELECT status FROM v_model_status WHERE model_id = ?", [model_id]
    ).fetchone()
    if status is None:
        return None
    if require_promoted:
        servable = _live_rows(con, model_id)
        if servable:
            sha = servable[-1][1]
            return HiddenReason(
                "not_promoted",
                f"revision {sha[:12]} passed the quality gate and is packaged, but it is not "
                "promoted, and this mirror serves promoted revisions only "
                f"(hub-assets promote {model_id} --revision {sha}).",
            )
    facts: list[tuple[datetime, HiddenReason]] = []
    decision = con.execute(
        "SELECT status, reason, revision_sha, created_at FROM model_status_events "
        "WHERE model_id = ? AND status IN ('retired', 'rejected', 'revoked') "
        "ORDER BY event_id DESC LIMIT 1",
        [model_id],
    ).fetchone()
    if decision is not None:
        what, reason, sha, at = decision
        facts.append((at, HiddenReason(what, f"revision {(sha or '')[:12]} was {what}: {reason}.")))
    retired = con.execute(
        "SELECT name, version, retired_by, retired_at FROM packages WHERE model_id = ? "
        "AND retired_at IS NOT NULL ORDER BY retired_at DESC LIMIT 1",
        [model_id],
    ).fetchone()
    if retired is not None:
        name, version, by, at = retired
        facts.append(
            (at, HiddenReason("retired", f"its package {name} {version} was retired by {by}."))
        )
    gate = con.execute(
        "SELECT passed, message, revision_sha, decided_at FROM v_gate WHERE model_id = ? "
        "ORDER BY decided_at DESC LIMIT 1",
        [model_id],
    ).fetchone()
    if gate is not None:
        passed, message, sha, at = gate
        facts.append(
            (
                at,
                HiddenReason(
                    "gate_failed", f"revision {sha[:12]} failed the quality gate: {message}"
                )
                if not passed
                else HiddenReason(
                    "not_packaged",
                    f"revision {sha[:12]} passed the quality gate but has no live package "
                    f"(hub-assets ingest {model_id}).",
                ),
            )
        )
    if not facts:
        latest = con.execute(
            "SELECT reason FROM model_status_events WHERE model_id = ? AND status = ? "
            "ORDER BY event_id DESC LIMIT 1",
            [model_id, status[0]],
        ).fetchone()
        why = f": {latest[0]}" if latest and latest[0] else ""
        if status[0] == ModelStatus.FILTERED_OUT:
            return HiddenReason(
                "filtered_out", f"discovery filtered it out{why} (registry status: filtered_out)."
            )
        return HiddenReason(
            "not_evaluated", f"it is not evaluated yet (registry status: {status[0]}{why})."
        )
    return max(facts, key=lambda f: f[0])[1]


def _live_rows(con: duckdb.DuckDBPyConnection, model_id: str | None = None) -> list[tuple]:
    return con.execute(_LIVE, [model_id, model_id]).fetchall()
