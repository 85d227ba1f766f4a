"""The scorers as `evaluate` modules: usable with `evaluate.load(<local path>)`,
`evaluate.combine`, or instantiated directly. Nothing is fetched from a hub.

Each module folder under `evaluation/modules/` holds a one-line script that exposes one of
the classes below, so `evaluate.load(scorer_path("squad_v2_f1"))` works offline.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import evaluate

from hub_assets.evaluation.measurement import SCORER_VERSION as SCORER_VERSION
from hub_assets.evaluation.qa_scoring import RougeL, bleu, exact_match, token_f1
from hub_assets.evaluation.retrieval_scoring import retrieval_scores

MODULES = Path(__file__).with_name("modules")
SCORER_NAMES = ("squad_v2_exact_match", "squad_v2_f1", "rouge_l", "bleu", "retrieval")

_QA_FEATURES = datasets.Features(
    {
        "predictions": datasets.Value("string"),
        "references": datasets.Sequence(datasets.Value("string")),
    }
)
_CITATION = "Rajpurkar et al. 2018, Know What You Don't Know: Unanswerable Questions for SQuAD"


def scorer_path(name: str) -> str:
    """The local path `evaluate.load` takes for a scorer."""
    if name not in SCORER_NAMES:
        raise ValueError(f"Unknown scorer {name!r}: expected one of {', '.join(SCORER_NAMES)}")
    return str(MODULES / name)


def _qa_info(description: str) -> evaluate.MetricInfo:
    return evaluate.MetricInfo(
        description=description,
        citation=_CITATION,
        inputs_description="predictions: str; references: list[str] "
        "(empty for an unanswerable question)",
        features=_QA_FEATURES,
    )


class SquadV2ExactMatch(evaluate.Metric):
    """SQuAD v2 exact match, 0–1."""

    def _info(self) -> evaluate.MetricInfo:
        return _qa_info("Exact match after SQuAD normalisation; best over gold answers.")

    def _compute(self, predictions: list[str], references: list[list[str]]) -> dict:
        scores = [exact_match(p, r) for p, r in zip(predictions, references, strict=True)]
        return {"exact_match": sum(scores) / max(len(scores), 1)}


class SquadV2F1(evaluate.Metric):
    """SQuAD v2 token F1, 0–1."""

    def _info(self) -> evaluate.MetricInfo:
        return _qa_info("Token-overlap F1 after SQuAD normalisation; best over gold answers.")

    def _compute(self, predictions: list[str], references: list[list[str]]) -> dict:
        scores = [token_f1(p, r) for p, r in zip(predictions, references, strict=True)]
        return {"f1": sum(scores) / max(len(scores), 1)}


class RougeLScore(evaluate.Metric):
    """ROUGE-L F-measure through rouge_score, 0–1."""

    def _info(self) -> evaluate.MetricInfo:
        return _qa_info("ROUGE-L F-measure (rouge_score), best over gold answers.")

    def _compute(self, predictions: list[str], references: list[list[str]]) -> dict:
        rouge = RougeL()
        scores = [rouge(p, r) for p, r in zip(predictions, references, strict=True)]
        return {"rouge_l": sum(scores) / max(len(scores), 1)}


class BleuScore(evaluate.Metric):
    """Corpus BLEU through sacrebleu, 0–1."""

    def _info(self) -> evaluate.MetricInfo:
        return _qa_info("Corpus BLEU (sacrebleu) divided by 100.")

    def _compute(self, predictions: list[str], references: list[list[str]]) -> dict:
        return {"bleu": bleu(predictions, references)}


class RetrievalScores(evaluate.Metric):
    """nDCG@10, MRR@10, Recall@1/5/10 with binary relevance, 0–1."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description="BEIR-style ranking scores with binary relevance.",
            citation="Thakur et al. 2021, BEIR",
            inputs_description="predictions: ranked document ids; references: relevant ids",
            features=datasets.Features(
                {
                    "predictions": datasets.Sequence(datasets.Value("string")),
                    "references": datasets.Sequence(datasets.Value("string")),
                }
            ),
        )

    def _compute(self, predictions: list[list[str]], references: list[list[str]]) -> dict:
        scores = retrieval_scores(predictions, [{d: 1.0 for d in r} for r in references])
        scores.pop("per_sample")
        return scores
