"""The evaluation separates real models from noise, and the gate uses what was measured."""

import hashlib

import dagster as dg
import pytest

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.evaluation.assets import eval_datasets, shadow_eval_scores
from hub_assets.defs.trust.assets import quality_gate, trust_metrics
from hub_assets.defs.trust.security import security_scan
from hub_assets.devhub.demo_catalog import MINILM, ORG, OVERCLAIMER, QA_MODEL
from hub_assets.devhub.demo_qa_model import train_extractive_qa
from hub_assets.devhub.demo_text import qa_splits
from hub_assets.evaluation.backends import ExtractiveQABackend, GenerationConfig
from hub_assets.evaluation.datasets import DEFAULT_PINS, cache_dataset
from hub_assets.evaluation.measurement import Measurement, bootstrap_interval, chance_baseline
from hub_assets.evaluation.shadow import evaluate_qa, evaluate_retrieval, pin_for
from hub_assets.gate.config import load_gate_config
from hub_assets.metrics import claims
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.scoring import cleared_snapshot
from hub_assets.pipeline.discover import discover
from hub_assets_tests.pipeline_resource import pipeline_resources

QA_PIN, HELD_OUT_QA_PIN, RETRIEVAL_PIN = DEFAULT_PINS
RANDOM_ENCODERS = (f"{ORG}/tiny-bert-embedder", f"{ORG}/tiny-bert-two-revisions")
RANDOM_QA = (OVERCLAIMER, f"{ORG}/tiny-gpt2-complete", f"{ORG}/tiny-t5-qa")


def snapshot(client, model_id, tmp_path):
    return cleared_snapshot(client, model_id, tmp_path / "snap")


@pytest.mark.slow
def test_retrieval_separates_minilm_from_random_encoders(hub_server, hub_client, tmp_path):
    data = cache_dataset(RETRIEVAL_PIN, hub_server.url, tmp_path / "eval")
    config = GenerationConfig(batch_size=32)
    scores = {
        m: evaluate_retrieval(snapshot(hub_client, m, tmp_path), data, config)
        for m in (MINILM, *RANDOM_ENCODERS)
    }
    minilm = scores[MINILM]
    assert len(minilm.samples) >= 200  # the held-out split
    best_random = max(scores[m].scores["ndcg_at_10"] for m in RANDOM_ENCODERS)
    assert minilm.scores["ndcg_at_10"] >= 0.6
    assert minilm.scores["ndcg_at_10"] >= 3 * best_random
    chance = minilm.baseline["scores"]["ndcg_at_10"]
    assert minilm.intervals["ndcg_at_10"][0] > chance  # clearly above chance
    assert chance < 0.05 and minilm.baseline["name"].startswith("random ranking")


@pytest.mark.slow
def test_qa_separates_the_trained_model_from_random_ones(hub_server, hub_client, tmp_path):
    data = cache_dataset(QA_PIN, hub_server.url, tmp_path / "eval")
    config = GenerationConfig(batch_size=32)

    def f1(model_id):
        tag = hub_client.model_metadata(model_id).data["info"]["pipeline_tag"]
        return evaluate_qa(snapshot(hub_client, model_id, tmp_path), tag, data, config)

    trained = f1(QA_MODEL)
    randoms = {m: f1(m).scores["f1"] for m in RANDOM_QA}
    assert trained.scores["f1"] >= 0.5
    assert trained.scores["f1"] >= max(randoms.values()) + 0.3, randoms
    unanswerable = trained.baseline["scores"]["f1"]  # the empty answerer's share
    assert 0.15 < unanswerable < 0.35 and trained.intervals["f1"][0] > unanswerable
    # the card's own claim is what we measure: same data, same backend
    card = hub_client.model_metadata(QA_MODEL).data["card_data"]
    claimed = {r["metric"]: r["value"] for r in claims.model_index_results(card)}
    assert claimed["f1"] == pytest.approx(trained.scores["f1"], abs=0.001)
    # the model trains on that dataset's train split; on the held-out set (towns no split
    # names, declared by no demo model) it is still clearly above chance
    held_out = cache_dataset(HELD_OUT_QA_PIN, hub_server.url, tmp_path / "eval")
    tag = hub_client.model_metadata(QA_MODEL).data["info"]["pipeline_tag"]
    zero_shot = evaluate_qa(snapshot(hub_client, QA_MODEL, tmp_path), tag, held_out, config)
    assert zero_shot.intervals["f1"][0] > zero_shot.baseline["scores"]["f1"] + 0.2


