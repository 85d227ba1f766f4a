"""What the registry service exports to Prometheus, read from the registry at scrape time
(no second bookkeeping): one named read per series family."""

from __future__ import annotations

import duckdb

from hub_assets.registry.mirror_usage import mirror_counts

# Every evaluation that called the inference API, measured or not, with its figures.
_API_RUNS = (
    "SELECT model_id, created_at, api_stats FROM eval_runs WHERE api_stats IS NOT NULL "
    "UNION ALL SELECT model_id, created_at, api_stats FROM eval_unmeasured "
    "WHERE api_stats IS NOT NULL"
)
_API_COUNTS = ", ".join(
    f"coalesce(CAST(api_stats->>'{k}' AS BIGINT), 0)"
    for k in ("answered", "misses", "rate_limited", "errors", "bypassed")
)


def observed_counts(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every series family as rows of (labels..., value)."""
    return {
        "candidates": con.execute(
            "SELECT count(*) FROM v_model_status WHERE status NOT IN ('discovered', 'filtered_out')"
        ).fetchall(),
        "models_discovered": con.execute("SELECT count(*) FROM models").fetchall(),
        "models_by_status": con.execute(
            "SELECT status, count(*) FROM v_model_status GROUP BY status ORDER BY status"
        ).fetchall(),
        "gate_results": con.execute(
            "SELECT CASE WHEN passed THEN 'passed' ELSE 'failed' END, count(*) "
            "FROM gate_results GROUP BY 1 ORDER BY 1"
        ).fetchall(),
        "gate_failures_by_metric": con.execute(
            "SELECT f->>'metric' AS metric, count(*) FROM gate_results, "
            "unnest(CAST(failed_metrics AS JSON[])) AS t(f) GROUP BY 1 ORDER BY 1"
        ).fetchall(),
        "ingest_outcomes": con.execute(
            "SELECT coalesce(outcome, status), count(*) FROM ingest_requests GROUP BY 1 ORDER BY 1"
        ).fetchall(),
        "packages": con.execute(
            "SELECT CASE WHEN retired_at IS NULL THEN 'live' ELSE 'retired' END, count(*), "
            "coalesce(sum(size_bytes), 0) FROM packages GROUP BY 1 ORDER BY 1"
        ).fetchall(),
        "hub_traffic": con.execute(
            "SELECT stage, sum(requests), sum(rate_limited), sum(bytes_downloaded) "
            "FROM hub_traffic GROUP BY stage ORDER BY stage"
        ).fetchall(),
        "shadow_eval_runs": con.execute(
            "SELECT task, count(*) FROM eval_runs GROUP BY task ORDER BY task"
        ).fetchall(),
        "inference_api_requests": con.execute(
            f"SELECT outcome, sum(n) FROM (SELECT unnest(['answered', 'miss', 'rate_limited', "
            f"'error', 'bypassed']) AS outcome, unnest([{_API_COUNTS}]) AS n FROM ({_API_RUNS})) "
            "GROUP BY outcome ORDER BY outcome"
        ).fetchall(),
        "inference_api_breaker_trips": con.execute(
            "SELECT coalesce(sum(CAST(api_stats->>'breaker_trips' AS BIGINT)), 0) "
            f"FROM ({_API_RUNS})"
        ).fetchall(),
        "inference_api_latency": con.execute(
            "WITH latest AS (SELECT model_id, arg_max(api_stats, created_at) AS s "
            f"FROM ({_API_RUNS}) GROUP BY model_id) "
            "SELECT model_id, '0.5', CAST(s->>'p50_ms' AS DOUBLE) / 1000 FROM latest "
            "WHERE s->>'p50_ms' IS NOT NULL UNION ALL "
            "SELECT model_id, '0.95', CAST(s->>'p95_ms' AS DOUBLE) / 1000 FROM latest "
            "WHERE s->>'p95_ms' IS NOT NULL ORDER BY 1, 2"
        ).fetchall(),
        "shadow_eval_scores": con.execute(
            "SELECT model_id, task, dataset, primary_metric, score FROM v_leaderboard "
            "WHERE score IS NOT NULL ORDER BY model_id, task, dataset"
        ).fetchall(),
        **mirror_counts(con),
    }


def record_hub_traffic(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str,
    stage: str,
    model_id: str | None,
    requests: int,
    rate_limited: int,
    bytes_downloaded: int,
) -> None:
    """What one stage of one run asked of the Hub."""
    con.execute(
        "INSERT INTO hub_traffic VALUES (?, ?, ?, ?, ?, ?, now())",
        [run_id, stage, model_id, requests, rate_limited, bytes_downloaded],
    )
