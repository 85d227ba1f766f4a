"""Hardware fit per revision: the RAM estimate beside the reproducibility measurement, and
the registry views `models`, `recommend` and `adapters` read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime

import duckdb

from hub_assets.states import verdict_of

COLUMNS = (
    "source",
    "parameters",
    "parameters_by_dtype",
    "footprint",
    "quantization",
    "gguf_file",
    "runtime",
    "context_length",
    "weights_bytes",
    "kv_cache_bytes",
    "overhead_bytes",
    "estimate_bytes",
    "fit_per_device",
    "measured_runtime",
    "measured_context",
    "estimate_at_measured_bytes",
    "peak_rss_bytes",
    "load_s",
    "first_output_s",
    "estimate_error",
)
_JSON = ("parameters_by_dtype", "footprint", "fit_per_device")


def record_fit(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    sha: str,
    row: Mapping,
    inputs_fingerprint: str,
    code_version: str,
    run_id: str,
) -> None:
    """The revision's estimate and measurement (`hardware.fit.fit_record`), replacing an
    earlier one for the same revision."""
    values = [json.dumps(row[c]) if c in _JSON else row[c] for c in COLUMNS]
    con.execute(
        f"INSERT OR REPLACE INTO hardware_fit (model_id, revision_sha, {', '.join(COLUMNS)}, "
        "inputs_fingerprint, code_version, run_id, recorded_at) VALUES "
        f"({', '.join('?' * (len(COLUMNS) + 6))})",
        [model_id, sha, *values, inputs_fingerprint, code_version, run_id, datetime.now(UTC)],
    )


def revision_fit(con: duckdb.DuckDBPyConnection, model_id: str, sha: str) -> dict | None:
    """The stored hardware fit of one revision."""
    cur = con.execute(
        f"SELECT {', '.join(COLUMNS)} FROM hardware_fit WHERE model_id = ? AND revision_sha = ?",
        [model_id, sha],
    )
    got = cur.fetchone()
    return _row(got) if got else None


def _row(values: tuple) -> dict:
    out = dict(zip(COLUMNS, values, strict=True))
    for c in _JSON:
        out[c] = json.loads(out[c]) if isinstance(out[c], str) else out[c]
    return out


def registry_table(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every model with its current revision, task, licence, status, latest gate outcome,
    whether it has a live package, and the hardware fit of that revision."""
    rows = con.execute(
        f"""
        WITH rev AS (
            SELECT model_id, arg_max(revision_sha, fetched_at) AS sha FROM model_revisions
            GROUP BY model_id
        ), live AS (
            SELECT DISTINCT model_id, revision_sha FROM packages WHERE retired_at IS NULL
        )
        SELECT m.model_id, m.pipeline_tag, m.license, rev.sha, s.status, g.passed,
               live.model_id IS NOT NULL AS packaged,
               {", ".join("h." + c for c in COLUMNS)}
        FROM models m
        LEFT JOIN rev ON rev.model_id = m.model_id
        LEFT JOIN v_model_status s ON s.model_id = m.model_id
        LEFT JOIN v_gate g ON g.model_id = m.model_id AND g.revision_sha = rev.sha
        LEFT JOIN live ON live.model_id = m.model_id AND live.revision_sha = rev.sha
        LEFT JOIN hardware_fit h ON h.model_id = m.model_id AND h.revision_sha = rev.sha
        ORDER BY m.model_id
        """
    ).fetchall()
    out = []
    for r in rows:
        model_id, task, licence, sha, status, passed, packaged = r[:7]
        fit = _row(r[7:]) if r[7] is not None else None
        out.append(
            {
                "model_id": model_id,
                "task": task,
                "license": licence,
                "revision": sha,
                "status": status,
                "gate": verdict_of(passed),
                "packaged": bool(packaged),
                "fit": fit,
            }
        )
    return out


def approved_fits(con: duckdb.DuckDBPyConnection, require_promoted: bool) -> list[dict]:
    """Every approved model (the revision the mirror serves, `registry.approved`) with its
    task, net score and hardware fit: what `recommend` chooses from."""
    from hub_assets.registry.approved import approved_packages

    out = []
    for model_id, package in sorted(approved_packages(con, require_promoted).items()):
        net = con.execute(
            "SELECT arg_max(value, created_at) FROM metric_values WHERE model_id = ? "
            "AND revision_sha = ? AND metric = 'net_score'",
            [model_id, package.revision_sha],
        ).fetchone()[0]
        out.append(
            {
                "model_id": model_id,
                "revision": package.revision_sha,
                "task": package.pipeline_tag,
                "package": f"{package.name}@{package.version}",
                "net_score": net,
                "fit": revision_fit(con, model_id, package.revision_sha),
            }
        )
    return out
