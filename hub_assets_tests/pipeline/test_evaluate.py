"""The shadow evaluation's core entry point, called directly."""

from pathlib import Path

import dagster as dg

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.trust.security import security_scan
from hub_assets.devhub.demo_catalog import ORG, QA_MODEL
from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.datasets import DEFAULT_PINS
from hub_assets.hub.snapshots import SnapshotStore
from hub_assets.pipeline.discover import discover
from hub_assets.pipeline.evaluate import run_shadow_evaluation
from hub_assets.registry.metrics import write_metrics
from hub_assets_tests.pipeline_resource import pipeline_resources


def test_evaluated_then_cached_then_not_evaluated(hub_server, hub_client, registry, tmp_path):
    discover(hub_client, registry, run_id="d")
    oversized = f"{ORG}/gpt2-oversized"
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [QA_MODEL, oversized])
        for model in (QA_MODEL, oversized):
            dg.materialize(
                [model_metadata, security_scan],
                partition_key=model,
                instance=instance,
                resources=pipeline_resources(
                    hub_server.url, registry, tmp_path, work_dir=str(tmp_path)
                ),
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
            regression_alpha=0.05,
            regression_min_samples=30,
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
    # a failing security verdict: never evaluated, locally or through an inference API
    with registry.write() as con:
        sha = con.execute(
            "SELECT revision_sha FROM metric_values WHERE model_id = ? AND metric = 'security'",
            [QA_MODEL],
        ).fetchone()[0]
        write_metrics(
            con,
            QA_MODEL,
            sha,
            [
                {
                    "metric": "security",
                    "value": 0.0,
                    "latency_ms": 1.0,
                    "inputs_fingerprint": "rescanned",
                    "code_version": "security/test",
                    "details": {"reason": "model.pkl: dangerous (picklescan: posix.system)"},
                }
            ],
            "r2",
        )
    refused = run(QA_MODEL)
    assert refused.status == "not_evaluated" and refused.measurement is None
    assert refused.reason.startswith(f"not evaluated: the security verdict on {sha[:12]} failed")
    assert "posix.system" in refused.reason
