"""Each model's health in Dagster: the `model_health` check on each `quality_gate`
partition (red when a model is stale, at risk or revoked, with the reason), evaluated when
the model is gated and again by the hourly `model_health` sweep, which shows the counts
and every model that is not ok. The health itself is computed in the registry
(`pipeline.health`), one query for every model, not one run per partition."""

import dagster as dg

from hub_assets.defs.conventions import OWNERS, lane, tags
from hub_assets.defs.trust.rejudge import rejudged_verdicts
from hub_assets.pipeline.health import HealthPolicy, ModelHealth, health_report
from hub_assets.resources import PipelineResource
from hub_assets.states import Health

MODEL_HEALTH_CHECK = "model_health"
GATE_ASSET = dg.AssetKey("quality_gate")
SHOWN = 500  # rows of the not-ok table in the sweep's metadata
REMEMBERED = 10_000  # not-ok models the sweep remembers, to turn their checks green again


def health_check(one: ModelHealth) -> dg.AssetCheckResult:
    """A model's health as its gate partition's `model_health` check (a warning: the mirror
    already refuses what is revoked; stale and at-risk models need a new judgement)."""
    return dg.AssetCheckResult(
        check_name=MODEL_HEALTH_CHECK,
        passed=one.health == Health.OK,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{one.health}: {one.reason}"[:500],
        metadata={
            "health": one.health,
            "reason": one.reason[:1000],
            "revision_sha": one.revision_sha or "",
        },
    )


def _evaluation(one: ModelHealth) -> dg.AssetCheckEvaluation:
    result = health_check(one)
    return dg.AssetCheckEvaluation(
        asset_key=GATE_ASSET,
        check_name=MODEL_HEALTH_CHECK,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
        partition=one.model_id,
    )


def _previously_not_ok(context: dg.AssetExecutionContext) -> set[str]:
    """The models the last sweep found not ok (its own metadata)."""
    event = context.instance.get_latest_materialization_event(context.asset_key)
    materialization = event.asset_materialization if event else None
    entry = (materialization.metadata if materialization else {}).get("not_ok_models")
    return set(entry.value) if entry is not None else set()


@dg.asset(
    owners=OWNERS,
    group_name="trust",
    tags=tags("trust"),
    kinds={"duckdb"},
    deps=[rejudged_verdicts],
    description="Every judged model's health (ok, stale, at_risk, revoked) with its reason, "
    "computed in the registry under the current gate, scanners and scorer. Each model's "
    "quality_gate partition gets its model_health check: red when it is not ok, green again "
    "when it recovers.",
)
def model_health(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    """Compute every model's health; report the checks of those not ok now or at the last
    sweep; show the counts and the models that are not ok."""
    stages = pipeline.get()
    gate = stages.gate_config()
    report = health_report(stages.registry, gate, HealthPolicy.of(stages.settings))
    before = _previously_not_ok(context)
    partitions = set(context.instance.get_dynamic_partitions("hf_models"))
    not_ok = [h for h in report if h.health != Health.OK]
    reported = 0
    for one in report:
        if one.model_id in partitions and (one.health != Health.OK or one.model_id in before):
            context.log_event(_evaluation(one))  # in this run: one per model
            reported += 1
    counts = {h.value: 0 for h in Health}
    for one in report:
        counts[one.health] += 1
    rows = "\n".join(
        f"| {h.model_id} | {h.health} | {h.reason[:200]} | `{(h.revision_sha or '')[:12]}` |"
        for h in not_ok[:SHOWN]
    )
    return dg.MaterializeResult(
        metadata={
            **{h: dg.MetadataValue.int(n) for h, n in counts.items()},
            "judged": len(report),
            "checks_reported": reported,
            "not_ok": dg.MetadataValue.md(
                "| model | health | why | revision |\n|---|---|---|---|\n" + rows
                if rows
                else "Every judged model is ok."
            ),
            "not_ok_models": dg.MetadataValue.json([h.model_id for h in not_ok[:REMEMBERED]]),
        }
    )


model_health_job = dg.define_asset_job(
    "model_health_job",
    selection=dg.AssetSelection.assets(model_health),
    description="Compute every model's health and its per-model checks.",
    tags=lane("evaluation"),
)

model_health_schedule = dg.ScheduleDefinition(
    name="model_health_schedule",
    job=model_health_job,
    cron_schedule="17 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: evidence ages and scanners change without any run, so health is "
    "computed again on the clock.",
)
