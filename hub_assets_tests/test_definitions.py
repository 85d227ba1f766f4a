"""The one Definitions object loads with every job, sensor and schedule."""

from hub_assets.definitions import defs


def test_definitions_load():
    assert {j.name for j in defs.resolve_all_job_defs()} >= {
        "main_job",
        "discovery_job",
        "model_pipeline_job",
    }
    for sensor in (
        "candidate_models_sensor",
        "ingest_request_sensor",
        "ingest_request_failure_sensor",
    ):
        assert defs.resolve_sensor_def(sensor)
    schedule = defs.resolve_schedule_def("discovery_schedule")
    assert schedule.cron_schedule == "0 1 * * *" and schedule.job_name == "discovery_job"
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys >= {
        "hub_candidates",
        "model_metadata",
        "trust_metrics",
        "quality_gate",
        "ingested_package",
    }


def test_dg_check_defs_passes(tmp_path):
    """The project is a `dg` project: `dg check defs` loads every definition."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(root / "dagster.yaml", home / "dagster.yaml")
    dg = Path(sys.executable).with_name("dg")
    got = subprocess.run(
        [str(dg), "check", "defs"],
        cwd=root,
        env=dict(os.environ, DAGSTER_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert "All definitions loaded successfully." in got.stdout + got.stderr


def test_every_asset_has_owners_domain_tags_and_kinds():
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    for key, spec in specs.items():
        assert spec.owners == ["team:ml-platform"], key
        assert spec.tags.get("domain") in (
            "discovery",
            "evaluation",
            "trust",
            "ingest",
            "publishing",
        ), key
        assert spec.kinds, key
    assert specs["hub_candidates"].freshness_policy is not None
    assert specs["shadow_eval_scores"].freshness_policy is not None


def test_only_transient_failures_are_retried():
    import dagster as dg
    import pytest

    from hub_assets.defs.conventions import retry_when_transient
    from hub_assets.errors import DownloadFailedError, HubUnavailableError, OfflineCacheMissError
    from hub_assets.hub.download import ChecksumMismatchError

    for transient in (HubUnavailableError("down"), DownloadFailedError("cut")):
        with pytest.raises(dg.RetryRequested), retry_when_transient():
            raise transient
    for final in (ChecksumMismatchError("bad"), OfflineCacheMissError("miss"), KeyError("x")):
        with pytest.raises(type(final)), retry_when_transient():
            raise final


def test_no_asset_holds_the_registry_slot_while_it_talks_to_the_hub():
    """The `registry` pool is for short registry writes; an asset that fetches from the Hub
    writes in one short transaction (retried on the file lock) and holds no slot meanwhile."""
    pools = {}
    for key in defs.resolve_all_asset_keys():
        asset = defs.resolve_assets_def(key)
        pools[key.to_user_string()] = (asset.op.pool, set(asset.specs_by_key[key].kinds))
    hub_facing = {name for name, (_, kinds) in pools.items() if "huggingface" in kinds}
    assert {"hub_candidates", "model_metadata", "eval_datasets"} <= hub_facing
    assert all(pools[name][0] != "registry" for name in hub_facing)
    assert pools["quality_gate"][0] == "registry"  # a registry-only step keeps its slot


def test_the_executor_is_configuration_and_keeps_the_broker_out_of_run_config(monkeypatch):
    """HUB_ASSETS_EXECUTOR picks every job's executor; the Celery broker comes from the
    environment, and no message or repr shows it (test_scale checks stored run config)."""
    import pytest

    from hub_assets.defs.executors import BROKER_ENV, executor_for
    from hub_assets.errors import SettingsError
    from hub_assets.settings import load_settings

    for name in ("multiprocess", "in_process", "k8s"):
        monkeypatch.setenv("HUB_ASSETS_EXECUTOR", name)
        assert executor_for(load_settings()).name == name
    monkeypatch.setenv("HUB_ASSETS_EXECUTOR", "celery")
    with pytest.raises(SettingsError, match="needs HUB_ASSETS_CELERY_BROKER"):
        load_settings()
    monkeypatch.setenv(BROKER_ENV, "redis://:s3cret@broker.internal:6379/0")
    celery = executor_for(load_settings())
    assert celery.name == "celery"
    # resolved from the environment when a run starts (and by the workers)
    resolved = celery.config_schema.resolve_config({}).value["config"]
    assert resolved["broker"] == resolved["backend"] == "redis://:s3cret@broker.internal:6379/0"
    assert "s3cret" not in repr(load_settings())
    # the workers' app: the same broker, and the backend defaults to it in both places
    from hub_assets.defs.executors import BACKEND_ENV, worker_app

    app = worker_app()
    assert app.conf.broker_url == app.conf.result_backend == resolved["broker"]
    monkeypatch.setenv(BACKEND_ENV, "redis://broker.internal:6379/1")
    app = worker_app()
    assert app.conf.result_backend == "redis://broker.internal:6379/1"
    assert app.conf.broker_url == resolved["broker"]
    assert celery.config_schema.resolve_config({}).value["config"]["backend"] == resolved["broker"]
    resolved = executor_for(load_settings()).config_schema.resolve_config({}).value["config"]
    assert resolved["backend"] == "redis://broker.internal:6379/1"
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", "postgresql://hub:pw@db:5432/registry")
    with pytest.raises(SettingsError, match="must not carry a password") as err:
        load_settings()
    assert "pw@" not in str(err.value)
    # every job of the project runs on the configured executor
    assert {j.executor_def.name for j in defs.resolve_all_job_defs()} == {"multiprocess"}


def test_automation_runs_as_documented():
    """The nightly evaluation re-judges the gate; the leaderboard refreshes by itself after
    an evaluation (its eager condition, evaluated by a sensor that is on by default); a run
    whose step failed is not retried by the daemon (a rejection is no failure anyway)."""
    from pathlib import Path

    import dagster as dg
    import yaml

    nightly = defs.resolve_job_def("shadow_eval_job")
    selected = {k.to_user_string() for k in nightly.asset_layer.selected_asset_keys}
    assert selected == {"security_scan", "shadow_eval_scores", "trust_metrics", "quality_gate"}
    sensor = defs.resolve_sensor_def("automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", ["acme/model"])
        instance.report_runless_asset_event(dg.AssetMaterialization("leaderboard"))
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.get_num_requested(dg.AssetKey("leaderboard")) == 0  # nothing new
        instance.report_runless_asset_event(
            dg.AssetMaterialization("shadow_eval_scores", partition="acme/model")
        )
        after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
        assert after.get_num_requested(dg.AssetKey("leaderboard")) == 1
    root = Path(__file__).resolve().parent.parent
    for config in (root / "dagster.yaml", root / "deploy" / "dagster.yaml"):
        retries = yaml.safe_load(config.read_text())["run_retries"]
        assert retries["enabled"] and retries["retry_on_asset_or_op_failure"] is False, config
