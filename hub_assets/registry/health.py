"""One health per judged model, computed in the registry in one query (100,000 models in
well under a second): `revoked`, `at_risk`, `stale` or `ok`, with the reason.

- `revoked`: its latest lifecycle event revoked an approved revision (the gate, judged
  again, refused it);
- `at_risk`: upstream moved away from what the registry judged: the repo was deleted
  (the Hub said so), the Hub's `main` is a revision the registry has not judged, or the
  repo became gated after it was judged (a repo gated all along is not a change); or the
  latest evaluation of the served revision on a set found a significant regression
  against the model's previous comparable one (open until a later evaluation finds none);
- `stale`: the served verdict was made under another gate version than the current one,
  or its security verdict under other scanners, rule sets or allowlist (its comparability
  key is not the current one; a scanner coverage gap when an engine installed now is not
  among those that made it), or its evaluation by another scorer version or on a set
  revision that is no longer pinned; or its latest
  evaluation (a revision never evaluated: its verdict) is older than the evidence policy
  allows;
- `ok`: none of these.

The first that applies wins, in that order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import duckdb

from hub_assets.states import Health

_HEALTH = """
WITH verdict AS (
    SELECT model_id, arg_max(revision_sha, decided_at) AS sha,
           arg_max(passed, decided_at) AS passed,
           arg_max(config_version, decided_at) AS config_version,
           max(decided_at) AS decided_at
    FROM v_gate WHERE $model IS NULL OR model_id = $model GROUP BY model_id
), approved AS (
    SELECT p.model_id, arg_max(p.revision_sha, p.created_at) AS sha,
           arg_max(g.config_version, p.created_at) AS config_version,
           arg_max(g.decided_at, p.created_at) AS decided_at
    FROM packages p JOIN v_gate g USING (model_id, revision_sha)
    WHERE p.retired_at IS NULL AND g.passed AND ($model IS NULL OR p.model_id = $model)
    GROUP BY p.model_id
), latest AS (
    SELECT model_id, arg_max(status, event_id) AS status,
           arg_max(reason, event_id) AS reason
    FROM model_status_events WHERE $model IS NULL OR model_id = $model GROUP BY model_id
), scans AS (
    SELECT model_id, revision_sha, arg_max(basis_key, created_at) AS key,
           arg_max_null(basis, created_at) AS basis
    FROM metric_values
    WHERE metric = 'security' AND ($model IS NULL OR model_id = $model)
    GROUP BY model_id, revision_sha
), evals AS (
    SELECT model_id, revision_sha, arg_max(scorer_version, created_at) AS scorer,
           max(created_at) AS evaluated_at
    FROM eval_runs WHERE $model IS NULL OR model_id = $model
    GROUP BY model_id, revision_sha
), unpinned AS (  -- sets whose latest evaluation used a revision no longer pinned
    SELECT model_id, revision_sha,
           string_agg(dataset_repo || '@' || left(revision, 12), ', ') AS sets
    FROM (
        SELECT model_id, revision_sha, dataset_repo,
               arg_max(dataset_revision, created_at) AS revision
        FROM eval_runs WHERE $model IS NULL OR model_id = $model
        GROUP BY model_id, revision_sha, dataset_repo
    )
    WHERE $check_pins AND NOT list_contains($pinned, dataset_repo || '@' || revision)
    GROUP BY model_id, revision_sha
), scan_grace AS (  -- over: the current scanners came into use before the deadline
    SELECT coalesce(min(first_seen) < $scan_deadline, true) AS over
    FROM scanner_keys WHERE key = $scanner_key
), regressions AS (
    SELECT model_id, revision_sha,
           string_agg(dataset_repo || ': ' || (regression ->> '$.summary'), '; ')
               AS findings
    FROM (
        SELECT model_id, revision_sha, dataset_repo,
               arg_max(regression, created_at) AS regression
        FROM eval_runs WHERE $model IS NULL OR model_id = $model
        GROUP BY model_id, revision_sha, dataset_repo
    )
    WHERE json_array_length(regression -> '$.findings') > 0
    GROUP BY model_id, revision_sha
), judged_heads AS (
    SELECT DISTINCT model_id, revision_sha FROM gate_results
    WHERE $model IS NULL OR model_id = $model
)
SELECT v.model_id,
    CASE
        WHEN l.status = 'revoked' THEN 'revoked'
        WHEN m.upstream_deleted_at IS NOT NULL THEN 'at_risk'
        WHEN coalesce(m.gated, 'false') NOT IN ('false', 'False', '')
             AND coalesce(r.info ->> '$.gated', 'false') IN ('false', 'False', '')
            THEN 'at_risk'
        WHEN m.sha IS NOT NULL AND h.revision_sha IS NULL THEN 'at_risk'
        WHEN g.findings IS NOT NULL THEN 'at_risk'
        WHEN coalesce(a.config_version, v.config_version) IS DISTINCT FROM $version
            THEN 'stale'
        WHEN s.key <> $scanner_key AND sg.over THEN 'stale'
        WHEN e.scorer <> $scorer_version THEN 'stale'
        WHEN u.sets IS NOT NULL THEN 'stale'
        WHEN coalesce(e.evaluated_at, a.decided_at, v.decided_at) < $oldest THEN 'stale'
        ELSE 'ok'
    END AS health,
    CASE
        WHEN l.status = 'revoked' THEN 'revoked: ' || coalesce(l.reason, '')
        WHEN m.upstream_deleted_at IS NOT NULL
            THEN 'upstream repo deleted on the Hub ('
                 || strftime(m.upstream_deleted_at, '%Y-%m-%d') || ')'
        WHEN coalesce(m.gated, 'false') NOT IN ('false', 'False', '')
             AND coalesce(r.info ->> '$.gated', 'false') IN ('false', 'False', '')
            THEN 'upstream became gated (' || m.gated || ') after it was judged'
        WHEN m.sha IS NOT NULL AND h.revision_sha IS NULL
            THEN 'upstream main moved to ' || left(m.sha, 12) || ', not judged yet'
        WHEN g.findings IS NOT NULL THEN 'open regression: ' || g.findings
        WHEN coalesce(a.config_version, v.config_version) IS DISTINCT FROM $version
            THEN 'judged under gate ' || coalesce(a.config_version, v.config_version, '?')
                 || ', the gate is ' || $version
        WHEN s.key <> $scanner_key AND sg.over AND s.basis IS NOT NULL AND len(list_filter(
                 $scanners, x -> json_extract(s.basis, '$.scanners."' || x || '"') IS NULL)) > 0
            THEN 'scanner coverage gap: scanned without ' || array_to_string(list_filter(
                 $scanners, x -> json_extract(s.basis, '$.scanners."' || x || '"') IS NULL),
                 ', ')
        WHEN s.key <> $scanner_key AND sg.over
            THEN 'security verdict made under other scanners, rule sets or allowlist'
        WHEN e.scorer <> $scorer_version
            THEN 'evaluated by scorer v' || e.scorer || ', the scorer is v' || $scorer_version
        WHEN u.sets IS NOT NULL
            THEN 'evaluated on a set revision no longer pinned: ' || u.sets
        WHEN e.evaluated_at < $oldest
            THEN 'evaluated on ' || strftime(e.evaluated_at, '%Y-%m-%d')
                 || ', older than ' || $max_age_days || ' days'
        WHEN e.evaluated_at IS NULL AND coalesce(a.decided_at, v.decided_at) < $oldest
            THEN 'evidence from ' || strftime(coalesce(a.decided_at, v.decided_at), '%Y-%m-%d')
                 || ', older than ' || $max_age_days || ' days'
        ELSE 'current'
    END AS reason,
    coalesce(a.sha, v.sha) AS revision_sha
