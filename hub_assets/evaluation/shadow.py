"""Shadow evaluation of one model revision on a pinned dataset, cached and comparable.

The result is keyed by (model revision, dataset fingerprint, generation config, scorer
version): the same key never runs the model twice. Every sample keeps its prediction, its
scores and hashes of its prompt, reference and generation config, so two runs can be
compared sample by sample (`paired_bootstrap`).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hub_assets.evaluation.backends import (
    EMBEDDING_TASKS,
    GENERATION_TASKS,
    EmbeddingBackend,
    GenerationConfig,
    QABackend,
)
from hub_assets.evaluation.datasets import QA_TASK, RETRIEVAL_TASK, CachedDataset
from hub_assets.evaluation.qa_scoring import qa_scores
from hub_assets.evaluation.retrieval_scoring import retrieval_scores
from hub_assets.evaluation.scorers import SCORER_VERSION
from hub_assets.metrics.trust import model_index_results

PRIMARY = {QA_TASK: ("f1", "exact_match"), RETRIEVAL_TASK: ("ndcg_at_10", "mrr_at_10")}


def _h(value: object) -> str:
    raw = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def dataset_task_for(pipeline_tag: str | None) -> str | None:
    """Which evaluation a model's task gets: QA for generators, retrieval for encoders."""
    if pipeline_tag in GENERATION_TASKS:
        return QA_TASK
    if pipeline_tag in EMBEDDING_TASKS:
        return RETRIEVAL_TASK
    return None


def cache_key(model_sha: str, dataset_fingerprint: str, config: GenerationConfig) -> str:
    """The evaluation cache key: what would make a rerun give a different answer."""
    return _h(
        {
            "model": model_sha,
            "dataset": dataset_fingerprint,
            "generation": config.digest(),
            "scorers": SCORER_VERSION,
        }
    )


@dataclass
class ShadowResult:
    """Scores, per-sample records and claimed-vs-measured of one evaluation."""

    task: str
    scores: dict[str, float]
    samples: list[dict]
    claims: list[dict] = field(default_factory=list)
    duration_s: float = 0.0

    @property
    def failed_samples(self) -> int:
        return sum(1 for s in self.samples if s["error"])


def evaluate_qa(
    model_dir: Path,
    pipeline_tag: str,
    data: CachedDataset,
    config: GenerationConfig,
    limit: int | None = None,
) -> ShadowResult:
    """Answer every question of the QA set and score it."""
    frame = data.frame("default", "validation")
    if limit:
        frame = frame.head(limit)
    backend = QABackend(model_dir, pipeline_tag, config)
    prompts = [
        backend.prompt(c, q) for c, q in zip(frame["context"], frame["question"], strict=True)
    ]
    refs = [list(a["text"]) for a in frame["answers"]]
    started = time.perf_counter()
    out = backend.answer(prompts)
    scores = qa_scores(out.predictions, refs)
    per = scores.pop("per_sample")
    gen_hash = config.digest()
    samples = [
        {
            "sample_id": str(sid),
            "prediction": pred,
            "scores": {k: per[k][i] for k in per},
            "prompt_hash": _h(prompt),
            "reference_hash": _h(ref),
            "generation_config_hash": gen_hash,
            "error": err,
        }
        for i, (sid, pred, prompt, ref, err) in enumerate(
            zip(frame["id"], out.predictions, prompts, refs, out.errors, strict=True)
        )
    ]
    return ShadowResult(QA_TASK, scores, samples, duration_s=time.perf_counter() - started)


def evaluate_retrieval(
    model_dir: Path, data: CachedDataset, config: GenerationConfig, limit: int | None = None
) -> ShadowResult:
    """Rank the corpus for every query and score the rankings against the qrels."""
    corpus = data.frame("corpus", "corpus")
    queries = data.frame("queries", "queries")
    if limit:
        queries = queries.head(limit)
    qrels: dict[str, dict[str, float]] = {}
    for row in data.frame("qrels", "test").itertuples(index=False):
        qrels.setdefault(row[0], {})[row[1]] = float(row[2])
    backend = EmbeddingBackend(model_dir, config)
    started = time.perf_counter()
    docs = [f"{t}. {x}" for t, x in zip(corpus["title"], corpus["text"], strict=True)]
    rankings = backend.rank(list(queries["text"]), list(corpus["_id"]), docs)
    rels = [qrels.get(q, {}) for q in queries["_id"]]
    scores = retrieval_scores(rankings, rels)
    per = scores.pop("per_sample")
    gen_hash = config.digest()
    samples = [
        {
            "sample_id": qid,
            "prediction": json.dumps(ranked),
            "scores": {k: per[k][i] for k in per},
            "prompt_hash": _h(text),
            "reference_hash": _h(rel),
            "generation_config_hash": gen_hash,
            "error": None,
        }
        for i, (qid, text, ranked, rel) in enumerate(
            zip(queries["_id"], queries["text"], rankings, rels, strict=True)
        )
    ]
    return ShadowResult(RETRIEVAL_TASK, scores, samples, duration_s=time.perf_counter() - started)


def claimed_vs_measured(
    card_data: Mapping, dataset_repo: str, measured: Mapping[str, float]
) -> list[dict]:
    """The card's model-index claims on the dataset we evaluate, beside what we measured."""
    out = []
    for claim in model_index_results(card_data):
        if claim["dataset"] != dataset_repo or claim["metric"] not in measured:
            continue
        value = float(claim["value"])
        value = value / 100 if value > 1 else value  # claims are often in percent
        out.append(
            {
                "metric": claim["metric"],
                "claimed": value,
                "measured": round(measured[claim["metric"]], 4),
            }
        )
    return out


def paired_bootstrap(
    old: Mapping[str, float], new: Mapping[str, float], *, resamples: int = 2000, seed: int = 0
) -> dict:
    """Paired bootstrap over the samples both runs scored.

    Returns the mean difference (new − old) and the share of resamples in which the new run
    is not worse (`p_not_worse`): a small value means a significant drop.
    """
    shared = sorted(set(old) & set(new))
    if not shared:
        return {"shared": 0, "delta": 0.0, "p_not_worse": 1.0}
    diffs = [new[s] - old[s] for s in shared]
    rng = random.Random(seed)
    n = len(diffs)
    not_worse = sum(
        1 for _ in range(resamples) if sum(diffs[rng.randrange(n)] for _ in range(n)) >= 0
    )
    return {
        "shared": n,
        "delta": sum(diffs) / n,
        "old": sum(old[s] for s in shared) / n,
        "new": sum(new[s] for s in shared) / n,
        "p_not_worse": not_worse / resamples,
    }


def regression_findings(
    task: str, old_samples: Sequence[dict], new_samples: Sequence[dict], alpha: float = 0.05
) -> list[str]:
    """Primary metrics that dropped significantly, each named with the size of the drop."""
    findings = []
    for metric in PRIMARY[task]:
        old = {s["sample_id"]: s["scores"][metric] for s in old_samples}
        new = {s["sample_id"]: s["scores"][metric] for s in new_samples}
        test = paired_bootstrap(old, new)
        if test["shared"] and test["delta"] < 0 and test["p_not_worse"] < alpha:
            findings.append(
                f"{metric} dropped by {-test['delta']:.3f} ({test['old']:.3f} → "
                f"{test['new']:.3f}) over {test['shared']} shared samples "
                f"(paired bootstrap p={test['p_not_worse']:.3f})"
            )
    return findings
