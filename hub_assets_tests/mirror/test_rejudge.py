"""Re-judging after a gate change: the stale-verdict sensor starts a run, approved revisions
are judged again from stored scores, those that fail are revoked; the mirror refuses them
with the cause, `main` goes back to the last revision that still passes, and a fetch of a
lock that pins a revoked revision refuses."""

import dagster as dg
import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import GatedRepoError

from hub_assets.cli import main
from hub_assets.definitions import defs
from hub_assets.defs.trust.rejudge import rejudged_verdicts, stale_verdicts_sensor
from hub_assets.devhub.demo_cases import MINILM, QA_MODEL
from hub_assets.gate.config import DEFAULT_GATE_CONFIG
from hub_assets.hardware.fit import load_devices
from hub_assets.mirror.lockfile import make_lock, write_lock
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.context import Pipeline
from hub_assets.pipeline.gate_changes import apply_gate_config
from hub_assets.resources import PipelineResource
from hub_assets.settings import load_settings
from hub_assets_tests.mirror.conftest import copy_of, serving, sha_of
from hub_assets_tests.mirror.test_profiles import NEW_SHA, _later_revision
from hub_assets_tests.pipeline_resource import pipeline_resources

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]


def _tick(instance, registry):
    with dg.build_sensor_context(
        instance=instance,
        definitions=defs,
        resources={"pipeline": PipelineResource.of(registry=registry.location)},
    ) as ctx:
        return stale_verdicts_sensor.evaluate_tick(ctx)


def test_a_stricter_gate_revokes_and_the_mirror_falls_back(world, tmp_path, monkeypatch):
    registry = copy_of(world, tmp_path)
    store = PackageStore(str(tmp_path / "packages"))
    old, qa = sha_of(registry, MINILM), sha_of(registry, QA_MODEL)
    _later_revision(registry, MINILM, old)  # ramp-up time: the old 0.9, the later 0.7
    with registry.write() as con:  # and tiny-bert-qa's is 0.6
        con.execute(
            "INSERT INTO metric_values (model_id, revision_sha, metric, value, run_id, "
            "created_at) VALUES (?, ?, 'ramp_up_time', 0.6, 'rejudge-test', now())",
            [QA_MODEL, qa],
        )
    lock = tmp_path / "models.lock"
    write_lock(make_lock(registry, [QA_MODEL], False, store), lock)
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    with serving(registry, store) as mirror, dg.DagsterInstance.ephemeral() as instance:
        api = HfApi(endpoint=mirror.url, token=False)
        assert api.model_info(MINILM).sha == NEW_SHA
        assert _tick(instance, registry).skip_message.startswith("Every approved verdict")

        current = Pipeline(load_settings()).gate_config()
        stricter = (
            DEFAULT_GATE_CONFIG.read_text()
            .replace(f'version: "{current.version}"', 'version: "2027.2"')
            .replace("ramp_up_time: 0.5", "ramp_up_time: 0.8")
        )
        apply_gate_config(
            registry,
            current,
            stricter,
            "stricter.yaml",
            load_devices(),
            by="rita",
            reason="ramp-up time under 0.8 costs us too much",
            confirm=True,
        )
        [request] = _tick(instance, registry).run_requests
        assert "2027.2" in request.run_key

        done = dg.materialize(
            [rejudged_verdicts], resources=pipeline_resources(None, registry, tmp_path)
        )
        meta = done.asset_materializations_for_node("rejudged_verdicts")[0].metadata
        assert (meta["judged"].value, meta["revoked"].value) == (3, 2)
        assert meta["still_passing"].value == 1 and meta["gate_version"].value == "2027.2"
        assert _tick(instance, registry).skip_message.startswith("Every approved verdict")

        # main goes back to the revision that still passes; the revoked ones are refused
        assert api.model_info(MINILM).sha == old
        with pytest.raises(GatedRepoError, match="revoked: it fails gate 2027.2"):
            hf_hub_download(QA_MODEL, "config.json", endpoint=mirror.url, cache_dir=tmp_path / "c1")
        with pytest.raises(GatedRepoError, match="not approved"):
            hf_hub_download(
                MINILM,
                "config.json",
                revision=NEW_SHA,
                endpoint=mirror.url,
                cache_dir=tmp_path / "c2",
            )
        fetched = CliRunner().invoke(
            main,
            ["fetch", "--lock", str(lock), "--dir", str(tmp_path / "d"), "--endpoint", mirror.url],
        )
        assert fetched.exit_code != 0 and "revoked" in fetched.output, fetched.output

    with registry.read() as con:
        revoked = con.execute(
            "SELECT model_id, revision_sha, reason FROM model_status_events "
            "WHERE status = 'revoked' ORDER BY model_id"
        ).fetchall()
    assert [(m, s) for m, s, _ in revoked] == [(QA_MODEL, qa), (MINILM, NEW_SHA)]
    assert all("Ramp-Up Time" in why and current.version in why for _, _, why in revoked)
