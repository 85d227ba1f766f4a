"""QA scores, 0–1 each: SQuAD v2 exact match and token F1, ROUGE-L, BLEU.

EM and F1 follow the SQuAD v2 evaluation definitions: answers are normalised (lower case,
punctuation removed, articles a/an/the dropped, whitespace collapsed), a prediction takes
its best score over the gold answers, and an unanswerable question (no gold answer) counts
the empty string as its only gold: an empty prediction scores 1, anything else 0.
ROUGE-L comes from `rouge_score` (F-measure of the longest common subsequence, best over
the golds); BLEU from `sacrebleu` (corpus BLEU over every sample), both divided to 0–1.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = str.maketrans("", "", string.punctuation)


@lru_cache(maxsize=65536)
def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _golds(answers: Sequence[str]) -> list[str]:
    golds = [a for a in answers if normalize_answer(a)]
    return golds or [""]


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in _golds(answers)))


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token-overlap F1 over the gold answers (SQuAD v2)."""
    pred = normalize_answer(prediction).split()
    return max(_f1(pred, normalize_answer(g).split()) for g in _golds(answers))


class RougeL:
    """ROUGE-L F-measure through rouge_score, one scorer reused for every pair."""

    def __init__(self) -> None:
        from rouge_score import rouge_scorer

        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

    def __call__(self, prediction: str, answers: Sequence[str]) -> float:
        golds = [g for g in answers if g.strip()] or [""]
        if not prediction.strip():
            return float(golds == [""])
        if golds == [""]:
            return 0.0
        return max(self._scorer.score(g, prediction)["rougeL"].fmeasure for g in golds)


def bleu(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU over every sample, 0–1, through sacrebleu.

    BLEU is a corpus statistic (n-gram counts pooled over samples); a per-sample BLEU of a
    one-line answer says little, so none is kept per sample.
    """
    import sacrebleu

    width = max((len(r) for r in references), default=1) or 1
    # sacrebleu takes reference streams: samples with fewer golds repeat their last gold
    streams = [
        [(list(r) or [""])[min(i, max(len(r) - 1, 0))] for r in references] for i in range(width)
    ]
    return sacrebleu.corpus_bleu(list(predictions), streams).score / 100


def qa_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    """Every QA score: means under their names, per-sample lists under `per_sample`."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    rouge = RougeL()
    em = [exact_match(p, r) for p, r in zip(predictions, references, strict=True)]
    f1 = [token_f1(p, r) for p, r in zip(predictions, references, strict=True)]
    rl = [rouge(p, r) for p, r in zip(predictions, references, strict=True)]
    n = max(len(predictions), 1)
    return {
        "exact_match": sum(em) / n,
        "f1": sum(f1) / n,
        "rouge_l": sum(rl) / n,
        "bleu": bleu(predictions, references),
        "per_sample": {"exact_match": em, "f1": f1, "rouge_l": rl},
    }