FROM verdict v
CROSS JOIN scan_grace sg
LEFT JOIN approved a USING (model_id)
LEFT JOIN latest l USING (model_id)
LEFT JOIN models m USING (model_id)
LEFT JOIN model_revisions r
    ON r.model_id = v.model_id AND r.revision_sha = coalesce(a.sha, v.sha)
LEFT JOIN scans s ON s.model_id = v.model_id AND s.revision_sha = coalesce(a.sha, v.sha)
LEFT JOIN evals e ON e.model_id = v.model_id AND e.revision_sha = coalesce(a.sha, v.sha)
LEFT JOIN unpinned u ON u.model_id = v.model_id AND u.revision_sha = coalesce(a.sha, v.sha)
LEFT JOIN regressions g
    ON g.model_id = v.model_id AND g.revision_sha = coalesce(a.sha, v.sha)
LEFT JOIN judged_heads h ON h.model_id = v.model_id AND h.revision_sha = m.sha
ORDER BY v.model_id
"""


def model_health(
    con: duckdb.DuckDBPyConnection,
    gate_version: str,
    max_age_days: float,
    model_id: str | None = None,
    now: datetime | None = None,
    scanner_key: str | None = None,
    scorer_version: str | None = None,
    scanners: Sequence[str] = (),
    scan_grace_hours: float = 0.0,
    pinned: Sequence[str] | None = None,
) -> list[tuple[str, str, str, str]]:
    """(model, health, reason, the revision it is about) of every judged model (or one);
    with `scanner_key` (the key a security verdict made now would have) a verdict made
    under other scanners is stale too (a coverage gap when it names none of `scanners`,
    the engines installed now) once the current scanners have been in use longer than
    `scan_grace_hours` (from `scanner_keys`; unrecorded: at once), with `scorer_version`
    an evaluation by another, with `pinned` (the `repo@revision` sets pinned now) an
    evaluation on a set revision no longer pinned."""
    at = now or datetime.now(UTC)
    oldest = at - timedelta(days=max_age_days)
    return con.execute(
        _HEALTH,
        {
            "version": gate_version,
            "oldest": oldest,
            "max_age_days": f"{max_age_days:g}",
            "model": model_id,
            "scanner_key": scanner_key,
            "scorer_version": scorer_version,
            "scanners": list(scanners),
            "scan_deadline": at - timedelta(hours=scan_grace_hours),
            "check_pins": pinned is not None,
            "pinned": list(pinned or []),
        },
    ).fetchall()


def health_counts(
    con: duckdb.DuckDBPyConnection,
    gate_version: str,
    max_age_days: float,
    scanner_key: str | None = None,
    scorer_version: str | None = None,
    scanners: Sequence[str] = (),
    scan_grace_hours: float = 0.0,
    pinned: Sequence[str] | None = None,
) -> dict[str, int]:
    """How many judged models have each health (every health named, zero or not)."""
    at = datetime.now(UTC)
    oldest = at - timedelta(days=max_age_days)
    rows = con.execute(
        f"SELECT health, count(*) FROM ({_HEALTH}) GROUP BY health",
        {
            "version": gate_version,
            "oldest": oldest,
            "max_age_days": "",
            "model": None,
            "scanner_key": scanner_key,
            "scorer_version": scorer_version,
            "scanners": list(scanners),
            "scan_deadline": at - timedelta(hours=scan_grace_hours),
            "check_pins": pinned is not None,
            "pinned": list(pinned or []),
        },
    ).fetchall()
    return {h.value: 0 for h in Health} | dict(rows)
