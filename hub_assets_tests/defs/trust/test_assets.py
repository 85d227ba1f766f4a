"""trust_metrics and quality_gate through Dagster: blocking checks stop what follows a gate."""

import dagster as dg

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.evaluation.assets import eval_datasets, shadow_eval_scores
from hub_assets.defs.trust.assets import quality_gate, trust_metrics
from hub_assets.defs.trust.security import security_scan
from hub_assets.devhub.demo_catalog import ORG, QA_MODEL
from hub_assets.discovery.candidates import discover
from hub_assets.registry.models import status_history
from hub_assets.resources import (
    EvaluationResource,
    HubResource,
    InferenceApiResource,
    RegistryResource,
    TrustResource,
)

PASSING = QA_MODEL
FAILING = f"{ORG}/tiny-gpt2-stale"


@dg.asset(partitions_def=quality_gate.partitions_def, deps=[quality_gate])
def after_the_gate(context: dg.AssetExecutionContext) -> None:
    """Stands for what follows the gate (packaging): it must not run after a failed gate."""
    context.log.info("ran")


def materialize_chain(model_id, instance, resources):
    return dg.materialize(
        [
            model_metadata,
            security_scan,
            shadow_eval_scores,
            trust_metrics,
            quality_gate,
            after_the_gate,
        ],
        partition_key=model_id,
        instance=instance,
        resources=resources,
        raise_on_error=False,
    )


def test_gate_pass_and_fail_through_dagster(hub_client, hub_server, registry, tmp_path):
    discover(hub_client, registry, run_id="d1")
    resources = {
        "hub": HubResource(endpoint=hub_server.url, cache_dir=str(tmp_path / "cache")),
        "registry": RegistryResource(path=str(registry.path)),
        "trust": TrustResource(work_dir=str(tmp_path / "work")),
        "evaluation": EvaluationResource(cache_dir=str(tmp_path / "eval"), sample_limit=60),
        "inference_api": InferenceApiResource(),
    }
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hf_models", [PASSING, FAILING])
        assert dg.materialize([eval_datasets], instance=instance, resources=resources).success
        ok = materialize_chain(PASSING, instance, resources)
        assert ok.success
        assert ok.asset_materializations_for_node("after_the_gate")
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
        assert len(checks) == 11 and all(c.passed for c in checks)

        bad = materialize_chain(FAILING, instance, resources)
        assert not bad.success
        gate = bad.asset_materializations_for_node("quality_gate")[0].metadata
        assert gate["passed"].value is False
        failed = {r.data["metric"]: r.data for r in gate["failed_metrics"].value.records}
        assert failed["Bus Factor"]["score"] < failed["Bus Factor"]["threshold"] == 0.5
        assert gate["message"].value.startswith(
            "Model does not meet quality requirements. Failed metrics: Performance Claims"
        )
        failed_checks = {c.check_name for c in bad.get_asset_check_evaluations() if not c.passed}
        assert "bus_factor_meets_threshold" in failed_checks
        assert not bad.asset_materializations_for_node("after_the_gate")
        assert not [
            e
            for e in bad.all_events
            if e.step_key == "after_the_gate" and e.event_type_value == "STEP_START"
        ]

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
        assert not ranged.success  # FAILING's blocking checks
        gates = {
            m.partition: m.metadata for m in ranged.asset_materializations_for_node("quality_gate")
        }
        assert {k: v["passed"].value for k, v in gates.items()} == {PASSING: True, FAILING: False}
        scored = ranged.asset_materializations_for_node("trust_metrics")
        assert sorted(m.partition for m in scored) == sorted([PASSING, FAILING])
        assert all(m.metadata["rescored"].value == 0 for m in scored)
        combined = {c.check_name: c for c in ranged.get_asset_check_evaluations()}
        bus = combined["bus_factor_meets_threshold"]
        assert not bus.passed and bus.metadata["failed_models"].value == FAILING
        assert bus.metadata["models"].value == 2
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
