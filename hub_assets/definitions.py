"""The one `Definitions` object of the project (loaded by workspace.yaml and `dagster dev`)."""

import os

from dagster import AssetSelection, Definitions, EnvVar, define_asset_job

from hub_assets.defs.hub.assets import hub_inventory_snapshot
from hub_assets.resources import DEFAULT_HUB_ENDPOINT, HubResource

main_job = define_asset_job(
    "main_job",
    selection=AssetSelection.all(),
    description="The whole pipeline, end to end (what `make demo` runs).",
)

defs = Definitions(
    assets=[hub_inventory_snapshot],
    jobs=[main_job],
    resources={
        "hub": HubResource(
            endpoint=os.environ.get("HUB_ASSETS_HUB_ENDPOINT", DEFAULT_HUB_ENDPOINT),
            token=EnvVar("HF_TOKEN") if os.environ.get("HF_TOKEN") else None,
        ),
    },
)