def resources(url, registry, tmp_path):
    return pipeline_resources(url, registry, tmp_path)


@pytest.mark.slow
def test_gate_passes_minilm_on_evidence_and_catches_the_overclaimer(
    hub_server, hub_client, registry, tmp_path
):
    assert not load_gate_config().overrides  # the shipped config has no per-model override
    discover(hub_client, registry, run_id="d")
    res = resources(hub_server.url, registry, tmp_path)
    chain = [model_metadata, security_scan, shadow_eval_scores, trust_metrics, quality_gate]
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [MINILM, OVERCLAIMER])
        assert dg.materialize([eval_datasets], instance=instance, resources=res).success
        ok = dg.materialize(chain, partition_key=MINILM, instance=instance, resources=res)
        gate = ok.asset_materializations_for_node("quality_gate")[0].metadata
        assert gate["passed"].value is True, gate["message"].value
        shadow = ok.asset_materializations_for_node("shadow_eval_scores")[0].metadata
        assert shadow["ndcg_at_10"].value >= 0.6 and shadow["above_chance"].value is True

        bad = dg.materialize(
            chain, partition_key=OVERCLAIMER, instance=instance, resources=res, raise_on_error=False
        )
        gate = bad.asset_materializations_for_node("quality_gate")[0].metadata
        message = gate["message"].value
        assert gate["passed"].value is False
        assert "Performance Claims (claimed F1 0.95, measured 0." in message, message
    with registry.read() as con:
        evidence = dict(
            con.execute(
                "SELECT model_id, details FROM metric_values WHERE metric = 'performance_claims'"
            ).fetchall()
        )
    import json

    minilm = json.loads(evidence[MINILM])
    assert minilm["dataset"] == RETRIEVAL_PIN.repo_id
    assert minilm["dataset_revision"] == RETRIEVAL_PIN.revision
    # none of the 21 datasets its card declares is the held-out retrieval set
    assert minilm["contamination"] == "zero_shot"
    assert [(e["dataset"], e["role"]) for e in minilm["evaluation_sets"]] == [
        (RETRIEVAL_PIN.repo_id, "evidence")
    ]
    assert minilm["interval"][0] > minilm["baseline_score"] and minilm["eval_run_id"]
    over = json.loads(evidence[OVERCLAIMER])
    assert over["claims"][0]["contradicted"] or over["claims"][1]["contradicted"]
    # its card declares the QA set it overclaims on: contaminated evidence still refutes
    assert {(e["dataset"], e["contamination"], e["role"]) for e in over["evaluation_sets"]} == {
        (QA_PIN.repo_id, "declared_overlap", "refutes"),
        (HELD_OUT_QA_PIN.repo_id, "zero_shot", "not needed"),
    }


def measurement(f1, interval, chance=0.25):
    return Measurement(
        "qa",
        "x/qa",
        "rev",
        "run",
        {"f1": f1},
        {"f1": list(interval)},
        {"name": "empty answerer", "scores": {"f1": chance}},
        100,
    )


def card(value=None):
    data = {}
    if value is not None:
        data["model-index"] = [
            {
                "results": [
                    {"dataset": {"type": "x/qa"}, "metrics": [{"type": "F1", "value": value}]}
                ]
            }
        ]
    return ModelEvidence("a/b", {"sha": "0"}, card_data=data)


def test_performance_claims_rules():
    # no claims, clearly above chance: passes on evidence
    got = claims.performance_claims(card(), measurement(0.6, (0.55, 0.65)))
    assert got.value == 1.0 and "above chance 0.25" in got.reason
    # a claim above the interval by more than the margin: contradicted, both numbers shown
    got = claims.performance_claims(card(90.0), measurement(0.12, (0.10, 0.14)))
    assert got.value == 0.0
    assert got.details["gate_explanation"] == "claimed F1 0.90, measured 0.12 [0.10, 0.14]"
    # within the margin: consistent
    assert claims.performance_claims(card(0.68), measurement(0.6, (0.55, 0.65))).value == 1.0
    # under-claiming is noted, not failed
    under = claims.performance_claims(card(0.3), measurement(0.6, (0.55, 0.65)))
    assert under.value == 1.0 and "under-claims" in under.reason
    # a consistent claim of a chance-level model: fails
    chance = claims.performance_claims(card(0.26), measurement(0.25, (0.2, 0.3)))
    assert chance.value == 0.0 and "no better than chance" in chance.reason
    # no measurement, or no comparable claim: the card's own claims decide (today's rule)
    assert claims.performance_claims(card(0.9)).value == 1.0
    assert claims.performance_claims(card(), measurement(0.25, (0.2, 0.3))).value == 0.0


