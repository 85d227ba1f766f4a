"""Shadow evaluations: pinned datasets, per-model scores, the leaderboard."""

import uuid
from dataclasses import asdict
from pathlib import Path

import dagster as dg

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.evaluation.datasets import QA_TASK, cache_dataset
from hub_assets.evaluation.scorers import SCORER_VERSION
from hub_assets.evaluation.shadow import (
    cache_key,
    claimed_vs_measured,
    dataset_task_for,
    evaluate_qa,
    evaluate_retrieval,
    regression_findings,
)
from hub_assets.metrics.reproducibility import download_snapshot
from hub_assets.metrics.scoring import fingerprint
from hub_assets.registry import evaluations as reg_eval
from hub_assets.registry.metrics import require_current_revision, write_metrics
from hub_assets.registry.models import append_status
from hub_assets.resources import EvaluationResource, HubResource, RegistryResource, TrustResource


@dg.asset(
    group_name="evaluation",
    kinds={"huggingface", "parquet"},
    pool="registry",
    description="The QA and retrieval dataset repos at their pinned revisions, loaded with "
    "datasets.load_dataset through the Hub once and kept as Parquet (then offline).",
)
def eval_datasets(
    context: dg.AssetExecutionContext,
    hub: HubResource,
    registry: RegistryResource,
    evaluation: EvaluationResource,
) -> dg.MaterializeResult:
    """Caches every pinned dataset and records its revision, fingerprint and row counts."""
    rows = [
        "| dataset | revision | task | rows | fingerprint | loaded |",
        "|---|---|---|---|---|---|",
    ]
    with registry.get().write() as con:
        for pin in evaluation.pins():
            data = cache_dataset(pin, hub.endpoint, Path(evaluation.cache_dir), hub.token)
            reg_eval.record_dataset(
                con,
                repo_id=pin.repo_id,
                revision=pin.revision,
                task=pin.task,
                fingerprint=data.fingerprint,
                rows=data.rows,
                folder=str(data.folder),
                run_id=context.run_id,
            )
            rows.append(
                f"| {pin.repo_id} | {pin.revision[:12]} | {pin.task} | "
                f"{', '.join(f'{k}: {v}' for k, v in data.rows.items())} | "
                f"{data.fingerprint[:12]} | {'now' if data.loaded_now else 'cached'} |"
            )
    return dg.MaterializeResult(metadata={"datasets": dg.MetadataValue.md("\n".join(rows))})


