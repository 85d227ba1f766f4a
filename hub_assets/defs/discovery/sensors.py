"""The candidate sensor: a partition per new candidate, a run per new or changed revision."""

import dagster as dg

from hub_assets.defs.conventions import lane
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.errors import RegistryError
from hub_assets.registry.models import candidate_events_after
from hub_assets.resources import PipelineResource

# Dagster checks each run request's partition with one query, so a tick asking for 10,000
# runs takes ~30 s; at most this many per tick keeps each under a few seconds (and the
# queue cannot start more at once anyway). The cursor resumes at the next event.
MAX_RUN_REQUESTS_PER_TICK = 1000

model_pipeline_job = dg.define_asset_job(
    "model_pipeline_job",
    selection=dg.AssetSelection.keys("model_metadata").downstream()
    - dg.AssetSelection.keys("leaderboard"),
    partitions_def=hf_models,
    description="One candidate end to end: metadata, trust metrics, quality gate, package, "
    "shadow evaluation (every per-model stage).",
    tags=lane("per_model"),
)


@dg.sensor(
    job=model_pipeline_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds an hf_models partition for each new candidate and requests a per-model "
    "pipeline run for every candidate event since the cursor (new models, new revisions).",
)
def candidate_models_sensor(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> dg.SensorResult | dg.SkipReason:
    """Cursor: the last `model_status_events.event_id` handled."""
    after = int(context.cursor or 0)
    try:
        with pipeline.get().registry.read() as con:
            rows, last = candidate_events_after(con, after, MAX_RUN_REQUESTS_PER_TICK)
    except RegistryError as e:
        return dg.SkipReason(str(e))
    if not rows:
        return dg.SkipReason(f"No new candidate events after event {after}.")
    existing = set(context.instance.get_dynamic_partitions(hf_models.name))
    new_keys = [m for m, _, _ in rows if m not in existing]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(partition_key=m, run_key=f"{m}@{sha}", tags={"hub_assets/revision": sha})
            for m, sha, _ in rows
        ],
        dynamic_partitions_requests=[hf_models.build_add_request(new_keys)] if new_keys else [],
        cursor=str(last),
    )
