"""All QA scorers on 10,000 prediction/reference pairs: ours vs per-pair calls.

Ours: `qa_scores` (EM and F1 with cached normalisation, ROUGE-L through one rouge_score
scorer, corpus BLEU through sacrebleu in one call). Baseline, same run, same pairs:
`rouge_score` and `sacrebleu.sentence_bleu` called per pair, plus a plain per-pair EM/F1
loop (SQuAD's reference functions, re-normalising every string).

Prints `ratio_vs_per_pair=` (our wall time / baseline; target ≤ 0.5).

    .venv/bin/python bench/bench_scorers.py [--pairs 10000]
"""

from __future__ import annotations

import argparse
import random
import re
import string
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sacrebleu  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402

from hub_assets.devhub.demo_text import qa_items  # noqa: E402
from hub_assets.evaluation.qa_scoring import qa_scores  # noqa: E402


def squad_normalize(s: str) -> str:
    """SQuAD's reference normaliser, as its evaluation script writes it."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def squad_f1(pred: str, gold: str) -> float:
    p, g = squad_normalize(pred).split(), squad_normalize(gold).split()
    if not p or not g:
        return float(p == g)
    same = sum((Counter(p) & Counter(g)).values())
    if not same:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def pairs(n: int) -> tuple[list[str], list[list[str]]]:
    items = qa_items(360)
    rng = random.Random(0)
    preds, refs = [], []
    for i in range(n):
        item = items[i % len(items)]
        words = item["context"].split()
        start = rng.randrange(len(words))
        preds.append(
            "" if rng.random() < 0.1 else " ".join(words[start : start + rng.randrange(1, 8)])
        )
        refs.append(list(item["answers"]["text"]))
    return preds, refs


def baseline(preds: list[str], refs: list[list[str]]) -> dict:
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    em = f1 = rl = bl = 0.0
    for p, r in zip(preds, refs, strict=True):
        golds = r or [""]
        em += max(float(squad_normalize(p) == squad_normalize(g)) for g in golds)
        f1 += max(squad_f1(p, g) for g in golds)
        rl += max(scorer.score(g, p)["rougeL"].fmeasure for g in golds)
        bl += sacrebleu.sentence_bleu(p, golds).score / 100
    n = len(preds)
    return {"exact_match": em / n, "f1": f1 / n, "rouge_l": rl / n, "bleu": bl / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.pairs = 200
    preds, refs = pairs(args.pairs)
    qa_scores(preds[:50], refs[:50])  # warm imports outside the timings
    baseline(preds[:50], refs[:50])

    t = time.perf_counter()
    ours = qa_scores(preds, refs)
    ours_s = time.perf_counter() - t
    t = time.perf_counter()
    base = baseline(preds, refs)
    base_s = time.perf_counter() - t
    assert abs(ours["f1"] - base["f1"]) < 0.02, (ours["f1"], base["f1"])

    print(f"pairs={args.pairs}")
    print(f"ours_s={ours_s:.2f} baseline_s={base_s:.2f}")
    print(
        f"ours: em={ours['exact_match']:.3f} f1={ours['f1']:.3f} "
        f"rouge_l={ours['rouge_l']:.3f} corpus_bleu={ours['bleu']:.3f}"
    )
    print(
        f"baseline: em={base['exact_match']:.3f} f1={base['f1']:.3f} "
        f"rouge_l={base['rouge_l']:.3f} mean_sentence_bleu={base['bleu']:.3f}"
    )
    print(f"ratio_vs_per_pair={ours_s / base_s:.2f}")


if __name__ == "__main__":
    main()
