"""Daily discovery (cron from HUB_ASSETS_DISCOVERY_CRON, default 01:00 UTC)."""

import os

import dagster as dg

discovery_job = dg.define_asset_job(
    "discovery_job",
    selection=dg.AssetSelection.keys("hub_candidates"),
    description="Scan the Hub for new and changed candidate models.",
)

discovery_schedule = dg.ScheduleDefinition(
    name="discovery_schedule",
    job=discovery_job,
    cron_schedule=os.environ.get("HUB_ASSETS_DISCOVERY_CRON", "0 1 * * *"),
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
