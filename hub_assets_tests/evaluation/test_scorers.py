"""Scorers on hand-worked cases, against rouge_score and sacrebleu, and through evaluate."""

import math

import evaluate
import pytest
import sacrebleu
from rouge_score import rouge_scorer

from hub_assets.evaluation.qa_scoring import (
    RougeL,
    bleu,
    exact_match,
    normalize_answer,
    qa_scores,
    token_f1,
)
from hub_assets.evaluation.retrieval_scoring import (
    mrr_at_k,
    ndcg_at_k,
    recall_at_k,
    retrieval_scores,
)
from hub_assets.evaluation.scorers import SCORER_NAMES, SquadV2F1, scorer_path


def test_normalisation():
    assert normalize_answer("  The  Quick, brown FOX! ") == "quick brown fox"
    assert normalize_answer("an apple a day") == "apple day"


def test_exact_match_and_f1_by_hand():
    assert exact_match("The Eiffel Tower.", ["Eiffel tower"]) == 1.0
    assert exact_match("Eiffel", ["Eiffel tower"]) == 0.0
    # pred "eiffel tower paris", gold "eiffel tower": overlap 2, P = 2/3, R = 1, F1 = 0.8
    assert token_f1("Eiffel Tower Paris", ["the Eiffel Tower"]) == pytest.approx(0.8)
    # best over golds
    assert token_f1("1889", ["in 1889", "1889"]) == 1.0
    assert token_f1("blue", ["red"]) == 0.0


def test_unanswerable_and_empty_predictions():
    assert exact_match("", []) == 1.0 and token_f1("", []) == 1.0  # abstains: right
    assert exact_match("Paris", []) == 0.0 and token_f1("Paris", []) == 0.0
    assert exact_match("", ["Paris"]) == 0.0 and token_f1("", ["Paris"]) == 0.0
    assert exact_match("the", []) == 1.0  # normalises to empty: an abstention
    rouge = RougeL()
    assert rouge("", []) == 1.0 and rouge("", ["Paris"]) == 0.0 and rouge("x", []) == 0.0


def test_rouge_l_matches_rouge_score_called_directly():
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    pairs = [
        ("the cat sat on the mat", "a cat was sitting on the mat"),
        ("founded in 1312 by a miller", "It was founded in 1312"),
    ]
    ours = RougeL()
    for pred, gold in pairs:
        assert ours(pred, [gold]) == pytest.approx(scorer.score(gold, pred)["rougeL"].fmeasure)


def test_bleu_matches_sacrebleu_called_directly():
    preds = ["the town was founded in 1312", "a miller founded it"]
    refs = [["the town was founded in 1312 by a miller"], ["it was founded by a miller"]]
    corpus = bleu(preds, refs)
    assert corpus == pytest.approx(sacrebleu.corpus_bleu(preds, [[r[0] for r in refs]]).score / 100)
    assert 0 < corpus < 1
    two_refs = bleu(["a b c d"], [["a b c d", "x"]])
    assert two_refs == pytest.approx(1.0)


def test_qa_scores_aggregate():
    out = qa_scores(["Paris", "", "blue"], [["Paris"], [], ["red"]])
    assert out["exact_match"] == pytest.approx(2 / 3) and out["f1"] == pytest.approx(2 / 3)
    assert out["per_sample"]["exact_match"] == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="2 predictions for 1 references"):
        qa_scores(["a", "b"], [["a"]])


def test_retrieval_by_hand():
    rel = {"d3": 1.0}
    ranked = ["d1", "d2", "d3", "d4"]
    assert mrr_at_k(ranked, rel) == pytest.approx(1 / 3)
    assert ndcg_at_k(ranked, rel) == pytest.approx(1 / math.log2(4))
    assert recall_at_k(ranked, rel, 1) == 0.0 and recall_at_k(ranked, rel, 5) == 1.0
    two = {"a": 1.0, "b": 1.0}
    # hits at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5, IDCG = 1 + 1/log2(3)
    assert ndcg_at_k(["a", "x", "b"], two) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert recall_at_k(["a", "x", "b"], two, 1) == 0.5
    assert mrr_at_k(["x"] * 10 + ["a"], two) == 0.0  # beyond the cut-off
    out = retrieval_scores([["a"], ["x"]], [{"a": 1.0}, {"y": 1.0}])
    assert out["recall_at_10"] == 0.5 and out["per_sample"]["mrr_at_10"] == [1.0, 0.0]


def test_evaluate_loads_each_scorer_by_local_path_with_no_network(monkeypatch):
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = {name: evaluate.load(scorer_path(name)) for name in SCORER_NAMES}
    combined = evaluate.combine(
        [loaded[n] for n in ("squad_v2_exact_match", "squad_v2_f1", "rouge_l", "bleu")]
    )
    out = combined.compute(predictions=["Paris", ""], references=[["Paris"], []])
    assert out["exact_match"] == 1.0 and out["f1"] == 1.0
    assert set(out) == {"exact_match", "f1", "rouge_l", "bleu"}
    ranked = loaded["retrieval"].compute(predictions=[["d1", "d2"]], references=[["d2"]])
    assert ranked["mrr_at_10"] == 0.5
    assert SquadV2F1().compute(predictions=["x y"], references=[["x y z"]])["f1"] == pytest.approx(
        0.8
    )
    with pytest.raises(ValueError, match="Unknown scorer 'accuracy'"):
        scorer_path("accuracy")
