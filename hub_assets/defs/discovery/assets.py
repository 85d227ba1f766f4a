"""Discovery assets: candidates from the Hub, and each candidate's metadata."""

from dagster import (
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
)
from pydantic import Field

from hub_assets.defs.conventions import (
    BATCHED,
    DAILY,
    OWNERS,
    VERDICT_TAG,
    ModelEvents,
    for_each_model,
    metered_client,
    retry_when_transient,
    tags,
)
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.registry.packages import REQUEST_TAG
from hub_assets.resources import PipelineResource
from hub_assets.states import Verdict

CHANGES_SCHEMA = TableSchema(
    columns=[
        TableColumn("model", "string"),
        TableColumn("change", "string", description="new or changed (a new revision)"),
        TableColumn("status", "string", description="candidate or filtered_out"),
        TableColumn("reason", "string", description="why it was filtered out"),
        TableColumn("license", "string"),
        TableColumn("downloads", "int"),
    ]
)


class DiscoveryRunConfig(Config):
    """Per-run options of discovery (the Launchpad shows them)."""

    full_rescan: bool = Field(
        default=False,
        description="Walk every page instead of stopping at the first page with nothing new.",
    )


@asset(
    owners=OWNERS,
    tags=tags("discovery"),
    freshness_policy=DAILY,
    group_name="discovery",
    kinds={"huggingface", "duckdb"},
    description="Models on the Hub worth a look: scanned per pipeline tag, filtered, recorded "
    "in the registry tables `models` and `model_status_events`.",
)
def hub_candidates(
    context: AssetExecutionContext,
    config: DiscoveryRunConfig,
    pipeline: PipelineResource,
) -> MaterializeResult:
    """Runs an incremental discovery scan and reports what is new or changed."""
    stages = pipeline.get()
    with metered_client(context, stages, "discovery") as client:
        outcome = stages.discover(client, context.run_id, full=config.full_rescan)
    counts = outcome.counts()
    if outcome.offline:
        context.log.warning(
            f"Hub at {stages.endpoint} unreachable: registry unchanged, "
            f"{counts['candidates_total']} candidates as of the last scan."
        )
    else:
        context.log.info(f"Discovery: {counts}")
    return MaterializeResult(
        metadata={
            **counts,
            "offline": outcome.offline,
            "source": "registry (Hub unreachable)" if outcome.offline else "hub",
            "hub_endpoint": MetadataValue.url(stages.endpoint),
            "pipeline_tags": ", ".join(stages.pipeline_tags),
            "new_and_changed": MetadataValue.table(
                records=[TableRecord(row) for row in outcome.changes()], schema=CHANGES_SCHEMA
            ),
        }
    )


@asset(
    owners=OWNERS,
    tags=tags("discovery"),
    partitions_def=hf_models,
    deps=[hub_candidates],
    group_name="discovery",
    backfill_policy=BATCHED,
    kinds={"huggingface", "duckdb"},
    description="One model's Hub metadata at its current revision: info with file metadata, "
    "card YAML and text, commits with authors, config.json (registry: model_revisions).",
)
def model_metadata(context: AssetExecutionContext, pipeline: PipelineResource) -> ModelEvents:
    """Fetches (or reads from the cache) and stores a model's metadata by revision sha."""
    stages = pipeline.get()

    def one(model_id: str) -> MaterializeResult:
        with (
            retry_when_transient(),
            metered_client(context, stages, "metadata", model_id) as client,
        ):
            recorded = stages.record_metadata(
                client,
                model_id,
                context.run_id,
                # an ad-hoc request (or its retry) judges what the Hub has now
                resolve_latest=REQUEST_TAG in context.run.tags,
            )
        sha, fetched = recorded.sha, recorded.fetched
        info = fetched.data["info"]
        if fetched.offline:
            context.log.warning(
                f"{model_id}: Hub unreachable, used metadata cached at {fetched.fetched_at}"
            )
        authors = sorted({a for c in fetched.data["commits"] for a in c["authors"]})
        return MaterializeResult(
            metadata={
                "revision_sha": sha,
                "source": "cache (Hub unreachable)"
                if fetched.offline
                else "cache"
                if fetched.from_cache
                else "hub",
                "fetched_at": fetched.fetched_at,
                "license": info.get("license") or "none",
                "files": len(info["siblings"]),
                "total_bytes": sum(s["size"] or 0 for s in info["siblings"]),
                "commits": len(fetched.data["commits"]),
                "authors": ", ".join(authors),
            }
        )

    if context.has_partition_key and VERDICT_TAG not in context.run.tags:
        # the gate replaces it; a run that ends before the gate keeps it
        context.instance.add_run_tags(context.run_id, {VERDICT_TAG: Verdict.NOT_EVALUATED.value})
    yield from for_each_model(context, one)
