"""Ad-hoc ingestion: requests become per-model runs; failed runs get a clear outcome."""

import dagster as dg

from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.defs.discovery.sensors import model_pipeline_job
from hub_assets.errors import RegistryError
from hub_assets.failures import classify_step_errors
from hub_assets.registry import packages as reg_packages
from hub_assets.registry.models import current_sha, status_history
from hub_assets.registry.packages import REQUEST_TAG, record_failed_request
from hub_assets.registry.store import Registry
from hub_assets.resources import PipelineResource


@dg.sensor(
    job=model_pipeline_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Turns each pending ingest request (`hub-assets ingest`) into a per-model run: "
    "metadata, trust metrics, gate, package — adding the model's partition if needed.",
)
def ingest_request_sensor(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> dg.SensorResult | dg.SkipReason:
    """Cursor: the last request id handed to a run."""
    after = int(context.cursor or 0)
    try:
        with pipeline.get().registry.read() as con:
            pending = reg_packages.pending_requests(con, after)
    except RegistryError as e:
        return dg.SkipReason(str(e))
    if not pending:
        return dg.SkipReason(f"No pending ingest request after {after}.")
    existing = set(context.instance.get_dynamic_partitions(hf_models.name))
    new_keys = sorted({r["model_id"] for r in pending} - existing)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                partition_key=r["model_id"],
                run_key=f"ingest-request-{r['request_id']}",
                run_config={
                    "ops": {
                        "ingested_package": {
                            "config": {
                                "version": r["version"] or None,
                                "description": r["description"],
                                "request_id": r["request_id"],
                            }
                        }
                    }
                },
                tags={REQUEST_TAG: str(r["request_id"])},
            )
            for r in pending
        ],
        dynamic_partitions_requests=[hf_models.build_add_request(new_keys)] if new_keys else [],
        cursor=str(pending[-1]["request_id"]),
    )


@dg.run_failure_sensor(
    monitored_jobs=[model_pipeline_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records why an ad-hoc ingest request failed (not on the Hub, gate failed...).",
)
def ingest_request_failure_sensor(
    context: dg.RunFailureSensorContext, pipeline: PipelineResource
) -> None:
    request = context.dagster_run.tags.get(REQUEST_TAG)
    if request is None:
        return
    outcome, message = classify_step_errors(
        [
            e.event_specific_data.error
            for e in context.get_step_failure_events()
            if e.event_specific_data and e.event_specific_data.error
        ]
    )
    record_failed_request(
        pipeline.get().registry, int(request), context.dagster_run.run_id, message, outcome
    )
    partition = context.dagster_run.tags.get("dagster/partition")
    if partition and outcome in UNKNOWN_MODEL_OUTCOMES:
        forget_unknown_model(context.instance, pipeline.get().registry, partition)


# A request for an id the Hub does not know (or refuses as invalid) judged nothing: its
# partition, added for the request, is removed again unless the registry knows the model.
UNKNOWN_MODEL_OUTCOMES = ("not_found", "invalid")


def forget_unknown_model(instance: dg.DagsterInstance, registry: Registry, model_id: str) -> bool:
    """Delete the hf_models partition of a model the registry has no record of (a request
    for an id the Hub does not know), so no red partition is left behind; True if deleted."""
    with registry.read() as con:
        if status_history(con, model_id) or current_sha(con, model_id):
            return False
    if not instance.has_dynamic_partition(hf_models.name, model_id):
        return False
    instance.delete_dynamic_partition(hf_models.name, model_id)
    return True
