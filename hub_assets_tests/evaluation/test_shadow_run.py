"""The shadow evaluation's core entry point, called directly."""

from pathlib import Path

import dagster as dg

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.devhub.demo_catalog import ORG, QA_MODEL
from hub_assets.discovery.candidates import discover
from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.datasets import DEFAULT_PINS
from hub_assets.evaluation.shadow_run import run_shadow_evaluation
from hub_assets.hub.snapshots import SnapshotStore
from hub_assets.resources import HubResource, RegistryResource


def test_evaluated_then_cached_then_not_evaluated(hub_server, hub_client, registry, tmp_path):
    discover(hub_client, registry, run_id="d")
    oversized = f"{ORG}/gpt2-oversized"
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hf_models", [QA_MODEL, oversized])
        for model in (QA_MODEL, oversized):
            dg.materialize(
                [model_metadata],
                partition_key=model,
                instance=instance,
                resources={
                    "hub": HubResource(endpoint=hub_server.url, cache_dir=str(tmp_path / "c")),
                    "registry": RegistryResource(path=str(registry.path)),
                },
            )

    def run(model):
        return run_shadow_evaluation(
            model,
            client=hub_client,
            registry=registry,
            snapshots=SnapshotStore(tmp_path / "snapshots"),
            pins=DEFAULT_PINS,
            cache_dir=Path(tmp_path / "eval"),
            config=GenerationConfig(batch_size=16),
            sample_limit=25,
            max_weight_bytes=10**9,
            run_id="r",
        )

    first = run(QA_MODEL)
    assert first.status == "evaluated" and first.measurement.samples == 25
    assert first.measurement.task == "qa" and first.claims  # the card claims F1 and EM
    again = run(QA_MODEL)
    assert again.status == "cached"
    assert again.measurement.eval_run_id == first.measurement.eval_run_id
    big = run(oversized)
    assert big.status == "not_evaluated" and "exceed the 1.0 GB local limit" in big.reason
    with registry.read() as con:
        runs = con.execute("SELECT count(*) FROM eval_runs").fetchone()[0]
    assert runs == 1