def test_a_model_without_an_evaluable_task_is_judged_on_its_card():
    assert pin_for("text-classification", DEFAULT_PINS) is None
    assert pin_for("question-answering", DEFAULT_PINS) == QA_PIN
    assert pin_for("sentence-similarity", DEFAULT_PINS) == RETRIEVAL_PIN
    ev = card(0.9)
    assert claims.performance_claims(ev, None) == claims.card_claims_score(ev)


def test_bootstrap_interval_and_chance_baselines():
    low, high = bootstrap_interval([1.0] * 30 + [0.0] * 70)
    assert low < 0.3 < high and high - low < 0.25
    assert bootstrap_interval([0.5] * 10) == (0.5, 0.5)
    qa = chance_baseline("qa", [["Paris"], [], [], ["x"]])
    assert qa["scores"]["f1"] == 0.5  # it earns exactly the unanswerable share
    ret = chance_baseline("retrieval", [{"d1": 2.0}] * 5, [f"d{i}" for i in range(1000)])
    assert 0 <= ret["scores"]["ndcg_at_10"] < 0.05


def test_the_trained_qa_model_is_deterministic(demo_catalog, tmp_path):
    from hub_assets.devhub.demo_weights import DemoWeights

    tok = DemoWeights(tmp_path).tokenizer("wordpiece")
    train = qa_splits()["train"][:120]

    def weights(name):
        out = train_extractive_qa(train, tok, tmp_path / name, epochs=1)
        return hashlib.sha256((out / "model.safetensors").read_bytes()).hexdigest()

    assert weights("a") == weights("b")
    from hub_assets.hub.clearance import mark_cleared

    mark_cleared(tmp_path / "a", "local", "trained by this test, not from a Hub", "")
    backend = ExtractiveQABackend(tmp_path / "a", GenerationConfig(batch_size=8))
    long_context = "Filler words here. " * 80 + "Kalo was founded by Ada Lo."
    out = backend.answer(["Who founded Kalo?"], [long_context])  # several windows
    assert out.errors == [None] and isinstance(out.predictions[0], str)


def test_a_sample_limit_is_part_of_the_evaluation_key():
    from hub_assets.evaluation.shadow import cache_key

    config = GenerationConfig()
    assert cache_key("s", "d", config) == cache_key("s", "d", config, None)
    assert cache_key("s", "d", config, 20) != cache_key("s", "d", config)


@pytest.mark.slow
def test_the_pipeline_runs_offline_on_what_it_has_seen(hub_server, hub_client, registry, tmp_path):
    """HF_HUB_OFFLINE: metadata, dataset and snapshot from their caches; no request at all."""
    discover(hub_client, registry, run_id="d")
    chain = [model_metadata, security_scan, shadow_eval_scores, trust_metrics, quality_gate]

    def res(offline, limit):
        return pipeline_resources(
            hub_server.url, registry, tmp_path, hf_hub_offline=offline, eval_sample_limit=limit
        )

    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [QA_MODEL])
        online = res(False, 30)
        assert dg.materialize([eval_datasets], instance=instance, resources=online).success
        assert dg.materialize(chain, partition_key=QA_MODEL, instance=instance, resources=online)
        hub_server.reset_requests()
        offline = dg.materialize(
            chain, partition_key=QA_MODEL, instance=instance, resources=res(True, 40)
        )
        assert offline.success
        shadow = offline.asset_materializations_for_node("shadow_eval_scores")[0].metadata
        assert shadow["outcome"].value == "evaluated"  # a new run, from cached bytes only
        gate = offline.asset_materializations_for_node("quality_gate")[0].metadata
        assert gate["passed"].value is True
    assert hub_server.requests["total"] == 0
