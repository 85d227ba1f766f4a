"""Re-judging after a scanner rule change: an approved revision whose security verdict
was made under other scanners, rule sets or allowlist is scanned again on its kept
verified snapshot (no Hub, no download), gated again, and revoked when it fails now; a
revision whose snapshot is gone waits; the stale-verdict sensor starts the run; the health
sweep turns the model's check red, and green again once it is re-made."""

import dataclasses

import dagster as dg

from hub_assets.comparability import basis_key
from hub_assets.definitions import defs
from hub_assets.defs.trust.health import model_health
from hub_assets.defs.trust.rejudge import rejudged_verdicts, stale_verdicts_sensor
from hub_assets.devhub.demo_cases import ORG
from hub_assets.hub.clearance import clearance
from hub_assets.metrics.security_judgment import scanner_basis
from hub_assets.metrics.table import GATE_METRICS
from hub_assets.pipeline.rejudge import rescan_stale, scanner_key, stale_scan_approvals
from hub_assets.registry.models import now
from hub_assets.resources import PipelineResource
from hub_assets_tests.pipeline_resource import pipeline_resources

PICKLED = f"{ORG}/tiny-gpt2-pickle-only"  # its weights are a safe pickle: allowlisted imports


def _approved(hub_client, registry, tmp_path):
    """The pickled model judged (security 0.75: every import on the allowlist) on its
    verified snapshot, its other gate metrics passing, a passing verdict and a package:
    an approved revision. Returns (pipeline, sha)."""
    stages = pipeline_resources(hub_client.api.endpoint, registry, tmp_path)["pipeline"].get()
    stages.record_metadata(hub_client, PICKLED, "run-1")
    judged = stages.judge_security(hub_client, PICKLED, "run-1")
    assert judged.verdict.value == 0.75, judged.verdict.reason
    config = stages.gate_config()
    with registry.write() as con:
        for metric in GATE_METRICS:
            if metric != "security":
                con.execute(
                    "INSERT INTO metric_values (model_id, revision_sha, metric, value, run_id, "
                    "created_at) VALUES (?, ?, ?, 1.0, 'run-1', ?)",
                    [PICKLED, judged.sha, metric, now()],
                )
        con.execute(
            "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, "
            "message, thresholds, config_version, target_device, run_id, created_at) "
            "VALUES (?, ?, true, '[]', 'ok', '{}', ?, ?, 'run-1', ?)",
            [PICKLED, judged.sha, config.version, config.target_device, now()],
        )
        con.execute(
            "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
            "size_bytes, sha256, manifest, model_card, run_id, created_at) "
            "VALUES ('p1', 'pickled', '1.0.0', ?, ?, '/p.zip', 1, 'x', '{}', '', 'run-1', ?)",
            [PICKLED, judged.sha, now()],
        )
    return stages, judged.sha


def test_a_rule_change_rescans_the_kept_snapshot_and_revokes(hub_client, discovered, tmp_path):
    registry, _ = discovered
    stages, sha = _approved(hub_client, registry, tmp_path)
    config = stages.gate_config()
    store = stages.snapshots()
    folder = store.folder(PICKLED, sha)
    assert clearance(folder) is not None
    assert stale_scan_approvals(registry, config) == []  # judged under today's rules

    # a reviewer withdraws OrderedDict from the allowlist: the verdict rests on old rules
    strict = dataclasses.replace(
        config,
        scanner_allowlist=tuple(
            a for a in config.scanner_allowlist if a != "collections.OrderedDict"
        ),
    )
    [(model, stale_sha, old_key)] = stale_scan_approvals(registry, strict)
    assert (model, stale_sha) == (PICKLED, sha) and old_key == scanner_key(config)

    store.downloads.clear()
    done = rescan_stale(registry, store, strict, "run-2")  # it takes no Hub client at all
    assert store.downloads == []
    assert (done.rescanned, done.still_passing, done.waiting) == (1, 0, [])
    [(model, revoked_sha, why)] = done.revoked
    assert (model, revoked_sha) == (PICKLED, sha)
    assert "collections.OrderedDict" in why
    assert clearance(folder) is None  # no loader takes these bytes now
    with registry.read() as con:
        status, reason = con.execute(
            "SELECT status, reason FROM model_status_events WHERE model_id = ? "
            "ORDER BY event_id DESC LIMIT 1",
            [PICKLED],
        ).fetchone()
        key = con.execute(
            "SELECT basis_key FROM metric_values WHERE model_id = ? AND metric = 'security' "
            "ORDER BY created_at DESC LIMIT 1",
            [PICKLED],
        ).fetchone()[0]
    assert status == "revoked" and "collections.OrderedDict" in reason
    assert key == basis_key(scanner_basis(strict.scanner_allowlist)) == scanner_key(strict)
    assert stale_scan_approvals(registry, strict) == []  # made again: no longer stale


