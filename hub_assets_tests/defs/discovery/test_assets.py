"""Discovery assets materialized against the Hub server, and the fan-out the demo uses."""

import dagster as dg

from hub_assets.defs.discovery.assets import hub_candidates, model_metadata
from hub_assets.devhub.demo_catalog import MINILM
from hub_assets_tests.pipeline_resource import pipeline_resources


def resources(hub_server, registry, tmp_path):
    return pipeline_resources(hub_server.url, registry, tmp_path)


def test_candidates_then_metadata_partition(hub_server, registry, tmp_path):
    res = resources(hub_server, registry, tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([hub_candidates], resources=res, instance=instance)
        assert result.success
        meta = result.asset_materializations_for_node("hub_candidates")[0].metadata
        assert meta["new"].value == 26 and meta["candidates_total"].value == 17
        assert meta["offline"].value is False
        changes = meta["new_and_changed"]
        assert {c.name for c in changes.schema.columns} >= {"model", "status", "downloads"}
        assert sum(r.data["status"] == "filtered_out" for r in changes.records) == 9

        instance.add_dynamic_partitions("hf_models", [MINILM])
        run = dg.materialize(
            [model_metadata],
            partition_key=MINILM,
            resources=res,
            instance=instance,
            selection=[model_metadata],
        )
        assert run.success
        mmeta = run.asset_materializations_for_node("model_metadata")[0].metadata
        assert mmeta["source"].value == "hub" and mmeta["license"].value == "apache-2.0"
        assert mmeta["files"].value == 13  # the 12 files of the package, plus .gitattributes
        with registry.read() as con:
            stored = con.execute(
                "SELECT revision_sha, json_extract_string(card_data, '$.license'), run_id "
                "FROM model_revisions WHERE model_id = ?",
                [MINILM],
            ).fetchone()
        assert stored[1] == "apache-2.0" and stored[2] == run.run_id
        assert len(stored[0]) == 40

        again = dg.materialize(
            [model_metadata],
            partition_key=MINILM,
            resources=res,
            instance=instance,
            selection=[model_metadata],
        )
        assert (
            again.asset_materializations_for_node("model_metadata")[0].metadata["source"].value
            == "cache"
        )
