"""trust_metrics and quality_gate through Dagster: each model's checks are its own partition's,
a rejection is a verdict (the run succeeds, packaging is skipped), not a failed run."""

import dagster as dg
import pytest

from hub_assets.defs.conventions import VERDICT_TAG
from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.evaluation.assets import eval_datasets, shadow_eval_scores
from hub_assets.defs.ingest.assets import ingested_package
from hub_assets.defs.trust.assets import quality_gate, trust_metrics
from hub_assets.defs.trust.security import security_scan
from hub_assets.devhub.demo_catalog import ORG, QA_MODEL
from hub_assets.metrics.table import GATE_METRICS
from hub_assets.pipeline.discover import discover
from hub_assets.registry.models import status_history
from hub_assets_tests.outside_world import outside_world_watched
from hub_assets_tests.pipeline_resource import pipeline_resources

PASSING = QA_MODEL
FAILING = f"{ORG}/tiny-gpt2-stale"


def gate_check_status(instance: dg.DagsterInstance) -> dict[tuple[str, str], str]:
    """(check, model) → the latest evaluation's status, as the UI's partition view reads it."""
    keys = [
        dg.AssetCheckKey(dg.AssetKey("quality_gate"), f"{m}_meets_threshold") for m in GATE_METRICS
    ]
    return {
        (info.check_key.name, info.partition_key): info.latest_execution_status.value
        for info in instance.event_log_storage.get_asset_check_partition_info(keys)
    }


