"""Rescoring without running anything: metadata, trust metrics and the gate, over one model
or a range of them (a backfill runs HUB_ASSETS_MODELS_PER_RUN models per run)."""

import dagster as dg

from hub_assets.defs.conventions import lane
from hub_assets.defs.discovery.partitions import hf_models

rescoring_job = dg.define_asset_job(
    "rescoring_job",
    selection=dg.AssetSelection.keys(
        "model_metadata", "security_scan", "trust_metrics", "quality_gate"
    ),
    partitions_def=hf_models,
    description="Re-read metadata, rescore and re-judge models (after a gate config change, "
    "or with HUB_ASSETS_REPRO=false for metadata-only scoring); no evaluation, no package.",
    tags=lane("evaluation"),
)
