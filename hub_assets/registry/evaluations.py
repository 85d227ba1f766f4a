"""Registry reads and writes for evaluation datasets, shadow evaluation runs and samples."""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb
import pandas as pd

from hub_assets.comparability import basis_key
from hub_assets.evaluation.datasets import DatasetPin
from hub_assets.evaluation.measurement import CLAIM_MARGIN, Measurement, evaluation_basis
from hub_assets.registry.models import now


def record_dataset(
    con: duckdb.DuckDBPyConnection,
    *,
    repo_id: str,
    revision: str,
    task: str,
    fingerprint: str,
    rows: dict,
    folder: str,
    run_id: str,
) -> None:
    """Remember a pinned dataset's fingerprint and row counts (once per revision)."""
    con.execute(
        "INSERT OR REPLACE INTO eval_datasets (repo_id, revision, task, fingerprint, "
        "row_counts, folder, run_id, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [repo_id, revision, task, fingerprint, json.dumps(rows), folder, run_id, now()],
    )


def cached_run(con: duckdb.DuckDBPyConnection, key: str) -> dict | None:
    """The newest evaluation run with this cache key, if any."""
    cur = con.execute(
        "SELECT eval_run_id, scores, claims, samples, failed_samples, run_id, intervals, "
        "baseline, backend, coverage, api_stats, contamination FROM eval_runs "
        "WHERE cache_key = ? AND intervals IS NOT NULL "
        "ORDER BY created_at DESC LIMIT 1",
        [key],
    )
    row = cur.fetchone()
    if row is None:
        return None
    return {
        "eval_run_id": row[0],
        "scores": json.loads(row[1]),
        "claims": json.loads(row[2]),
        "samples": row[3],
        "failed_samples": row[4],
        "run_id": row[5],
        "intervals": json.loads(row[6]),
        "baseline": json.loads(row[7]) if row[7] else {},
        "backend": row[8] or "local",
        "coverage": row[9] if row[9] is not None else 1.0,
        "api_stats": json.loads(row[10]) if row[10] else {},
        "contamination": json.loads(row[11]) if row[11] else {},
    }


def latest_measurement(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    sha: str,
    dataset_repo: str,
    dataset_revision: str,
) -> Measurement | None:
    """The newest evaluation of this revision on this pinned dataset, as gate evidence."""
    row = con.execute(
        "SELECT task, eval_run_id, scores, intervals, baseline, samples, contamination "
        "FROM eval_runs "
        "WHERE model_id = ? AND revision_sha = ? AND dataset_repo = ? AND dataset_revision = ? "
        "AND intervals IS NOT NULL ORDER BY created_at DESC LIMIT 1",
        [model_id, sha, dataset_repo, dataset_revision],
    ).fetchone()
    if row is None:
        return None
    return Measurement(
        task=row[0],
        dataset=dataset_repo,
        dataset_revision=dataset_revision,
        eval_run_id=row[1],
        scores=json.loads(row[2]),
        intervals=json.loads(row[3]),
        baseline=json.loads(row[4]) if row[4] else {},
        samples=row[5],
        contamination=json.loads(row[6]) if row[6] else {},
    )


def revision_measurements(
    con: duckdb.DuckDBPyConnection, model_id: str, sha: str, pins: Sequence[DatasetPin]
) -> list[Measurement]:
    """The revision's newest evaluation on each of `pins` (its task's pinned sets), in the
    pins' order; sets not measured yet are left out."""
    found = (latest_measurement(con, model_id, sha, p.repo_id, p.revision) for p in pins)
    return [m for m in found if m is not None]


