"""The one `Definitions` object of the project (loaded by workspace.yaml and `dagster dev`)."""

from dagster import AssetSelection, Definitions, define_asset_job

from hub_assets.defs import SETTINGS
from hub_assets.defs.conventions import lane
from hub_assets.defs.discovery.assets import hub_candidates, model_metadata
from hub_assets.defs.discovery.schedules import discovery_job, discovery_schedule
from hub_assets.defs.discovery.sensors import candidate_models_sensor, model_pipeline_job
from hub_assets.defs.evaluation.assets import eval_datasets, leaderboard, shadow_eval_scores
from hub_assets.defs.evaluation.schedules import (
    automation_sensor,
    leaderboard_job,
    nightly_shadow_eval_schedule,
    shadow_eval_job,
    stale_evaluations_sensor,
)
from hub_assets.defs.executors import executor_for
from hub_assets.defs.ingest.assets import ingested_package
from hub_assets.defs.ingest.sensors import ingest_request_failure_sensor, ingest_request_sensor
from hub_assets.defs.publishing.assets import published_eval_reports, published_model_cards
from hub_assets.defs.trust.assets import quality_gate, trust_metrics
from hub_assets.defs.trust.health import model_health, model_health_job, model_health_schedule
from hub_assets.defs.trust.jobs import rescoring_job
from hub_assets.defs.trust.rejudge import rejudge_job, rejudged_verdicts, stale_verdicts_sensor
from hub_assets.defs.trust.security import security_scan
from hub_assets.resources import PipelineResource

main_job = define_asset_job(
    "main_job",
    selection=AssetSelection.assets(hub_candidates, eval_datasets),
    description="The pipeline's entry: discovery and the pinned evaluation datasets. The "
    "candidate sensor fans out from it to the per-model partitions (what `make demo` runs).",
    tags=lane("discovery"),
)

defs = Definitions(
    assets=[
        hub_candidates,
        model_metadata,
        security_scan,
        trust_metrics,
        quality_gate,
        rejudged_verdicts,
        model_health,
        ingested_package,
        eval_datasets,
        shadow_eval_scores,
        leaderboard,
        published_eval_reports,
        published_model_cards,
    ],
    jobs=[
        main_job,
        discovery_job,
        model_pipeline_job,
        shadow_eval_job,
        leaderboard_job,
        rescoring_job,
        rejudge_job,
        model_health_job,
    ],
    sensors=[
        candidate_models_sensor,
        ingest_request_sensor,
        ingest_request_failure_sensor,
        automation_sensor,
        stale_verdicts_sensor,
        stale_evaluations_sensor,
    ],
    schedules=[discovery_schedule, nightly_shadow_eval_schedule, model_health_schedule],
    executor=executor_for(SETTINGS),
    # one resource: the pipeline, built from the environment's settings in each run
    resources={"pipeline": PipelineResource()},
)
