"""Publishing evaluation reports and registry cards to a development Hub organisation,
over a registry the pipeline built; idempotent, and skipped (saying why) without a write
token or an organisation."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from huggingface_hub import HfApi, ModelCard, hf_hub_download

from hub_assets.defs.publishing.assets import published_eval_reports, published_model_cards
from hub_assets.devhub.demo_cases import QA_MODEL
from hub_assets.devhub.server import HubServer
from hub_assets.registry.store import Registry
from hub_assets.resources import PipelineResource
from hub_assets_tests.conftest import pipeline_env
from hub_assets_tests.pipeline_resource import pipeline_resources

WRITE, READ = "hf_publish_write", "hf_publish_read"


@pytest.fixture(scope="module")
def world(demo_catalog, tmp_path_factory):
    """A writable copy of the demo Hub, and a registry where the pipeline evaluated, gated
    and packaged the QA model."""
    tmp = tmp_path_factory.mktemp("publish")
    root = tmp / "catalog"
    shutil.copytree(demo_catalog, root, copy_function=os.link)
    with HubServer(root, tokens=[f"{WRITE}:write:alice", f"{READ}:read:bob"]) as hub:
        registry = Registry(tmp / "registry.duckdb")
        with pipeline_env(hub.url, registry, tmp):  # a process of its own, as users run it
            done = subprocess.run(
                [str(Path(sys.executable).parent / "hub-assets"), "ingest", QA_MODEL, "--wait"],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, done.stdout + done.stderr
        yield hub, registry, tmp


def publish(world, *, token=WRITE, org="acme"):
    hub, registry, tmp = world
    resources = pipeline_resources(hub.url, registry, tmp, cache_dir=str(tmp / "hubcache"))
    resources["pipeline"] = PipelineResource.of(**resources["pipeline"].overrides, publish_org=org)
    # the token comes from the environment only (never from resource config)
    with pytest.MonkeyPatch.context() as mp:
        if token is None:
            mp.delenv("HF_TOKEN", raising=False)
        else:
            mp.setenv("HF_TOKEN", token)
        result = dg.materialize(
            [published_eval_reports, published_model_cards], resources=resources
        )
    assert result.success
    return {
        m.asset_key.path[-1]: m.metadata
        for m in result.get_asset_materialization_events()
        for m in [m.materialization]
    }


@pytest.mark.slow
def test_reports_and_cards_are_published_once(world, tmp_path):
    hub, registry, _ = world
    first = publish(world)
    reports, cards = first["published_eval_reports"], first["published_model_cards"]
    assert reports["published"].value is True and reports["files_changed"].value >= 2
    api = HfApi(endpoint=hub.url, token=WRITE)
    info = api.dataset_info("acme/hub-assets-evals")
    assert info.private
    files = api.list_repo_files("acme/hub-assets-evals", repo_type="dataset")
    runs = [f for f in files if f.startswith("runs/")]
    assert runs and all(f.endswith(".parquet") for f in runs)
    with registry.read() as con:
        n_runs, n_samples = con.execute(
            "SELECT count(DISTINCT eval_run_id), count(*) FROM eval_samples"
        ).fetchone()
    assert len(runs) == n_runs
    frame = pd.concat(
        pd.read_parquet(
            hf_hub_download(
                "acme/hub-assets-evals",
                f,
                repo_type="dataset",
                endpoint=hub.url,
                token=WRITE,
                cache_dir=tmp_path / "c",
            )  # fmt: skip
        )
        for f in runs
    )
    assert len(frame) == n_samples and "score_f1" in frame.columns
    assert set(frame["model_id"]) == {QA_MODEL}
    readme = hf_hub_download("acme/hub-assets-evals", "README.md", repo_type="dataset",
                             endpoint=hub.url, token=WRITE, cache_dir=tmp_path / "c")  # fmt: skip
    text = open(readme).read()
    assert "## Leaderboard" in text and QA_MODEL in text and "## Dataset pins" in text

    assert cards["cards"].value == 1 and cards["changed"].value == 1
    card_repo = "acme/tiny-bert-qa-registry-card"
    assert api.model_info(card_repo).private
    card = ModelCard.load(
        hf_hub_download(
            card_repo, "README.md", endpoint=hub.url, token=WRITE, cache_dir=tmp_path / "c2"
        )  # fmt: skip
    )
    measured = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert 0.4 < measured["f1"] < 0.8
    assert "**Passed**" in card.text and "package.zip" in card.text and "## Evidence" in card.text
    commits = len(api.list_repo_commits("acme/hub-assets-evals", repo_type="dataset"))

    again = publish(world)  # the same facts: nothing changes
    assert again["published_eval_reports"]["files_changed"].value == 0
    assert again["published_eval_reports"]["commit"].value == "none (unchanged)"
    assert again["published_model_cards"]["changed"].value == 0
    assert len(api.list_repo_commits("acme/hub-assets-evals", repo_type="dataset")) == commits


def test_without_a_write_token_or_an_org_nothing_is_published(world):
    hub, _, _ = world
    no_org = publish(world, org=None)["published_eval_reports"]
    assert no_org["published"].value is False
    assert "HUB_ASSETS_PUBLISH_ORG is not set" in no_org["reason"].value
    read_only = publish(world, token=READ, org="readers")
    for meta in read_only.values():
        assert meta["published"].value is False
        assert "No write token" in meta["reason"].value and READ not in meta["reason"].value
    assert not HfApi(endpoint=hub.url, token=WRITE).repo_exists(
        "readers/hub-assets-evals", repo_type="dataset"
    )