def test_a_verdict_whose_snapshot_is_gone_waits_for_the_hub(hub_client, discovered, tmp_path):
    registry, _ = discovered
    stages, sha = _approved(hub_client, registry, tmp_path)
    store = stages.snapshots()
    (store.folder(PICKLED, sha) / "pytorch_model.bin").unlink()
    wider = dataclasses.replace(
        stages.gate_config(),
        scanner_allowlist=(*stages.gate_config().scanner_allowlist, "numpy.dtype"),
    )
    done = rescan_stale(registry, store, wider, "run-2")
    assert (done.rescanned, done.revoked) == (0, [])
    [(model, _, why)] = done.waiting
    assert model == PICKLED and "no longer kept" in why
    assert store.downloads == []
    assert len(stale_scan_approvals(registry, wider)) == 1  # still stale, still seen


def test_the_sensor_starts_a_rescan_after_the_engines_change(hub_client, discovered, tmp_path):
    registry, _ = discovered
    stages, sha = _approved(hub_client, registry, tmp_path)
    resource = PipelineResource.of(
        registry=registry.location,
        work_dir=str(tmp_path / "work"),
        hub_endpoint="http://127.0.0.1:9",
        scan_grace_hours=0,  # stale at once: the grace period is tested in test_health
    )
    with registry.write() as con:  # the verdict as the previous picklescan release made it
        con.execute(
            "UPDATE metric_values SET basis_key = 'made-by-picklescan-0.0.1' "
            "WHERE model_id = ? AND metric = 'security'",
            [PICKLED],
        )
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [PICKLED])
        # the hourly sweep: the model's gate partition gets a red health check, with why
        swept = dg.materialize([model_health], resources={"pipeline": resource}, instance=instance)
        meta = swept.asset_materializations_for_node("model_health")[0].metadata
        assert (meta["stale"].value, meta["checks_reported"].value) == (1, 1)
        assert health_checks(instance) == {PICKLED: "FAILED"}

        def tick():
            with dg.build_sensor_context(
                instance=instance, definitions=defs, resources={"pipeline": resource}
            ) as ctx:
                return stale_verdicts_sensor.evaluate_tick(ctx)

        [request] = tick().run_requests
        assert request.tags["hub_assets/scanner_key"] == scanner_key(stages.gate_config())
        # the Hub endpoint is a closed port: re-judging needs none
        done = dg.materialize(
            [rejudged_verdicts, model_health], resources={"pipeline": resource}, instance=instance
        )
        meta = done.asset_materializations_for_node("rejudged_verdicts")[0].metadata
        assert (meta["rescanned"].value, meta["revoked"].value) == (1, 0)
        assert meta["waiting_for_the_hub"].value == 0
        assert tick().skip_message.startswith("Every approved verdict")
        # re-made: the sweep after it turns the model's check green again
        health = done.asset_materializations_for_node("model_health")[0].metadata
        assert (health["ok"].value, health["stale"].value) == (1, 0)
        assert health_checks(instance) == {PICKLED: "SUCCEEDED"}


def health_checks(instance: dg.DagsterInstance) -> dict[str, str]:
    """model → the latest status of its gate partition's model_health check."""
    key = dg.AssetCheckKey(dg.AssetKey("quality_gate"), "model_health")
    return {
        info.partition_key: info.latest_execution_status.value
        for info in instance.event_log_storage.get_asset_check_partition_info([key])
    }
