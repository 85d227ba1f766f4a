"""A scorer bump or a moved dataset pin makes approved models' evaluations stale: the
sensor requests shadow evaluation runs over those partitions (each range once), and skips
when every approved model was scored by the current scorer on the pinned sets."""

import dagster as dg

from hub_assets.definitions import defs
from hub_assets.defs.evaluation.schedules import stale_evaluations_sensor
from hub_assets.evaluation.datasets import DEFAULT_PINS
from hub_assets.evaluation.measurement import SCORER_VERSION
from hub_assets.pipeline.rejudge import stale_evaluation_approvals
from hub_assets.resources import PipelineResource

QA_PIN = next(p for p in DEFAULT_PINS if p.task == "qa")


def _approved_and_evaluated(con, model: str, scorer: str, revision: str) -> None:
    sha = model[-1] * 40
    con.execute(
        "INSERT INTO models (model_id, sha, first_seen, last_seen) VALUES (?, ?, now(), now())",
        [model, sha],
    )
    con.execute(
        "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, message, "
        "thresholds, config_version, target_device, run_id, created_at) "
        "VALUES (?, ?, true, '[]', 'ok', '{}', 'g', 'cpu', 'r', now())",
        [model, sha],
    )
    con.execute(
        "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
        "size_bytes, sha256, manifest, model_card, run_id, created_at) "
        "VALUES (?, ?, '1.0.0', ?, ?, '/p.zip', 1, 'x', '{}', '', 'r', now())",
        [model, model.replace("/", "-"), model, sha],
    )
    con.execute(
        "INSERT INTO eval_runs (eval_run_id, cache_key, model_id, revision_sha, task, "
        "dataset_repo, dataset_revision, dataset_fingerprint, generation_config, "
        "scorer_version, scores, claims, samples, failed_samples, run_id, created_at) "
        "VALUES (?, ?, ?, ?, 'qa', ?, ?, 'f', '{}', ?, '{}', '[]', 1, 0, 'r', now())",
        [model, model, model, sha, QA_PIN.repo_id, revision, scorer],
    )


def test_stale_evaluations_are_requested_again(registry):
    registry.ensure_schema()
    with registry.write() as con:
        _approved_and_evaluated(con, "acme/m1", SCORER_VERSION, QA_PIN.revision)  # current
        _approved_and_evaluated(con, "acme/m2", "0", QA_PIN.revision)  # an older scorer
        _approved_and_evaluated(con, "acme/m3", SCORER_VERSION, "f" * 40)  # an old pin
    stale = stale_evaluation_approvals(registry, DEFAULT_PINS)
    assert [(m, why) for m, _, why in stale] == [
        ("acme/m2", f"{QA_PIN.repo_id}: scored by scorer v0, the scorer is v{SCORER_VERSION}"),
        ("acme/m3", f"{QA_PIN.repo_id}: revision ffffffffffff is no longer pinned"),
    ]
    resource = PipelineResource.of(registry=registry.location)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", ["acme/m1", "acme/m2", "acme/m3"])

        def tick():
            with dg.build_sensor_context(
                instance=instance, definitions=defs, resources={"pipeline": resource}
            ) as ctx:
                return stale_evaluations_sensor.evaluate_tick(ctx)

        [request] = tick().run_requests  # m2..m3, one contiguous range
        assert request.tags["dagster/asset_partition_range_start"] == "acme/m2"
        assert request.tags["dagster/asset_partition_range_end"] == "acme/m3"
        assert request.run_key.startswith(f"re-evaluate-v{SCORER_VERSION}-")

        with registry.write() as con:  # measured again: current scorer, pinned revision
            con.execute(
                "UPDATE eval_runs SET scorer_version = ?, dataset_revision = ?",
                [SCORER_VERSION, QA_PIN.revision],
            )
        assert tick().skip_message.startswith("Every approved model's evaluation")