@dg.asset(
    partitions_def=hf_models,
    deps=[model_metadata, eval_datasets],
    group_name="evaluation",
    kinds={"pytorch", "duckdb"},
    pool="model_runs",
    check_specs=[
        dg.AssetCheckSpec(
            name="no_significant_regression",
            asset="shadow_eval_scores",
            blocking=False,
            description="Paired bootstrap against the model's previous evaluation on the same "
            "samples: warns when a primary metric dropped significantly.",
        )
    ],
    description="The model's task run on the pinned dataset (QA for generators, retrieval "
    "for encoders): eval_runs, per-sample eval_samples, aggregate metric_values with lineage.",
)
def shadow_eval_scores(
    context: dg.AssetExecutionContext,
    hub: HubResource,
    registry: RegistryResource,
    trust: TrustResource,
    evaluation: EvaluationResource,
) -> dg.MaterializeResult:
    """Evaluates the current revision unless an identical evaluation is cached."""
    model_id = context.partition_key
    with registry.get().read() as con:
        sha, metadata = require_current_revision(con, model_id)
    pipeline_tag = metadata["info"].get("pipeline_tag")
    task = dataset_task_for(pipeline_tag)
    if task is None:
        context.log.info(f"{model_id}: no shadow evaluation for task {pipeline_tag!r}")
        return dg.MaterializeResult(
            metadata={"outcome": f"skipped: no evaluation for {pipeline_tag!r}"},
            check_results=[
                dg.AssetCheckResult(
                    check_name="no_significant_regression",
                    passed=True,
                    metadata={"note": "not evaluated"},
                )
            ],
        )
    pin = next(p for p in evaluation.pins() if p.task == task)
    data = cache_dataset(pin, hub.endpoint, Path(evaluation.cache_dir), hub.token)
    config = evaluation.generation_config()
    key = cache_key(sha, data.fingerprint, config)
    reg = registry.get()
    with reg.read() as con:
        cached = reg_eval.cached_run(con, key)
        previous = reg_eval.previous_samples(con, model_id, pin.repo_id, key)
    if cached is not None:
        context.log.info(
            f"{model_id}: evaluation {cached['eval_run_id']} has the same inputs; no model run"
        )
        scores, claims, eval_run_id, samples = (
            cached["scores"],
            cached["claims"],
            cached["eval_run_id"],
            None,
        )
    else:
        model_dir = download_snapshot(
            hub.client(), model_id, sha, Path(trust.work_dir) / "snapshots"
        )
        result = (
            evaluate_qa(model_dir, pipeline_tag, data, config, evaluation.sample_limit)
            if task == QA_TASK
            else evaluate_retrieval(model_dir, data, config, evaluation.sample_limit)
        )
        scores, samples = result.scores, result.samples
        claims = claimed_vs_measured(metadata["card_data"], pin.repo_id, scores)
        eval_run_id = str(uuid.uuid4())
        lineage = {
            "dataset": pin.repo_id,
            "dataset_revision": pin.revision,
            "dataset_fingerprint": data.fingerprint,
            "eval_run_id": eval_run_id,
        }
        with reg.write() as con:
            reg_eval.write_eval_run(
                con,
                eval_run_id=eval_run_id,
                key=key,
                model_id=model_id,
                sha=sha,
                task=task,
                dataset_repo=pin.repo_id,
                dataset_revision=pin.revision,
                dataset_fingerprint=data.fingerprint,
                generation_config=asdict(config),
                scorer_version=SCORER_VERSION,
                scores=scores,
                claims=claims,
                samples=samples,
                duration_s=result.duration_s,
                run_id=context.run_id,
            )
            write_metrics(
                con,
                model_id,
                sha,
                [
                    {
                        "metric": f"shadow_{name}",
                        "value": value,
                        "latency_ms": round(result.duration_s * 1000, 2),
                        "inputs_fingerprint": key,
                        "code_version": f"scorers/v{SCORER_VERSION}",
                        "details": {
                            **lineage,
                            "samples": len(samples),
                            "failed_samples": result.failed_samples,
                        },
                    }
                    for name, value in scores.items()
                ],
                context.run_id,
            )
            append_status(
                con,
                model_id,
                "evaluated",
                run_id=context.run_id,
                revision_sha=sha,
                reason=f"shadow evaluation on {pin.repo_id}: "
                + ", ".join(f"{k}={v:.3f}" for k, v in scores.items()),
            )
    findings = regression_findings(task, previous, samples) if samples and previous else []
    for f in findings:
        context.log.warning(f"{model_id}: {f}")
    claims_md = "\n".join(
        ["| metric | claimed | measured |", "|---|---:|---:|"]
        + [f"| {c['metric']} | {c['claimed']:.3f} | {c['measured']:.3f} |" for c in claims]
    )
    return dg.MaterializeResult(
        metadata={
            "outcome": "cached" if cached else "evaluated",
            "eval_run_id": eval_run_id,
            "dataset": f"{pin.repo_id}@{pin.revision[:12]}",
            "cache_key": key,
            **{k: float(v) for k, v in scores.items()},
            "claimed_vs_measured": dg.MetadataValue.md(claims_md if claims else "no claims"),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_significant_regression",
                passed=not findings,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "findings": "; ".join(findings) or "no significant drop",
                    "compared_samples": len(previous),
                },
            )
        ],
    )


@dg.asset(
    deps=[shadow_eval_scores],
    group_name="evaluation",
    kinds={"duckdb"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Every evaluated model's latest shadow scores, net score and gate outcome "
    "(registry view v_leaderboard).",
)
def leaderboard(registry: RegistryResource) -> dg.MaterializeResult:
    """Reads v_leaderboard and shows it as a table."""
    frame = leaderboard_frame(registry)
    return dg.MaterializeResult(
        metadata={
            "models": len(frame),
            "leaderboard": dg.MetadataValue.md(
                frame.to_markdown(index=False) if len(frame) else "no evaluations yet"
            ),
            "inputs_fingerprint": fingerprint(frame.to_dict(orient="records")),
        }
    )


def leaderboard_frame(registry: RegistryResource):  # noqa: ANN201 - a pandas DataFrame
    """The leaderboard, best first within each task."""
    reg = registry.get()
    reg.ensure_schema()
    with reg.read() as con:
        return con.execute(
            "SELECT task, model_id, round(qa_f1, 3) AS qa_f1, "
            "round(qa_exact_match, 3) AS qa_em, round(qa_rouge_l, 3) AS rouge_l, "
            "round(qa_bleu, 3) AS bleu, round(ndcg_at_10, 3) AS ndcg_at_10, "
            "round(mrr_at_10, 3) AS mrr_at_10, round(recall_at_10, 3) AS recall_at_10, "
            "round(net_score, 2) AS net_score, gate_passed FROM v_leaderboard "
            "ORDER BY task, coalesce(qa_f1, ndcg_at_10) DESC, model_id"
        ).df()
