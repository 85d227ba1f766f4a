"""`hub-assets models`, `recommend`, `adapters` and `tree` on a registry the pipeline built
(QA model and MiniLM ingested, a failing model beside them)."""

import json

import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.devhub.demo_cases import MINILM, QA_MODEL
from hub_assets_tests.mirror.conftest import FAILING

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]


@pytest.fixture
def run(world, monkeypatch):
    registry, _ = world
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args))

    return invoke


def test_models_table_and_filters(run):
    out = run("models", "--format", "json")
    assert out.exit_code == 0, out.output
    rows = {r["model_id"]: r for r in json.loads(out.output)}
    assert rows[MINILM]["fit"]["parameters"] == 22_713_728
    assert rows[MINILM]["size_class"] == "small" and rows[MINILM]["packaged"]
    assert rows[QA_MODEL]["gate"] == "passed" and rows[FAILING]["gate"] == "failed"
    assert rows[MINILM]["fit"]["peak_rss_bytes"] > 0  # measured beside the estimate
    ingested = json.loads(run("models", "--status", "ingested", "--format", "json").output)
    assert {r["model_id"] for r in ingested} == {QA_MODEL, MINILM}
    qa = run("models", "--task", "question-answering")
    assert QA_MODEL in qa.output and MINILM not in qa.output and "est. RAM" in qa.output
    assert "No model in the registry matches." in run("models", "--size", "large").output


def test_recommend_picks_the_best_approved_model_that_fits(run):
    best = json.loads(run("recommend", "--ram", "4", "--format", "json").output)
    approved = [best["best"]] + best["runners_up"]
    assert {o["model_id"] for o in approved} == {QA_MODEL, MINILM}  # never the failing one
    assert best["best"]["net_score"] >= best["runners_up"][0]["net_score"]
    assert best["best"]["fits"] and best["best"]["headroom_bytes"] > 0
    text = run("recommend", "--ram", "4", "--task", "sentence-similarity")
    assert text.exit_code == 0 and "Best fit for 4.00 GiB of RAM at 4096 tokens" in text.output
    assert MINILM in text.output and "needs" in text.output and "left" in text.output
    device = json.loads(run("recommend", "--device", "jetson_nano", "--format", "json").output)
    assert device["device"] == {"name": "jetson_nano", "accelerators": ["cuda"]}
    assert device["ram_bytes"] == 4 * 1024**3
    nothing = run("recommend", "--ram", "0.25")
    assert nothing.exit_code == 0
    assert "Nothing approved fits in 0.25 GiB of RAM at 4096 tokens." in nothing.output
    assert "needs" in nothing.output
    none = run("recommend", "--ram", "8", "--task", "text-generation")
    assert "No approved model to choose from" in none.output
    longer = json.loads(
        run("recommend", "--ram", "4", "--context", "32768", "--format", "json").output
    )
    assert longer["context_length"] == 32768
    assert run("recommend").exit_code == 2
    unknown = run("recommend", "--device", "toaster")
    assert unknown.exit_code == 2 and "Unknown device 'toaster'" in unknown.output


def test_adapters_and_tree_of_a_model_without_children(run):
    none = run("adapters", MINILM)
    assert none.exit_code == 0 and f"No adapter or finetune of {MINILM}." in none.output
    tree = json.loads(run("tree", MINILM, "--format", "json").output)
    assert tree["descendants"] == []
    assert tree["ancestors"][0]["model_id"] == "nreimers/MiniLM-L6-H384-uncased"
    assert tree["ancestors"][0]["relation"] == "finetune"
