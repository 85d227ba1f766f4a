"""Shadow evaluations: pinned datasets, per-model scores, the leaderboard."""

import uuid
from dataclasses import asdict
from pathlib import Path

import dagster as dg

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.evaluation.backends import BackendLoadError
from hub_assets.evaluation.datasets import cache_dataset
from hub_assets.evaluation.measurement import METRIC_LABELS, PRIMARY, QA_TASK, Measurement
from hub_assets.evaluation.scorers import SCORER_VERSION
from hub_assets.evaluation.shadow import (
    cache_key,
    evaluate_qa,
    evaluate_retrieval,
    local_evaluation_blocker,
    pin_for,
    regression_findings,
)
from hub_assets.hub.snapshots import LOADABLE_PATTERNS
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.scoring import fingerprint
from hub_assets.metrics.trust import comparable_claims
from hub_assets.packaging.download import GatedModelError
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
            data = cache_dataset(
                pin, hub.endpoint, Path(evaluation.cache_dir), hub.token, offline=hub.offline
            )
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
    pin = pin_for(pipeline_tag, evaluation.pins())
    if pin is None:
        return _not_evaluated(context, f"no evaluation for task {pipeline_tag!r}")
    task = pin.task
    data = cache_dataset(
        pin, hub.endpoint, Path(evaluation.cache_dir), hub.token, offline=hub.offline
    )
    config = evaluation.generation_config()
    key = cache_key(sha, data.fingerprint, config, evaluation.sample_limit)
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
        measurement = Measurement(
            task,
            pin.repo_id,
            pin.revision,
            eval_run_id,
            scores,
            cached["intervals"],
            cached["baseline"],
            cached["samples"],
        )
    else:
        weights = ModelEvidence.from_metadata(model_id, metadata).weight_files()
        blocker = local_evaluation_blocker(weights, trust.limits().max_weight_bytes)
        if blocker:
            return _not_evaluated(context, blocker)
        try:
            with trust.snapshots().use(
                hub.client(), model_id, sha, metadata["info"]["siblings"], LOADABLE_PATTERNS
            ) as snapshot:
                model_dir = snapshot.folder
                result = (
                    evaluate_qa(model_dir, pipeline_tag, data, config, evaluation.sample_limit)
                    if task == QA_TASK
                    else evaluate_retrieval(model_dir, data, config, evaluation.sample_limit)
                )
        except (BackendLoadError, GatedModelError) as e:
            return _not_evaluated(context, str(e).splitlines()[0])
        scores, samples = result.scores, result.samples
        eval_run_id = str(uuid.uuid4())
        measurement = result.measurement(pin.repo_id, pin.revision, eval_run_id)
        claims = comparable_claims(metadata["card_data"], measurement)
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
                intervals=result.intervals,
                baseline=result.baseline,
                backend=result.backend,
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
                            "interval": result.intervals.get(name),
                            "chance": result.baseline["scores"].get(name),
                            "baseline": result.baseline["name"],
                            "backend": result.backend,
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
    primary = PRIMARY[task][0]
    interval = measurement.interval(primary) or (0.0, 0.0)
    chance = measurement.chance(primary)
    return dg.MaterializeResult(
        metadata={
            "outcome": "cached" if cached else "evaluated",
            "eval_run_id": eval_run_id,
            "dataset": f"{pin.repo_id}@{pin.revision[:12]}",
            "cache_key": key,
            # plottable across runs in the UI: the primary metric under its own name
            **{k: dg.MetadataValue.float(float(v)) for k, v in scores.items()},
            "primary_metric": primary,
            "ci_low": float(interval[0]),
            "ci_high": float(interval[1]),
            "chance": float(chance) if chance is not None else -1.0,
            "above_chance": measurement.above_chance(),
            "measured": measurement.describe(primary),
            "claimed_vs_measured": dg.MetadataValue.table(
                records=[
                    dg.TableRecord(
                        {
                            "metric": METRIC_LABELS.get(c["metric"], c["metric"]),
                            "claimed": c["claimed"],
                            "measured": c["measured"],
                            "ci_low": c["interval"][0],
                            "ci_high": c["interval"][1],
                            "verdict": "contradicted" if c["contradicted"] else "consistent",
                        }
                    )
                    for c in claims
                ],
                schema=CLAIMS_SCHEMA,
            ),
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


CLAIMS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("metric", "string"),
        dg.TableColumn("claimed", "float", description="value in the card's model-index"),
        dg.TableColumn("measured", "float", description="shadow evaluation, pinned dataset"),
        dg.TableColumn("ci_low", "float", description="95% bootstrap interval, low"),
        dg.TableColumn("ci_high", "float", description="95% bootstrap interval, high"),
        dg.TableColumn("verdict", "string"),
    ]
)
LEADERBOARD_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("task", "string"),
        dg.TableColumn("model_id", "string", description="(chance: ...) rows: trivial system"),
        dg.TableColumn("metric", "string", description="the task's primary metric"),
        dg.TableColumn("score", "float"),
        dg.TableColumn("ci_low", "float", description="95% bootstrap interval, low"),
        dg.TableColumn("ci_high", "float", description="95% bootstrap interval, high"),
        dg.TableColumn("chance", "float", description="the chance baseline on the same samples"),
        dg.TableColumn("above_chance", "bool", description="ci_low > chance"),
        dg.TableColumn("claimed", "float", description="the card's claim, same metric"),
        dg.TableColumn("claim", "string", description="consistent or contradicted"),
        dg.TableColumn("backend", "string"),
        dg.TableColumn("net_score", "float"),
        dg.TableColumn("gate_passed", "bool"),
    ]
)


def _not_evaluated(context: dg.AssetExecutionContext, reason: str) -> dg.MaterializeResult:
    """A model this machine cannot evaluate: no measurement, so its gate judges the card."""
    context.log.info(f"{context.partition_key}: not evaluated: {reason}")
    return dg.MaterializeResult(
        metadata={"outcome": f"not evaluated: {reason}"},
        check_results=[
            dg.AssetCheckResult(
                check_name="no_significant_regression",
                passed=True,
                metadata={"note": "not evaluated"},
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
    """Reads the leaderboard (with a chance row per task) and shows it as a table."""
    frame = leaderboard_frame(registry)
    records = [
        dg.TableRecord({k: (None if v != v else v) for k, v in row.items()})  # NaN → None
        for row in frame.to_dict(orient="records")
    ]
    return dg.MaterializeResult(
        metadata={
            "models": int((~frame["model_id"].str.startswith("(chance")).sum()),
            "leaderboard": dg.MetadataValue.table(records=records, schema=LEADERBOARD_SCHEMA),
            "inputs_fingerprint": fingerprint(frame.to_dict(orient="records")),
        }
    )


def leaderboard_frame(registry: RegistryResource):  # noqa: ANN201 - a pandas DataFrame
    """The leaderboard, best first within each task, chance rows included."""
    reg = registry.get()
    reg.ensure_schema()
    with reg.read() as con:
        return reg_eval.leaderboard(con)
