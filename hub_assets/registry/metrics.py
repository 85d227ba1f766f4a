"""Registry reads and writes for metric values (with lineage) and gate results."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

import duckdb

from hub_assets.comparability import basis_key
from hub_assets.errors import MissingMetadataError
from hub_assets.metrics.evidence import StoredMetric
from hub_assets.registry.models import now


def revision_metrics(
    con: duckdb.DuckDBPyConnection, model_id: str, sha: str
) -> dict[str, StoredMetric]:
    """The newest stored value of each metric for one model revision."""
    rows = con.execute(
        """
        SELECT metric, arg_max(value, created_at), arg_max(latency_ms, created_at),
               arg_max(inputs_fingerprint, created_at), arg_max(code_version, created_at),
               arg_max(run_id, created_at), arg_max(details, created_at),
               arg_max_null(basis, created_at)
        FROM metric_values WHERE model_id = ? AND revision_sha = ? GROUP BY metric
        """,
        [model_id, sha],
    ).fetchall()
    return {
        r[0]: StoredMetric(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            json.loads(r[6]) if r[6] else None,
            json.loads(r[7]) if r[7] else None,
        )
        for r in rows
    }


def metric_basis(value: Mapping) -> dict:
    """What a metric value rests on (`hub_assets.comparability`): its own `basis` (the
    security verdict names its scanners and their rule sets), else its code version."""
    return dict(value.get("basis") or {"metric": value["metric"], "code": value["code_version"]})


def write_metrics(
    con: duckdb.DuckDBPyConnection, model_id: str, sha: str, values: Iterable[Mapping], run_id: str
) -> int:
    """Insert metric values: each mapping has metric, value, latency_ms, inputs_fingerprint,
    code_version, details and (optionally) basis; each row records its comparability key."""
    values = list(values)
    bases = [metric_basis(v) for v in values]
    rows = [
        [
            model_id,
            sha,
            v["metric"],
            v["value"],
            v["latency_ms"],
            v["inputs_fingerprint"],
            v["code_version"],
            run_id,
            now(),
            json.dumps(v.get("details")),
            json.dumps(basis),
            basis_key(basis),
        ]
        for v, basis in zip(values, bases, strict=True)
    ]
    if rows:
        con.executemany(
            "INSERT INTO metric_values (model_id, revision_sha, metric, value, latency_ms, "
            "inputs_fingerprint, code_version, run_id, created_at, details, basis, basis_key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def current_net_scores(
    con: duckdb.DuckDBPyConnection, model_ids: Iterable[str]
) -> dict[str, float]:
    """Net score of each model's current revision, for those scored."""
    ids = list(model_ids)
    if not ids:
        return {}
    rows = con.execute(
        "SELECT model_id, value FROM v_latest_metrics WHERE metric = 'net_score' "
        "AND list_contains(?, model_id)",
        [ids],
    ).fetchall()
    return dict(rows)


def last_known_revision(con: duckdb.DuckDBPyConnection, model_id: str) -> tuple[str, str] | None:
    """(sha, ISO date) of the newest revision the registry has seen for a model, if any."""
    row = con.execute(
        "SELECT sha, CAST(last_seen AS VARCHAR) FROM models WHERE model_id = ? AND sha IS NOT NULL",
        [model_id],
    ).fetchone()
    return (row[0], row[1]) if row else None


def current_revision(con: duckdb.DuckDBPyConnection, model_id: str) -> tuple[str, dict] | None:
    """(sha, stored metadata) of a model's current revision, if its metadata is stored."""
    row = con.execute(
        "SELECT r.revision_sha, r.info, r.card_data, r.card_text, r.commits, r.config "
        "FROM models m JOIN model_revisions r ON r.model_id = m.model_id AND "
        "r.revision_sha = m.sha WHERE m.model_id = ?",
        [model_id],
    ).fetchone()
    return _metadata(row)


def revision_metadata(con: duckdb.DuckDBPyConnection, model_id: str, sha: str) -> dict | None:
    """The stored metadata of one revision (current or not), if it is stored."""
    row = con.execute(
        "SELECT revision_sha, info, card_data, card_text, commits, config "
        "FROM model_revisions WHERE model_id = ? AND revision_sha = ?",
        [model_id, sha],
    ).fetchone()
    found = _metadata(row)
    return found[1] if found else None


def _metadata(row: tuple | None) -> tuple[str, dict] | None:
    if row is None:
        return None
    sha, info, card, text, commits, config = row
    return sha, {
        "info": json.loads(info),
        "card_data": json.loads(card) if card else {},
        "card_text": text or "",
        "commits": json.loads(commits) if commits else [],
        "config": json.loads(config) if config else None,
    }


def require_current_revision(con: duckdb.DuckDBPyConnection, model_id: str) -> tuple[str, dict]:
    """`current_revision`, or an error that says which stage has to run first."""
    current = current_revision(con, model_id)
    if current is None:
        raise MissingMetadataError(
            f"No stored metadata for {model_id!r} at its current revision. Materialize "
            "model_metadata for this partition first (the per-model job does)."
        )
    return current


