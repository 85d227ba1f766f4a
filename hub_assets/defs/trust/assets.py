"""Trust metrics and the quality gate, per model partition."""

from functools import partial

import dagster as dg

from hub_assets.defs.conventions import (
    BATCHED,
    OWNERS,
    for_each_model,
    metered_client,
    retry_when_transient,
    tags,
)
from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.defs.evaluation.assets import shadow_eval_scores
from hub_assets.gate.revision import gate_revision
from hub_assets.hardware.fit import fit_summary
from hub_assets.metrics.revision import score_revision
from hub_assets.metrics.table import DISPLAY_NAMES, GATE_METRICS
from hub_assets.progress import ProgressLines
from hub_assets.resources import EvaluationResource, HubResource, RegistryResource, TrustResource

METRICS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("metric", "string"),
        dg.TableColumn("value", "float", description="0-1"),
        dg.TableColumn("latency_ms", "float"),
        dg.TableColumn("reason", "string"),
        dg.TableColumn("rescored", "bool", description="false: inputs unchanged, value kept"),
    ]
)
FAILED_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("metric", "string"),
        dg.TableColumn("score", "float"),
        dg.TableColumn("threshold", "float"),
        dg.TableColumn("why", "string", description="measured evidence, where there is some"),
    ]
)


def fit_markdown(row: dict) -> str:
    """The hardware fit as a two-column Markdown table for the asset's metadata."""
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in fit_summary(row)]
    return "\n".join(lines)


@dg.asset(
    owners=OWNERS,
    tags=tags("trust"),
    partitions_def=hf_models,
    deps=[model_metadata, shadow_eval_scores],
    group_name="trust",
    kinds={"python", "duckdb"},
    pool="model_runs",
    backfill_policy=BATCHED,
    description="Trust metrics of the model's current revision, each in [0, 1] with its "
    "latency, written to metric_values with lineage (docs/metrics.md). Performance is "
    "judged on the shadow evaluation's measurement where the task has one.",
)
def trust_metrics(
    context: dg.AssetExecutionContext,
    hub: HubResource,
    registry: RegistryResource,
    trust: TrustResource,
    evaluation: EvaluationResource,
) -> dg.MaterializeResult:
    """Scores the revision; unchanged inputs are not rescored (nothing is re-run)."""

    def one(model_id: str) -> dg.MaterializeResult:
        with (
            retry_when_transient(),
            metered_client(context, hub, registry, "trust", model_id) as client,
        ):
            revision = score_revision(
                client,
                registry.get(),
                model_id,
                context.run_id,
                pins=evaluation.pins(),
                scoring_context=partial(
                    trust.scoring_context, progress=ProgressLines(context.log.info)
                ),
            )
        sha, scored, fresh, fit = revision.sha, revision.scored, revision.fresh, revision.fit
        # one line per model: each log line is an event the instance stores
        context.log.info(
            f"{model_id}: "
            + "; ".join(
                f"{s.metric}={s.value:.3f} ({s.reason})" + (" [unchanged]" if s.reused else "")
                for s in scored.values()
            )
        )
        return dg.MaterializeResult(
            metadata={
                "revision_sha": sha,
                "rescored": len(fresh),
                "unchanged": len(scored) - len(fresh),
                "size_score_per_device": dg.MetadataValue.json(fit["fit_per_device"]),
                "hardware_fit": dg.MetadataValue.md(fit_markdown(fit)),
                "metrics": dg.MetadataValue.table(
                    records=[
                        dg.TableRecord(
                            {
                                "metric": s.metric,
                                "value": float(s.value),
                                "latency_ms": float(s.latency_ms),
                                "reason": s.reason,
                                "rescored": not s.reused,
                            }
                        )
                        for s in scored.values()
                    ],
                    schema=METRICS_SCHEMA,
                ),
                **{m: dg.MetadataValue.float(float(s.value)) for m, s in scored.items()},
            }
        )

    return for_each_model(context, one)


@dg.asset(
    owners=OWNERS,
    tags=tags("trust"),
    partitions_def=hf_models,
    deps=[trust_metrics],
    group_name="trust",
    kinds={"duckdb"},
    pool="registry",
    backfill_policy=BATCHED,
    check_specs=[
        dg.AssetCheckSpec(
            name=f"{metric}_meets_threshold",
            asset="quality_gate",
            blocking=True,
            description=f"{DISPLAY_NAMES[metric]} of the current revision meets its gate "
            "threshold; a failure stops everything downstream of the gate.",
        )
        for metric in GATE_METRICS
    ],
    description="The quality gate: every gate metric against its threshold (versioned config, "
    "per-model overrides). Records gate_results and gate_passed / gate_failed.",
)
def quality_gate(
    context: dg.AssetExecutionContext, registry: RegistryResource, trust: TrustResource
) -> dg.MaterializeResult:
    """Decides pass or fail for the current revision and explains it."""

    def one(model_id: str) -> dg.MaterializeResult:
        config = trust.load_gate_config()
        gated = gate_revision(registry.get(), model_id, config, context.run_id)
        sha, decision, scores = gated.sha, gated.decision, gated.scores
        (context.log.info if decision.passed else context.log.warning)(
            f"{model_id}: {decision.message}"
        )
        checks = []
        for metric in GATE_METRICS:
            score, threshold = scores.get(metric), decision.thresholds[metric]
            reason = gated.reasons[metric]
            checks.append(
                dg.AssetCheckResult(
                    check_name=f"{metric}_meets_threshold",
                    passed=score is not None and round(score, 4) >= threshold,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "score": score if score is not None else -1.0,
                        "threshold": threshold,
                        "reason": reason,
                    },
                )
            )
        return dg.MaterializeResult(
            metadata={
                "passed": decision.passed,
                "message": decision.message,
                "revision_sha": sha,
                "config_version": config.version,
                "config_source": config.source,
                "target_device": config.target_device,
                "failed_metrics": dg.MetadataValue.table(
                    records=[
                        dg.TableRecord(
                            {
                                "metric": DISPLAY_NAMES[f["metric"]],
                                "score": float(f["score"]) if f["score"] is not None else None,
                                "threshold": float(f["threshold"]),
                                "why": gated.explanations.get(f["metric"], ""),
                            }
                        )
                        for f in decision.failed
                    ],
                    schema=FAILED_SCHEMA,
                ),
            },
            check_results=checks,
        )

    return for_each_model(context, one)
