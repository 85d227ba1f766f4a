"""The one Definitions object loads with every job, sensor and schedule."""

from hub_assets.definitions import defs


def test_definitions_load():
    assert {j.name for j in defs.resolve_all_job_defs()} >= {
        "main_job",
        "discovery_job",
        "model_pipeline_job",
    }
    for sensor in (
        "candidate_models_sensor",
        "ingest_request_sensor",
        "ingest_request_failure_sensor",
    ):
        assert defs.resolve_sensor_def(sensor)
    schedule = defs.resolve_schedule_def("discovery_schedule")
    assert schedule.cron_schedule == "0 1 * * *" and schedule.job_name == "discovery_job"
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys >= {
        "hub_candidates",
        "model_metadata",
        "trust_metrics",
        "quality_gate",
        "ingested_package",
    }