def write_gate_result(
    con: duckdb.DuckDBPyConnection,
    *,
    model_id: str,
    sha: str,
    passed: bool,
    failed: list[dict],
    message: str,
    thresholds: Mapping[str, float],
    config_version: str,
    target_device: str,
    run_id: str,
    override: dict | None = None,
    basis: Mapping | None = None,
) -> None:
    """Record one gate decision (and the override that applied, with who accepted it), with
    what it rests on (the config's basis, `GateConfig.basis`) and its comparability key."""
    basis = dict(basis or {"kind": "gate", "version": config_version})
    con.execute(
        "INSERT OR REPLACE INTO gate_results (model_id, revision_sha, passed, failed_metrics, "
        "message, thresholds, config_version, target_device, run_id, created_at, override, "
        "basis, basis_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            model_id,
            sha,
            passed,
            json.dumps(failed),
            message,
            json.dumps(dict(thresholds)),
            config_version,
            target_device,
            run_id,
            now(),
            json.dumps(override) if override else None,
            json.dumps(basis),
            basis_key(basis),
        ],
    )


def latest_gate_result(con: duckdb.DuckDBPyConnection, model_id: str, sha: str) -> dict | None:
    """The newest gate decision for a revision: passed, message, failed metrics, config
    (from `v_gate`, the one definition of a revision's latest gate result)."""
    row = con.execute(
        "SELECT passed, message, failed_metrics, config_version FROM v_gate "
        "WHERE model_id = ? AND revision_sha = ?",
        [model_id, sha],
    ).fetchone()
    if row is None:
        return None
    return {
        "passed": row[0],
        "message": row[1],
        "failed_metrics": json.loads(row[2]),
        "config_version": row[3],
    }


def decided_models(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Models with a gate decision on any revision."""
    return {m for (m,) in con.execute("SELECT model_id FROM v_gate").fetchall()}


def judged_revisions(
    con: duckdb.DuckDBPyConnection, metrics: Sequence[str]
) -> list[tuple[str, str, bool, dict[str, float]]]:
    """Every revision with a gate result: (model, sha, its latest verdict, the latest stored
    value of each of `metrics`), in one read, for re-deciding the gate from stored
    evidence alone."""
    rows = con.execute(
        "WITH latest AS (SELECT model_id, revision_sha, metric, "
        "arg_max(value, created_at) AS value FROM metric_values "
        "WHERE list_contains(?, metric) GROUP BY ALL) "
        "SELECT g.model_id, g.revision_sha, g.passed, "
        "list(l.metric ORDER BY l.metric) FILTER (WHERE l.metric IS NOT NULL), "
        "list(l.value ORDER BY l.metric) FILTER (WHERE l.metric IS NOT NULL) "
        "FROM v_gate g LEFT JOIN latest l "
        "ON l.model_id = g.model_id AND l.revision_sha = g.revision_sha "
        "GROUP BY ALL ORDER BY g.model_id, g.revision_sha",
        [list(metrics)],
    ).fetchall()
    return [
        (model, sha, bool(passed), dict(zip(names or [], values or [], strict=True)))
        for model, sha, passed, names, values in rows
    ]


def scanner_key_known(con: duckdb.DuckDBPyConnection, key: str) -> bool:
    """Whether this scanner key's first use is recorded."""
    return con.execute("SELECT 1 FROM scanner_keys WHERE key = ?", [key]).fetchone() is not None


def note_scanner_key(con: duckdb.DuckDBPyConnection, key: str, basis: Mapping) -> None:
    """Record the first use of a scanner key (a later call keeps the first time; writers
    take turns, so the check and the insert are one step)."""
    if not scanner_key_known(con, key):
        con.execute(
            "INSERT INTO scanner_keys (key, basis, first_seen) VALUES (?, ?, ?)",
            [key, json.dumps(dict(basis)), now()],
        )


def stale_scans(con: duckdb.DuckDBPyConnection, current_key: str) -> list[tuple[str, str, str]]:
    """Approved revisions (a live package, the latest verdict a pass) whose security verdict
    was made under other scanners, rule sets or allowlist than those with `current_key`:
    (model, sha, the key it was made under), by model."""
    return con.execute(
        "WITH scans AS (SELECT model_id, revision_sha, arg_max(basis_key, created_at) AS key "
        "FROM metric_values WHERE metric = 'security' GROUP BY model_id, revision_sha) "
        "SELECT DISTINCT p.model_id, p.revision_sha, s.key FROM packages p "
        "JOIN v_gate g USING (model_id, revision_sha) "
        "JOIN scans s USING (model_id, revision_sha) "
        "WHERE p.retired_at IS NULL AND g.passed AND s.key IS DISTINCT FROM ? "
        "ORDER BY p.model_id, p.revision_sha",
        [current_key],
    ).fetchall()


def stale_verdicts(con: duckdb.DuckDBPyConnection, version: str) -> list[tuple[str, str, str]]:
    """Approved revisions (a live package, the latest verdict a pass) whose verdict was made
    under another gate version than `version`: (model, sha, the version it was judged
    under), by model."""
    return con.execute(
        "SELECT DISTINCT p.model_id, p.revision_sha, g.config_version FROM packages p "
        "JOIN v_gate g USING (model_id, revision_sha) "
        "WHERE p.retired_at IS NULL AND g.passed AND g.config_version IS DISTINCT FROM ? "
        "ORDER BY p.model_id, p.revision_sha",
        [version],
    ).fetchall()
