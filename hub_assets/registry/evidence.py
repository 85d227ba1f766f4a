"""The facts a package was approved on, read from the registry for its evidence
attestation and its bill of materials: gate decision, metric values with lineage, shadow
evaluations, scanner verdicts and decisions (promotion, retirement) of the revision."""

from __future__ import annotations

import json

import duckdb

from hub_assets.registry.tree import ancestry


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict]:
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def json_value(value: object) -> object:
    """A JSON column's value as Python (DuckDB's file hands JSON back as text)."""
    return json.loads(value) if isinstance(value, str) else value


def revision_evidence(con: duckdb.DuckDBPyConnection, model_id: str, sha: str) -> dict:
    """Everything the registry recorded about one revision's approval, newest gate first."""
    gate = _rows(
        con.execute(
            "SELECT passed, message, failed_metrics, thresholds, config_version, target_device, "
            "run_id, CAST(decided_at AS VARCHAR) AS decided_at, override FROM v_gate "
            "WHERE model_id = ? AND revision_sha = ?",
            [model_id, sha],
        )
    )
    metrics = _rows(
        con.execute(
            "SELECT metric, arg_max(value, created_at) AS value, "
            "arg_max(inputs_fingerprint, created_at) AS inputs_fingerprint, "
            "arg_max(code_version, created_at) AS code_version, "
            "arg_max(run_id, created_at) AS run_id, arg_max(details, created_at) AS details "
            "FROM metric_values WHERE model_id = ? AND revision_sha = ? "
            "GROUP BY metric ORDER BY metric",
            [model_id, sha],
        )
    )
    evaluations = _rows(
        con.execute(
            "SELECT eval_run_id, task, dataset_repo, dataset_revision, dataset_fingerprint, "
            "scorer_version, scores, intervals, baseline, samples, coverage, backend, run_id, "
            "contamination FROM eval_runs WHERE model_id = ? AND revision_sha = ? "
            "ORDER BY created_at",
            [model_id, sha],
        )
    )
    decisions = _rows(
        con.execute(
            "SELECT status, reason, run_id, CAST(created_at AS VARCHAR) AS at "
            "FROM model_status_events WHERE model_id = ? AND revision_sha = ? "
            "AND status IN ('promoted', 'retired', 'rejected') ORDER BY event_id",
            [model_id, sha],
        )
    )
    for row in gate:
        row["failed_metrics"], row["thresholds"] = (
            json_value(row["failed_metrics"]),
            json_value(row["thresholds"]),
        )
        row["override"] = json_value(row["override"]) if row["override"] else None
    for row in metrics:
        row["details"] = json_value(row["details"])
    for row in evaluations:
        for k in ("scores", "intervals", "baseline", "contamination"):
            row[k] = json_value(row[k])
    return {
        "gate": gate[0] if gate else None,
        "metrics": metrics,
        "evaluations": evaluations,
        "decisions": decisions,
        "ancestry": ancestry(con, model_id),
    }