def materialize_chain(model_id, instance, resources):
    return dg.materialize(
        [
            model_metadata,
            security_scan,
            shadow_eval_scores,
            trust_metrics,
            quality_gate,
            ingested_package,
        ],
        partition_key=model_id,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


@pytest.mark.slow
def test_gate_pass_and_fail_through_dagster(hub_client, hub_server, registry, tmp_path):
    discover(hub_client, registry, run_id="d1")
    resources = pipeline_resources(hub_server.url, registry, tmp_path, eval_sample_limit=60)
    # every request beyond loopback is caught: the stages (eval_datasets and the overlap
    # check's `datasets` children, transformers, `evaluate`, the reproducibility child,
    # packaging) ask nothing of the world beyond the suite's Hub
    with (
        pytest.MonkeyPatch.context() as mp,
        outside_world_watched(mp) as world,
        dg.DagsterInstance.ephemeral() as instance,
    ):
        instance.add_dynamic_partitions("hf_models", [PASSING, FAILING])
        assert dg.materialize([eval_datasets], instance=instance, resources=resources).success
        ok = materialize_chain(PASSING, instance, resources)
        assert ok.success
        assert ok.asset_materializations_for_node("ingested_package")
        assert instance.get_run_by_id(ok.run_id).tags[VERDICT_TAG] == "passed"
        meta = ok.asset_materializations_for_node("trust_metrics")[0].metadata
        # security was judged by security_scan before anything loaded the model: reused here
        assert meta["rescored"].value == 12 and meta["net_score"].value > 0.9
        rows = {r.data["metric"]: r.data for r in meta["metrics"].value.records}
        assert len(rows) == 13 and rows["reproducibility"]["value"] == 1.0
        assert rows["security"]["rescored"] is False and rows["security"]["value"] == 1.0
        scan = ok.asset_materializations_for_node("security_scan")[0].metadata
        assert scan["cleared"].value is True and scan["rescanned"].value is True
        checks = [
            c
            for c in ok.get_asset_check_evaluations()
            if c.asset_key == dg.AssetKey("quality_gate")
        ]
        # one check per gate metric, and the model's health (judged just now: ok)
        assert len(checks) == 12 and all(c.passed for c in checks)
        assert {c.partition for c in checks} == {PASSING}
        [health] = [c for c in checks if c.check_name == "model_health"]
        assert health.metadata["health"].value == "ok"
        # the passing model's page says why it passed: every metric, the measurement
        gate = ok.asset_materializations_for_node("quality_gate")[0].metadata
        assert gate["verdict"].value == "passed"
        evidence = {r.data["metric"]: r.data for r in gate["evidence"].value.records}
        assert len(evidence) == 11 and all(r["verdict"] == "pass" for r in evidence.values())
        perf = evidence["Performance Claims"]
        assert perf["why"].startswith("measured F1") and perf["score"] == round(perf["score"], 2)
        measured = gate["claimed_vs_measured"].value.records[0].data
        assert measured["ci_low"] <= measured["measured"] <= measured["ci_high"]
        assert gate["licence_chain"].value.startswith(PASSING)
        assert gate["worst_samples"].value.endswith(f"/models/{PASSING}/samples")
        assert gate["evaluation_run"].value == f"/runs/{ok.run_id}"
        evaluated = ok.asset_materializations_for_node("shadow_eval_scores")[0].metadata
        worst = [r.data for r in evaluated["worst_samples"].value.records]
        assert len(worst) == 10 and worst[0]["score"] <= worst[-1]["score"]
        assert all(w["input"] and w["reference"] for w in worst)
        assert evaluated["f1"].value == round(evaluated["f1"].value, 3)
        package = ok.asset_materializations_for_node("ingested_package")[0].metadata
        assert package["uri"].value.startswith("file:///")
        assert "/packages/" in package["proof"].value

        bad = materialize_chain(FAILING, instance, resources)
        # a rejection is a verdict: the run succeeds, packaging is skipped, the tag says so
        assert bad.success
        assert instance.get_run_by_id(bad.run_id).tags[VERDICT_TAG] == "failed"
        gate = bad.asset_materializations_for_node("quality_gate")[0].metadata
        assert gate["passed"].value is False
        assert gate["verdict"].value.startswith("rejected: Performance Claims")
        evidence = {r.data["metric"]: r.data for r in gate["evidence"].value.records}
        bus = evidence["Bus Factor"]
        assert bus["verdict"] == "fail" and bus["score"] < bus["threshold"] == 0.5
        assert bus["why"]  # the stored reason, not an empty column
        assert gate["message"].value.startswith(
            "Model does not meet quality requirements. Failed metrics: Performance Claims"
        )
        failed_checks = {c.check_name for c in bad.get_asset_check_evaluations() if not c.passed}
        assert "bus_factor_meets_threshold" in failed_checks
        assert not bad.asset_materializations_for_node("ingested_package")
        logged = [e.user_message for e in instance.all_logs(bad.run_id)]
        assert [m for m in logged if "skipped packaging" in m and "Bus Factor" in m]
        status = gate_check_status(instance)
        assert status[("bus_factor_meets_threshold", PASSING)] == "SUCCEEDED"
        assert status[("bus_factor_meets_threshold", FAILING)] == "FAILED"

        again = dg.materialize(
            [trust_metrics], partition_key=PASSING, instance=instance, resources=resources
        )
        assert (
            again.asset_materializations_for_node("trust_metrics")[0].metadata["rescored"].value
            == 0
        )

        # One run over a range of models (the nightly schedule's and a backfill's shape):
        # each model gets its own materialization and metadata, a check passes only if it
        # passed for every model, and a model that fails does not stop the others.
        instance.add_dynamic_partitions("hf_models", ["ghost/not-in-registry"])
        ranged = dg.materialize(
            [trust_metrics, quality_gate],
            instance=instance,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": PASSING,
                "dagster/asset_partition_range_end": FAILING,
            },
            raise_on_error=False,
        )
        assert ranged.success  # a rejection is a verdict
        gates = {
            m.partition: m.metadata for m in ranged.asset_materializations_for_node("quality_gate")
        }
        assert {k: v["passed"].value for k, v in gates.items()} == {PASSING: True, FAILING: False}
        scored = ranged.asset_materializations_for_node("trust_metrics")
        assert sorted(m.partition for m in scored) == sorted([PASSING, FAILING])
        assert all(m.metadata["rescored"].value == 0 for m in scored)
        # each model's check evaluation is its own partition's, in a ranged run too
        bus = {
            c.partition: c.passed
            for c in ranged.get_asset_check_evaluations()
            if c.check_name == "bus_factor_meets_threshold"
        }
        assert bus == {PASSING: True, FAILING: False}
        status = gate_check_status(instance)
        assert status[("bus_factor_meets_threshold", FAILING)] == "FAILED"
        assert status[("license_meets_threshold", PASSING)] == "SUCCEEDED"
        with_ghost = dg.materialize(
            [trust_metrics],
            instance=instance,
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": PASSING,
                "dagster/asset_partition_range_end": "ghost/not-in-registry",
            },
            raise_on_error=False,
        )
        assert not with_ghost.success
        logged = [e.user_message for e in instance.all_logs(with_ghost.run_id)]
        # the model after PASSING still ran: one line with all its metrics
        assert [m for m in logged if m.startswith(f"{FAILING}: ") and "bus_factor=" in m]
        failure = with_ghost.failure_data_for_node("trust_metrics").user_failure_data
        assert failure.description.startswith("1 of 3 models failed")
        assert list(failure.metadata["failed"].value) == ["ghost/not-in-registry"]

    with registry.read() as con:
        gate_rows = dict(con.execute("SELECT model_id, passed FROM gate_results").fetchall())
        lineage = con.execute(
            "SELECT count(*), count(DISTINCT run_id), min(length(inputs_fingerprint)), "
            "count(DISTINCT code_version) FROM metric_values "
            "WHERE model_id = ? AND metric NOT LIKE 'shadow_%'",
            [PASSING],
        ).fetchone()
        history = [h[1] for h in status_history(con, FAILING)]
    assert gate_rows == {PASSING: True, FAILING: False}
    assert lineage == (13, 1, 64, 13)
    assert history[-3:] == ["evaluated", "gate_failed", "gate_failed"]  # single, then ranged
    assert world.requests == []
