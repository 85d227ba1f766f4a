"""The nightly shadow evaluation of every current candidate (default 02:00 UTC)."""

import dagster as dg

from hub_assets.defs import SETTINGS
from hub_assets.defs.conventions import lane
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.registry.models import candidates
from hub_assets.registry.store import RegistryError
from hub_assets.resources import RegistryResource

shadow_eval_job = dg.define_asset_job(
    "shadow_eval_job",
    selection=dg.AssetSelection.keys("shadow_eval_scores"),
    partitions_def=hf_models,
    description="Shadow-evaluate one model (cached: unchanged inputs run nothing).",
    tags=lane("evaluation"),
)

leaderboard_job = dg.define_asset_job(
    "leaderboard_job",
    selection=dg.AssetSelection.keys("leaderboard"),
    description="Refresh the leaderboard from the registry.",
    tags=lane("evaluation"),
)


@dg.schedule(
    job=shadow_eval_job,
    cron_schedule=SETTINGS.shadow_eval_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every night, a shadow evaluation run per current candidate; the model_runs "
    "pool bounds how many run at once.",
)
def nightly_shadow_eval_schedule(
    context: dg.ScheduleEvaluationContext, registry: RegistryResource
) -> list[dg.RunRequest] | dg.SkipReason:
    """One run request per candidate partition, keyed by the night it belongs to."""
    try:
        with registry.get().read() as con:
            current = candidates(con)
    except RegistryError as e:
        return dg.SkipReason(str(e))
    if not current:
        return dg.SkipReason("No candidates in the registry yet.")
    night = context.scheduled_execution_time.strftime("%Y-%m-%d")
    known = set(context.instance.get_dynamic_partitions(hf_models.name))
    return [
        dg.RunRequest(
            partition_key=model_id,
            run_key=f"nightly-{night}-{model_id}",
            tags={"hub_assets/revision": sha or ""},
        )
        for model_id, sha in current.items()
        if model_id in known
    ]
