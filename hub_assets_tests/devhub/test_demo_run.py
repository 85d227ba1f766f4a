"""A demo-like run (`hub-assets-dev demo`'s path: main_job, then the candidate sensor's runs
in-process), asked afterwards what the Dagster UI shows: a verdict per model, rejections as
verdicts, signed packages."""

import os
import stat

import dagster as dg
import pytest
from dagster._core.storage.tags import RUN_KEY_TAG

from hub_assets.devhub.cli import DEMO_KEY_FOLDER, demo_signing_key
from hub_assets.devhub.demo_catalog import QA_MODEL
from hub_assets.metrics.table import GATE_METRICS
from hub_assets.proof.keys import PUBLIC_NAME
from hub_assets.proof.verify import verify_package
from hub_assets.registry.metrics import latest_gate_result
from hub_assets.registry.models import current_sha
from hub_assets.registry.packages import revision_package
from hub_assets_tests.conftest import pipeline_env

REJECTED = "hub-assets-demo/tiny-bert-qa-overclaimed"


@pytest.mark.slow
def test_what_the_ui_shows_after_a_demo_like_run(hub_server, registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the demo's key goes under ./data/signing
    key = demo_signing_key()
    assert demo_signing_key() == key  # made once, then reused
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    monkeypatch.setenv("HUB_ASSETS_SIGNING_KEY", str(key))
    monkeypatch.setenv("HUB_ASSETS_PIPELINE_TAGS", "question-answering")
    monkeypatch.setenv("HUB_ASSETS_EVAL_SAMPLE_LIMIT", "60")
    with pipeline_env(hub_server.url, registry, tmp_path):
        from hub_assets.definitions import defs
        from hub_assets.local_runs import tick_sensor

        with dg.instance_for_test() as instance:
            assert defs.resolve_job_def("main_job").execute_in_process(instance=instance).success
            ticked = tick_sensor(instance, "candidate_models_sensor")
            models = {r.partition_key: r for r in ticked}
            assert set(models) == {QA_MODEL, REJECTED}
            with registry.read() as con:
                verdicts = {}
                for model in models:
                    gate = latest_gate_result(con, model, current_sha(con, model))
                    verdicts[model] = {f["metric"] for f in gate["failed_metrics"]}
            assert verdicts[QA_MODEL] == set() and "performance_claims" in verdicts[REJECTED]

            keys = [
                dg.AssetCheckKey(dg.AssetKey("quality_gate"), f"{m}_meets_threshold")
                for m in GATE_METRICS
            ]
            shown = {
                (i.partition_key, i.check_key.name): i.latest_execution_status.value
                for i in instance.event_log_storage.get_asset_check_partition_info(keys)
            }
            for model, failed in verdicts.items():
                run = instance.get_run_by_id(models[model].run_id)
                # the system worked: no run is a failure, the tag carries the verdict
                assert run.status == dg.DagsterRunStatus.SUCCESS, model
                assert run.tags["hub_assets/verdict"] == ("failed" if failed else "passed")
                assert run.tags[RUN_KEY_TAG] == f"{model}@{current_sha_of(registry, model)}"
                for metric in GATE_METRICS:
                    expected = "FAILED" if metric in failed else "SUCCEEDED"
                    assert shown[(model, f"{metric}_meets_threshold")] == expected, (model, metric)
                packaged = instance.fetch_materializations(
                    dg.AssetRecordsFilter(
                        asset_key=dg.AssetKey("ingested_package"), asset_partitions=[model]
                    ),
                    limit=1,
                ).records
                assert bool(packaged) == (not failed), model
            # the rejected model's run says why it was not packaged, in words, no traceback
            logs = [e.user_message for e in instance.all_logs(models[REJECTED].run_id)]
            assert [m for m in logs if "skipped packaging" in m and "Performance Claims" in m]
            assert not [m for m in logs if "Traceback" in m or "DagsterAssetCheck" in m]

    # the demo signs: its package verifies with the demo's public key, no --allow-unsigned
    with registry.read() as con:
        package = revision_package(con, QA_MODEL, current_sha(con, QA_MODEL))
    store_root = tmp_path / "packages"
    from hub_assets.packaging.store import PackageStore

    report = []
    verify_package(
        package.uri,
        PackageStore(str(store_root)),
        public_key=tmp_path / DEMO_KEY_FOLDER / PUBLIC_NAME,
        report=report.append,
    )
    assert any(line.startswith("signature: valid") for line in report), report


def current_sha_of(registry, model_id: str) -> str:
    with registry.read() as con:
        return current_sha(con, model_id)