def leaderboard(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every evaluated model's latest scores on each evaluation set of its task, ranked
    only against scores with the same comparability key (`comparable`: the set's revision
    and fingerprint, the scorer, the backend, the generation settings), with a chance row
    per set: the set and whether the model was trained on it (contamination), primary
    metric, its 95% interval, the chance score, the claimed value, the gate."""
    return con.execute(
        """
        SELECT task, model_id, dataset, left(basis_key, 12) AS comparable,
               CAST(rank AS DOUBLE) AS rank,
               contamination, gate_passed,
               ci_low > chance AS above_chance,
               CASE WHEN claimed IS NULL THEN NULL
                    WHEN claimed > ci_high + ? THEN 'contradicted'
                    ELSE 'consistent' END AS claim,
               primary_metric AS metric, round(score, 3) AS score,
               round(ci_low, 3) AS ci_low, round(ci_high, 3) AS ci_high,
               round(chance, 3) AS chance, round(claimed, 3) AS claimed,
               round(net_score, 2) AS net_score, backend
        FROM v_leaderboard_ranked
        UNION ALL
        SELECT task, '(chance: ' || baseline || ')', dataset, NULL, NULL, NULL, NULL, NULL,
               NULL, primary_metric,
               round(chance, 3), NULL, NULL, round(chance, 3), NULL, NULL, NULL
        FROM v_chance_baselines
        ORDER BY task, dataset, comparable NULLS LAST, score DESC, model_id
        """,
        [CLAIM_MARGIN],
    ).df()


def latest_evaluation(con: duckdb.DuckDBPyConnection, model_id: str, sha: str) -> dict | None:
    """The newest evaluation of a revision: eval_run_id, task, dataset_repo,
    dataset_revision, scores (None: never evaluated)."""
    cur = con.execute(
        "SELECT eval_run_id, task, dataset_repo, dataset_revision, scores FROM eval_runs "
        "WHERE model_id = ? AND revision_sha = ? ORDER BY created_at DESC LIMIT 1",
        [model_id, sha],
    )
    row = cur.fetchone()
    if row is None:
        return None
    out = dict(zip([d[0] for d in cur.description], row, strict=True))
    out["scores"] = json.loads(out["scores"])
    return out


def evaluation_dagster_run(con: duckdb.DuckDBPyConnection, eval_run_id: str | None) -> str | None:
    """The Dagster run that made an evaluation (None if unknown)."""
    if not eval_run_id:
        return None
    row = con.execute(
        "SELECT run_id FROM eval_runs WHERE eval_run_id = ?", [eval_run_id]
    ).fetchone()
    return row[0] if row else None


def previous_samples(
    con: duckdb.DuckDBPyConnection, model_id: str, comparable: str, before_key: str
) -> list[dict]:
    """Per-sample scores of the model's latest earlier evaluation with the comparability key
    `comparable` (the same set, revision, fingerprint, scorer, backend and generation
    settings): scores made otherwise are never paired with these."""
    row = con.execute(
        "SELECT eval_run_id FROM eval_runs WHERE model_id = ? AND basis_key = ? "
        "AND cache_key <> ? ORDER BY created_at DESC LIMIT 1",
        [model_id, comparable, before_key],
    ).fetchone()
    if row is None:
        return []
    return [
        {"sample_id": sid, "scores": json.loads(scores)}
        for sid, scores in con.execute(
            "SELECT sample_id, scores FROM eval_samples WHERE eval_run_id = ?", [row[0]]
        ).fetchall()
    ]


def write_eval_run(
    con: duckdb.DuckDBPyConnection,
    *,
    eval_run_id: str,
    key: str,
    model_id: str,
    sha: str,
    task: str,
    dataset_repo: str,
    dataset_revision: str,
    dataset_fingerprint: str,
    generation_config: dict,
    scorer_version: str,
    scores: dict,
    claims: list,
    samples: list[dict],
    duration_s: float,
    run_id: str,
    intervals: dict,
    baseline: dict,
    backend: str = "local",
    coverage: float = 1.0,
    api_stats: dict | None = None,
    contamination: dict | None = None,
    regression: dict | None = None,
) -> None:
    """One evaluation run and all its samples (bulk insert), with its comparability key
    made from the same inputs the row records, and its comparison with the model's
    previous comparable run (`regression`: status, findings; None: there was none)."""
    basis = evaluation_basis(
        task=task,
        dataset_repo=dataset_repo,
        dataset_revision=dataset_revision,
        dataset_fingerprint=dataset_fingerprint,
        backend=backend,
        generation_config=generation_config,
        scorer_version=scorer_version,
    )
    con.execute(
        "INSERT INTO eval_runs (eval_run_id, cache_key, model_id, revision_sha, task, "
        "dataset_repo, dataset_revision, dataset_fingerprint, generation_config, "
        "scorer_version, scores, claims, samples, failed_samples, duration_s, run_id, "
        "created_at, intervals, baseline, backend, coverage, api_stats, contamination, "
        "basis, basis_key, regression) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            eval_run_id,
            key,
            model_id,
            sha,
            task,
            dataset_repo,
            dataset_revision,
            dataset_fingerprint,
            json.dumps(generation_config),
            scorer_version,
            json.dumps(scores),
            json.dumps(claims),
            len(samples),
            sum(1 for s in samples if s["error"]),
            duration_s,
            run_id,
            now(),
            json.dumps(intervals),
            json.dumps(baseline),
            backend,
            coverage,
            json.dumps(api_stats) if api_stats else None,
            json.dumps(contamination) if contamination else None,
            json.dumps(basis),
            basis_key(basis),
            json.dumps(regression) if regression is not None else None,
        ],
    )
    write_samples(con, eval_run_id, samples)


def record_contamination(
    con: duckdb.DuckDBPyConnection, eval_run_id: str, contamination: dict
) -> None:
    """Add the contamination verdict to an evaluation recorded before it was judged."""
    con.execute(
        "UPDATE eval_runs SET contamination = ? WHERE eval_run_id = ?",
        [json.dumps(contamination), eval_run_id],
    )


def write_unmeasured(
    con: duckdb.DuckDBPyConnection,
    *,
    eval_run_id: str,
    model_id: str,
    sha: str,
    task: str,
    dataset_repo: str,
    dataset_revision: str,
    backend: str,
    samples: list[dict],
    coverage: float,
    api_stats: dict | None,
    reason: str,
    run_id: str,
) -> None:
    """An evaluation whose coverage was too low to measure anything: kept for the record
    (and Prometheus), never used as evidence, as a cached result or for regressions."""
    con.execute(
        "INSERT INTO eval_unmeasured (eval_run_id, model_id, revision_sha, task, dataset_repo, "
        "dataset_revision, backend, samples, coverage, api_stats, reason, run_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            eval_run_id,
            model_id,
            sha,
            task,
            dataset_repo,
            dataset_revision,
            backend,
            len(samples),
            coverage,
            json.dumps(api_stats) if api_stats else None,
            reason,
            run_id,
            now(),
        ],
    )
    write_samples(con, eval_run_id, samples)


def write_samples(con: duckdb.DuckDBPyConnection, eval_run_id: str, samples: list[dict]) -> None:
    """An evaluation's per-sample rows (bulk insert)."""
    frame = pd.DataFrame(
        [
            {
                "eval_run_id": eval_run_id,
                "sample_id": s["sample_id"],
                "prediction": s["prediction"],
                "scores": json.dumps(s["scores"]),
                "prompt_hash": s["prompt_hash"],
                "reference_hash": s["reference_hash"],
                "generation_config_hash": s["generation_config_hash"],
                "error": s["error"],
                "backend": s.get("backend", "local"),
            }
            for s in samples
        ],
        columns=[
            "eval_run_id",
            "sample_id",
            "prediction",
            "scores",
            "prompt_hash",
            "reference_hash",
            "generation_config_hash",
            "error",
            "backend",
        ],
    )
    con.register("sample_batch", frame)
    try:
        con.execute("INSERT INTO eval_samples SELECT * FROM sample_batch")
    finally:
        con.unregister("sample_batch")


def report_runs(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Every shadow-evaluation run, oldest first, for the published evaluation reports."""
    cur = con.execute(
        "SELECT eval_run_id, model_id, revision_sha, task, dataset_repo, dataset_revision, "
        "dataset_fingerprint, scorer_version, scores, samples, failed_samples, run_id, "
        "CAST(created_at AS VARCHAR) AS created_at FROM eval_runs ORDER BY created_at, eval_run_id"
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def report_samples(con: duckdb.DuckDBPyConnection, eval_run_id: str) -> list[dict]:
    """One run's per-sample rows (scores as JSON), in sample order."""
    cur = con.execute(
        "SELECT sample_id, prediction, scores, prompt_hash, reference_hash, "
        "generation_config_hash, error, coalesce(backend, 'local') AS backend "
        "FROM eval_samples WHERE eval_run_id = ? ORDER BY sample_id",
        [eval_run_id],
    )
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def stale_evaluations(
    con: duckdb.DuckDBPyConnection, scorer_version: str, pins: Sequence[tuple[str, str]]
) -> list[tuple[str, str, str]]:
    """Approved revisions (a live package, the latest verdict a pass) whose latest
    evaluation on a set was scored by another scorer version, or on a set revision that
    is no longer pinned (`pins`: the (set, revision) pairs pinned now): (model, sha, why),
    by model."""
    pinned = [f"{repo}@{revision}" for repo, revision in pins]
    return con.execute(
        """
        WITH latest AS (
            SELECT model_id, revision_sha, dataset_repo,
                   arg_max(scorer_version, created_at) AS scorer,
                   arg_max(dataset_revision, created_at) AS revision
            FROM eval_runs GROUP BY model_id, revision_sha, dataset_repo
        ), served AS (
            SELECT DISTINCT p.model_id, p.revision_sha FROM packages p
            JOIN v_gate g USING (model_id, revision_sha)
            WHERE p.retired_at IS NULL AND g.passed
        )
        SELECT l.model_id, l.revision_sha,
               string_agg(CASE WHEN l.scorer <> $scorer
                               THEN l.dataset_repo || ': scored by scorer v' || l.scorer
                                    || ', the scorer is v' || $scorer
                               ELSE l.dataset_repo || ': revision ' || left(l.revision, 12)
                                    || ' is no longer pinned' END, '; '
                          ORDER BY l.dataset_repo) AS why
        FROM latest l JOIN served USING (model_id, revision_sha)
        WHERE l.scorer <> $scorer
           OR NOT list_contains($pinned, l.dataset_repo || '@' || l.revision)
        GROUP BY l.model_id, l.revision_sha ORDER BY l.model_id
        """,
        {"scorer": scorer_version, "pinned": pinned},
    ).fetchall()
