"""The nightly shadow evaluation, rescoring and gate of every current candidate (default
02:00 UTC), in runs of up to HUB_ASSETS_MODELS_PER_RUN models each; the leaderboard follows by
itself (its eager automation condition, evaluated by `automation_sensor`)."""

import dagster as dg

from hub_assets.comparability import digest
from hub_assets.defs import SETTINGS
from hub_assets.defs.conventions import lane
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.errors import RegistryError
from hub_assets.evaluation.measurement import SCORER_VERSION
from hub_assets.pipeline.rejudge import stale_evaluation_approvals
from hub_assets.registry.models import candidates
from hub_assets.resources import PipelineResource

shadow_eval_job = dg.define_asset_job(
    "shadow_eval_job",
    selection=dg.AssetSelection.keys(
        "security_scan", "shadow_eval_scores", "trust_metrics", "quality_gate"
    ),
    partitions_def=hf_models,
    description="Shadow-evaluate, rescore and re-judge one model or a range of models "
    "(cached: unchanged inputs run nothing); each re-evaluated model's gate is decided again.",
    tags=lane("evaluation"),
)

automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.keys("leaderboard", "published_eval_reports"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Refreshes the leaderboard (and the published evaluation reports, when "
    "publishing is configured) after any model's evaluation changes: their eager automation "
    "conditions.",
)

leaderboard_job = dg.define_asset_job(
    "leaderboard_job",
    selection=dg.AssetSelection.keys("leaderboard"),
    description="Refresh the leaderboard from the registry.",
    tags=lane("evaluation"),
)


def model_ranges(partitions: list[str], wanted: set[str], size: int) -> list[tuple[str, str]]:
    """The wanted partitions as (first, last) ranges of at most `size` partitions, each
    contiguous in the partitions' own order (a range run covers every partition between its
    ends, so an unwanted one ends a range)."""
    ranges: list[tuple[str, str]] = []
    run: list[str] = []
    for key in partitions:
        if key in wanted:
            run.append(key)
            if len(run) < size:
                continue
        if run:
            ranges.append((run[0], run[-1]))
            run = []
    if run:
        ranges.append((run[0], run[-1]))
    return ranges


@dg.schedule(
    job=shadow_eval_job,
    cron_schedule=SETTINGS.shadow_eval_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night, the current candidates shadow-evaluated and rescored in runs of "
    "up to HUB_ASSETS_MODELS_PER_RUN models; the model_runs pool bounds how many run at once.",
)
def nightly_shadow_eval_schedule(
    context: dg.ScheduleEvaluationContext, pipeline: PipelineResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """One run request per range of candidate partitions, keyed by the night it belongs to."""
    try:
        with pipeline.get().registry.read() as con:
            current = candidates(con)
    except RegistryError as e:
        return dg.SkipReason(str(e))
    if not current:
        return dg.SkipReason("No candidates in the registry yet.")
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    partitions = context.instance.get_dynamic_partitions(hf_models.name)
    return [
        dg.RunRequest(
            run_key=f"nightly-{night}-{first}..{last}",
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
        for first, last in model_ranges(partitions, set(current), SETTINGS.models_per_run)
    ]


@dg.sensor(
    job=shadow_eval_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts shadow evaluation runs for approved models whose evaluation was "
    "scored by another scorer version, or on a set revision that is no longer pinned: their "
    "scores are no longer comparable with new ones, so they are measured again (and gated "
    "again on the new measurement).",
)
def stale_evaluations_sensor(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """One run request per range of stale models, keyed by the scorer, the pins and the
    range (each is requested once; a re-evaluation that fails is not retried in a loop)."""
    stages = pipeline.get()
    try:
        stale = stale_evaluation_approvals(stages.registry, stages.pins)
    except RegistryError as e:
        return dg.SkipReason(str(e))
    partitions = context.instance.get_dynamic_partitions(hf_models.name)
    wanted = {model for model, _, _ in stale} & set(partitions)
    if not wanted:
        return dg.SkipReason(
            f"Every approved model's evaluation was scored by scorer v{SCORER_VERSION} on the "
            "pinned sets."
        )
    for model, _, why in stale:
        context.log.info(f"{model}: {why}")
    pins = digest([(p.repo_id, p.revision) for p in stages.pins])[:12]
    return [
        dg.RunRequest(
            run_key=f"re-evaluate-v{SCORER_VERSION}-{pins}-{first}..{last}",
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
                "hub_assets/scorer_version": SCORER_VERSION,
            },
        )
        for first, last in model_ranges(partitions, wanted, SETTINGS.models_per_run)
    ]
