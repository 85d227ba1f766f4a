"""Assets of the hub domain: what the configured Hub serves."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from hub_assets.hub.inventory import hub_inventory, inventory_markdown
from hub_assets.resources import HubResource


@asset(
    group_name="hub",
    kinds={"huggingface"},
    description="Every model and dataset repo the configured Hub lists, with its metadata.",
)
def hub_inventory_snapshot(context: AssetExecutionContext, hub: HubResource) -> MaterializeResult:
    """Lists the Hub's repos through the real client and reports them as metadata."""
    rows = hub_inventory(hub.api())
    models = [r for r in rows if r.repo_type == "model"]
    datasets = [r for r in rows if r.repo_type == "dataset"]
    context.log.info(f"Hub {hub.endpoint} lists {len(models)} models, {len(datasets)} datasets")
    return MaterializeResult(
        metadata={
            "hub_endpoint": MetadataValue.url(hub.endpoint),
            "models": len(models),
            "datasets": len(datasets),
            "repos": MetadataValue.md(inventory_markdown(rows[:200])),
        }
    )
