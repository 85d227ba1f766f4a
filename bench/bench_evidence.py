"""Evidence a statistician would sign: what the overlap check costs, and the regression
check's error rates.

1. Measured overlap: 10,000 evaluation items looked up in 100,000 training items (word
   13-grams, evaluation/contamination.py), against the baseline of reading those items
   once (lower-casing and splitting every item into words). 5% of the evaluation items are
   seeded into the training set, so the check must find them.
2. The regression check (evaluation/comparison.py) on synthetic paired evaluations with a
   known effect: the false-positive rate at no effect (target <= 5%) and the power at
   several effect sizes, both metrics of a QA task tested together (Holm).

Usage: python bench/bench_evidence.py [--tiny]
"""

from __future__ import annotations

import random
import sys
import time
from itertools import accumulate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from hub_assets.evaluation.comparison import compare_runs  # noqa: E402
from hub_assets.evaluation.contamination import NgramIndex, ngram_overlap  # noqa: E402

TINY = "--tiny" in sys.argv
EVAL_ITEMS, TRAIN_ITEMS = (1_000, 10_000) if TINY else (10_000, 100_000)
TRIALS = 100 if TINY else 1_000
SAMPLES = 300  # per evaluation, as the demo's QA set
EFFECTS = (0.0, 0.02, 0.04, 0.08)


def texts(n: int, rng: random.Random, vocab: list[str]) -> list[str]:
    """`n` items of 40-80 words drawn from a Zipf-like vocabulary."""
    cum = list(accumulate(1 / (i + 1) for i in range(len(vocab))))
    return [" ".join(rng.choices(vocab, cum_weights=cum, k=rng.randint(40, 80))) for _ in range(n)]


def overlap_bench() -> None:
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(30_000)]
    evaluation = {f"e{i}": t for i, t in enumerate(texts(EVAL_ITEMS, rng, vocab))}
    seeded = list(evaluation.values())[: EVAL_ITEMS // 20]
    training = texts(TRAIN_ITEMS - len(seeded), rng, vocab) + seeded
    started = time.perf_counter()
    words = sum(len(t.lower().split()) for t in [*evaluation.values(), *training])
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    index = NgramIndex()
    index.add_many(training)
    got = ngram_overlap(evaluation, index, "bench/train", "r")
    check_s = time.perf_counter() - started
    print(
        f"overlap: {EVAL_ITEMS:,} evaluation items against {TRAIN_ITEMS:,} training items "
        f"({words:,} words): {check_s:.2f} s; reading them once: {read_s:.2f} s; "
        f"found {got['flagged']} of {len(seeded)} seeded items "
        f"(flagged share {got['flagged_share']:.2%}, seeded 5%)"
    )
    print(f"overlap_ratio_vs_one_read={check_s / read_s:.1f}")


def runs(rng: np.random.Generator, effect: float) -> tuple[list[dict], list[dict]]:
    """Two paired evaluations: per-sample difficulty shared, the new one `effect` worse."""
    skill = rng.uniform(0.2, 0.9, SAMPLES)
    em = (rng.random(SAMPLES) < skill, rng.random(SAMPLES) < np.clip(skill - effect, 0, 1))
    f1 = (
        np.clip(skill + rng.normal(0, 0.15, SAMPLES), 0, 1),
        np.clip(skill - effect + rng.normal(0, 0.15, SAMPLES), 0, 1),
    )
    return tuple(
        [
            {"sample_id": str(i), "scores": {"f1": float(f[i]), "exact_match": float(e[i])}}
            for i in range(SAMPLES)
        ]
        for e, f in zip(em, f1, strict=True)
    )


def error_rates_bench() -> None:
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    for effect in EFFECTS:
        found = 0
        for _ in range(TRIALS):
            old, new = runs(rng, effect)
            got = compare_runs(["f1", "exact_match"], old, new, alpha=0.05, min_samples=30)
            found += bool(got.findings)
        rate = found / TRIALS
        what = "false-positive rate" if effect == 0 else f"power at a drop of {effect}"
        print(f"regression check, {SAMPLES} paired samples, {TRIALS} trials: {what} {rate:.3f}")
    per = (time.perf_counter() - started) / (TRIALS * len(EFFECTS))
    print(f"regression check: {per * 1000:.1f} ms per comparison of two metrics")


if __name__ == "__main__":
    overlap_bench()
    error_rates_bench()
