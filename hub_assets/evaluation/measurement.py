"""What a shadow evaluation measured, with its uncertainty and the chance level beside it.

- `bootstrap_interval`: a 95% percentile bootstrap interval of a per-sample mean.
- `chance_baseline`: what a trivial system scores on the same samples: for QA the empty
  answerer (it says "no answer" to everything, so it earns exactly the unanswerable share),
  for retrieval a uniformly random ranking (the mean over 20 seeded shuffles per query).
- `Measurement`: one evaluation's scores, intervals and baseline, as the gate reads them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from hub_assets.comparability import basis_key
from hub_assets.evaluation.qa_scoring import exact_match, token_f1
from hub_assets.evaluation.retrieval_scoring import retrieval_scores

QA_TASK, RETRIEVAL_TASK = "qa", "retrieval"
# The metric each task is judged on, then a second one shown beside it.
PRIMARY = {QA_TASK: ("f1", "exact_match"), RETRIEVAL_TASK: ("ndcg_at_10", "mrr_at_10")}
METRIC_LABELS = {"f1": "F1", "exact_match": "EM", "ndcg_at_10": "nDCG@10", "mrr_at_10": "MRR@10"}
BOOTSTRAP_RESAMPLES = 1000
# A claim is contradicted when it lies above the measured interval's upper bound by more
# than this (absolute, on the 0-1 scale). Under-claims are noted, never failed.
CLAIM_MARGIN = 0.05
CHANCE_SHUFFLES = 20
# The version of the scoring code (qa_scoring, retrieval_scoring, this module): bumped when a
# change would alter a score, so cached evaluations made by older code are not reused.
SCORER_VERSION = "1"


def evaluation_basis(
    *,
    task: str,
    dataset_repo: str,
    dataset_revision: str,
    dataset_fingerprint: str,
    backend: str,
    generation_config: Mapping[str, object],
    scorer_version: str = SCORER_VERSION,
) -> dict:
    """What an evaluation score rests on besides the model (`hub_assets.comparability`):
    two models' scores are comparable exactly when these are equal."""
    return {
        "kind": "evaluation",
        "task": task,
        "dataset": dataset_repo,
        "dataset_revision": dataset_revision,
        "dataset_fingerprint": dataset_fingerprint,
        "scorer_version": scorer_version,
        "backend": backend or "local",
        "generation_config": dict(generation_config),
    }


def evaluation_key(**parts: object) -> str:
    """The comparability key of an evaluation with these parts (`evaluation_basis`)."""
    return basis_key(evaluation_basis(**parts))


def bootstrap_interval(
    values: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the mean over `resamples` resamples (seeded)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return (round(float(low), 4), round(float(high), 4))


def intervals_of(per_sample: Mapping[str, Sequence[float]]) -> dict[str, list[float]]:
    """A bootstrap interval for every per-sample metric."""
    return {name: list(bootstrap_interval(values)) for name, values in per_sample.items()}


def chance_baseline(
    task: str, references: Sequence, corpus_ids: Sequence[str] | None = None
) -> dict:
    """The trivial system's name, mean scores and per-sample scores for `task`.

    `references`: for QA each sample's gold answers (empty for unanswerable); for retrieval
    each query's qrels {doc id: grade}, with `corpus_ids` the documents to shuffle.
    """
    if task == QA_TASK:
        per = {
            "f1": [token_f1("", list(golds)) for golds in references],
            "exact_match": [exact_match("", list(golds)) for golds in references],
        }
        name = "empty answerer (always 'no answer')"
    elif task == RETRIEVAL_TASK:
        ids = list(corpus_ids or [])
        rng = random.Random(0)
        sums: dict[str, list[float]] = {}
        for _ in range(CHANCE_SHUFFLES):
            ranked = [rng.sample(ids, min(10, len(ids))) for _ in references]
            scores = retrieval_scores(ranked, list(references))["per_sample"]
            for metric, values in scores.items():
                acc = sums.setdefault(metric, [0.0] * len(values))
                for i, v in enumerate(values):
                    acc[i] += v / CHANCE_SHUFFLES
        per = sums
        name = f"random ranking (mean of {CHANCE_SHUFFLES} shuffles)"
    else:
        raise ValueError(f"no chance baseline for task {task!r}")
    n = max(len(references), 1)
    return {
        "name": name,
        "scores": {metric: round(sum(v) / n, 4) for metric, v in per.items()},
        "per_sample": per,
    }


@dataclass(frozen=True)
class Measurement:
    """One shadow evaluation of a revision, as evidence for the gate."""

    task: str
    dataset: str
    dataset_revision: str
    eval_run_id: str
    scores: dict[str, float]
    intervals: dict[str, list[float]]
    baseline: dict = field(default_factory=dict)  # {"name", "scores"}
    samples: int = 0
    # whether the model was trained on this set (evaluation.contamination.judge)
    contamination: dict = field(default_factory=dict)

    @property
    def flag(self) -> str:
        """`zero_shot`, `declared_overlap`, `measured_overlap`, or `not_checked`."""
        return str(self.contamination.get("flag") or "not_checked")

    @property
    def primary(self) -> str:
        return PRIMARY[self.task][0]

    def interval(self, metric: str) -> tuple[float, float] | None:
        got = self.intervals.get(metric)
        return (float(got[0]), float(got[1])) if got else None

    def chance(self, metric: str) -> float | None:
        value = (self.baseline.get("scores") or {}).get(metric)
        return float(value) if value is not None else None

    def above_chance(self) -> bool:
        """The primary metric's lower bound is above the chance baseline's score."""
        interval, chance = self.interval(self.primary), self.chance(self.primary)
        return interval is not None and chance is not None and interval[0] > chance

    def describe(self, metric: str) -> str:
        """`F1 0.63 [0.58, 0.68]`: the measured mean with its interval."""
        label = METRIC_LABELS.get(metric, metric)
        interval = self.interval(metric)
        value = self.scores.get(metric, 0.0)
        if interval is None:
            return f"{label} {value:.2f}"
        return f"{label} {value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"

    def summary(self) -> dict:
        """The facts the gate's evidence records (metric_values details)."""
        return {
            "task": self.task,
            "dataset": self.dataset,
            "dataset_revision": self.dataset_revision,
            "eval_run_id": self.eval_run_id,
            "metric": self.primary,
            "measured": self.scores.get(self.primary),
            "interval": self.intervals.get(self.primary),
            "baseline": self.baseline.get("name"),
            "baseline_score": self.chance(self.primary),
            "samples": self.samples,
            "contamination": self.flag,
        }
