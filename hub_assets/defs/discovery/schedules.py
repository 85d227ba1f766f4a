"""Daily discovery (cron from HUB_ASSETS_DISCOVERY_CRON, default 01:00 UTC)."""

import dagster as dg

from hub_assets.defs import SETTINGS
from hub_assets.defs.conventions import lane

discovery_job = dg.define_asset_job(
    "discovery_job",
    selection=dg.AssetSelection.keys("hub_candidates"),
    description="Scan the Hub for new and changed candidate models.",
    tags=lane("discovery"),
)

discovery_schedule = dg.ScheduleDefinition(
    name="discovery_schedule",
    job=discovery_job,
    cron_schedule=SETTINGS.discovery_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
