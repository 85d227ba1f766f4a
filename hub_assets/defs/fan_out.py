"""Run the candidate sensor once and its run requests in-process (what the daemon would do).

`hub-assets demo` uses this so the demo needs no daemon; the runs land in DAGSTER_HOME and
show in the UI like any other.
"""

import dagster as dg

from hub_assets.definitions import defs


def tick_candidate_sensor(instance: dg.DagsterInstance, cursor: str | None = None) -> dict:
    """Evaluate the sensor, add the partitions it asks for, run what it requests.

    Returns {"cursor": ..., "runs": {partition_key: success}} .
    """
    sensor = defs.resolve_sensor_def("candidate_models_sensor")
    resources = defs.resources or {}
    # instance_ref (not instance): run requests for partitions added in the same tick are
    # resolved against the instance's dynamic partitions, as the daemon does.
    with dg.build_sensor_context(
        instance_ref=instance.get_ref(), cursor=cursor, definitions=defs, resources=resources
    ) as ctx:
        data = sensor.evaluate_tick(ctx)
    for req in data.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    job = defs.resolve_job_def("model_pipeline_job")
    runs: dict[str, bool] = {}
    for rr in data.run_requests or []:
        result = job.execute_in_process(
            partition_key=rr.partition_key,
            instance=instance,
            # the terminal shows the summary; every event is in the run's log in the UI
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            tags={**rr.tags, "dagster/sensor_name": sensor.name},
            raise_on_error=False,
        )
        runs[rr.partition_key] = result.success
    return {"cursor": data.cursor, "runs": runs}
