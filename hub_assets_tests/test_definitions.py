"""The one Definitions object loads, and its assets run against the Hub server."""

from dagster import DagsterInstance, materialize

from hub_assets.definitions import defs
from hub_assets.defs.hub.assets import hub_inventory_snapshot
from hub_assets.resources import HubResource


def test_definitions_load():
    job = defs.resolve_job_def("main_job")
    assert job.name == "main_job"
    assert defs.resolve_assets_def("hub_inventory_snapshot")


def test_inventory_snapshot_materializes_against_the_hub(hub_server):
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [hub_inventory_snapshot],
            resources={"hub": HubResource(endpoint=hub_server.url)},
            instance=instance,
        )
    assert result.success
    meta = result.asset_materializations_for_node("hub_inventory_snapshot")[0].metadata
    assert meta["models"].value == 15 and meta["datasets"].value == 2
    assert "hub-assets-demo/tiny-gpt2-gated | text-generation | apache-2.0" in meta["repos"].value
    assert hub_server.requests["GET /api/models"] == 1
