"""`hub-assets push` of a real LoRA adapter to a development Hub that accepts writes, then
the adapter loaded back with `PeftModel.from_pretrained` through that Hub."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi, ModelCard, hf_hub_download, snapshot_download

from hub_assets.cli import main
from hub_assets.devhub.demo_cases import QA_MODEL
from hub_assets.devhub.server import HubServer

WRITE, READ = "hf_push_write", "hf_push_read"
REPO = "acme/tiny-bert-qa-lora"


@pytest.fixture(scope="module")
def hub(demo_catalog, tmp_path_factory):
    """A Hub over a hard-linked copy of the demo catalog, with write and read tokens."""
    root = tmp_path_factory.mktemp("push-hub") / "catalog"
    shutil.copytree(demo_catalog, root, copy_function=os.link)
    with HubServer(root, tokens=[f"{WRITE}:write:alice", f"{READ}:read:bob"]) as server:
        yield server


@pytest.fixture(scope="module")
def adapter(hub, tmp_path_factory):
    """A real LoRA adapter of the demo QA model, saved with peft."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForQuestionAnswering

    tmp = tmp_path_factory.mktemp("adapter")
    base = snapshot_download(QA_MODEL, endpoint=hub.url, cache_dir=tmp / "cache", token=False)
    model = AutoModelForQuestionAnswering.from_pretrained(base)
    lora = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], lora_dropout=0.0)
    )
    folder = tmp / "adapter"
    lora.save_pretrained(folder)
    (tmp / "train.json").write_text(json.dumps({"epochs": 3, "learning_rate": 2e-4, "r": 4}))
    (tmp / "metrics.json").write_text(json.dumps({"f1": 0.61, "exact_match": 0.55}))
    return folder, tmp


@pytest.fixture
def env(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_ASSETS_HUB_ENDPOINT", hub.url)
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(tmp_path / "registry.duckdb"))
    monkeypatch.setenv("HF_TOKEN", WRITE)
    return monkeypatch


def push_args(folder: Path, tmp: Path, repo: str = REPO) -> list[str]:
    return [
        "push", str(folder), "--repo", repo, "--base-model", QA_MODEL,
        "--dataset", "hub-assets-demo/fictional-towns-qa",
        "--training-config", str(tmp / "train.json"), "--metrics", str(tmp / "metrics.json"),
        "--license", "apache-2.0",
    ]  # fmt: skip


def test_push_a_lora_adapter_and_load_it_back(hub, adapter, env, tmp_path):
    folder, tmp = adapter
    done = CliRunner().invoke(main, push_args(folder, tmp))
    assert done.exit_code == 0, done.output
    api = HfApi(endpoint=hub.url, token=WRITE)
    info = api.model_info(REPO)
    assert f"{hub.url}/{REPO}" in done.output and f"commit: {info.sha}" in done.output
    assert "+ adapter_model.safetensors" in done.output and "+ README.md" in done.output
    assert api.list_repo_commits(REPO)[0].authors == ["alice"]

    card = ModelCard.load(
        hf_hub_download(REPO, "README.md", endpoint=hub.url, cache_dir=tmp_path / "c")
    )
    data = card.data
    assert data.base_model == QA_MODEL and data.base_model_relation == "adapter"
    assert {"peft", "lora", f"base_model:adapter:{QA_MODEL}"} <= set(data.tags)
    assert data.license == "apache-2.0" and data.library_name == "peft"
    assert data.datasets == ["hub-assets-demo/fictional-towns-qa"]
    results = {r.metric_type: r.metric_value for r in data.eval_results}
    assert results == {"f1": 0.61, "exact_match": 0.55}
    assert '"learning_rate": 0.0002' in card.text
    assert f'PeftModel.from_pretrained(base, "{REPO}")' in card.text
    assert f"hub-assets status {QA_MODEL}" in card.text

    script = f"""
import torch
from peft import PeftModel
from transformers import AutoModelForQuestionAnswering, AutoTokenizer
base = AutoModelForQuestionAnswering.from_pretrained("{QA_MODEL}")
model = PeftModel.from_pretrained(base, "{REPO}")
tok = AutoTokenizer.from_pretrained("{QA_MODEL}")
with torch.no_grad():
    out = model(**tok("Where?", "In the town of Bram.", return_tensors="pt"))
lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
print(type(model).__name__, lora, list(out.start_logits.shape))
"""
    run_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    loaded = subprocess.run(
        [sys.executable, "-c", script], env=run_env, capture_output=True, text=True, timeout=300
    )
    assert loaded.returncode == 0, loaded.stderr
    kind, lora_parameters = loaded.stdout.split()[:2]
    assert kind == "PeftModel" and int(lora_parameters) > 0


def test_a_pushed_repo_is_a_candidate_on_the_next_discovery(hub, adapter, env, tmp_path):
    from hub_assets.hub.client import HubClient, HubSettings
    from hub_assets.pipeline.discover import discover
    from hub_assets.registry.store import Registry

    folder, tmp = adapter
    repo = "acme/discoverable-lora"
    assert CliRunner().invoke(main, push_args(folder, tmp, repo)).exit_code == 0
    registry = Registry(tmp_path / "discovery.duckdb")
    client = HubClient(HubSettings(endpoint=hub.url, cache_dir=tmp_path / "cache",
                                   requests_per_second=0))  # fmt: skip
    discover(client, registry, run_id="after-push")
    with registry.read() as con:
        row = con.execute("SELECT status FROM v_model_status WHERE model_id = ?", [repo]).fetchone()
    assert row == ("candidate",)


def test_push_checks_before_uploading(hub, adapter, env, tmp_path):
    folder, tmp = adapter
    runner = CliRunner()
    api = HfApi(endpoint=hub.url, token=WRITE)

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no weights here")
    no_weights = runner.invoke(main, push_args(empty, tmp, "acme/nothing"))
    assert no_weights.exit_code == 2 and "holds no model files" in no_weights.output

    bad_licence = runner.invoke(main, push_args(folder, tmp, "acme/x")[:-1] + ["apache2"])
    assert bad_licence.exit_code == 2 and "Did you mean apache-2.0" in bad_licence.output

    bad_id = runner.invoke(main, push_args(folder, tmp, "acme/bad name"))
    assert bad_id.exit_code == 2

    missing = runner.invoke(main, push_args(tmp_path / "nope", tmp, "acme/x"))
    assert missing.exit_code == 2 and "is not a folder" in missing.output

    env.setenv("HF_TOKEN", READ)
    read_only = runner.invoke(main, push_args(folder, tmp, "acme/read-only"))
    assert read_only.exit_code == 13 and "write role" in read_only.output
    env.setenv("HF_TOKEN", "hf_unknown_token")
    unknown = runner.invoke(main, push_args(folder, tmp, "acme/unknown"))
    assert unknown.exit_code == 12
    for repo in ("acme/nothing", "acme/x", "acme/read-only", "acme/unknown"):
        assert not api.repo_exists(repo)  # nothing was created
