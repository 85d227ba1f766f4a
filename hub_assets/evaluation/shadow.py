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
    EXTRACTIVE_TASKS,
    GENERATION_TASKS,
    EmbeddingBackend,
    ExtractiveQABackend,
    GenerationConfig,
    QABackend,
)
from hub_assets.evaluation.datasets import CachedDataset, DatasetPin
from hub_assets.evaluation.measurement import (
    PRIMARY,
    QA_TASK,
    RETRIEVAL_TASK,
    Measurement,
    chance_baseline,
    intervals_of,
)
from hub_assets.evaluation.qa_scoring import qa_scores
from hub_assets.evaluation.retrieval_scoring import retrieval_scores
from hub_assets.evaluation.scorers import SCORER_VERSION


def _h(value: object) -> str:
    raw = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def dataset_task_for(pipeline_tag: str | None) -> str | None:
    """Which evaluation a model's task gets: QA for generators and extractive QA models,
    retrieval for encoders."""
    if pipeline_tag in GENERATION_TASKS or pipeline_tag in EXTRACTIVE_TASKS:
        return QA_TASK
    if pipeline_tag in EMBEDDING_TASKS:
        return RETRIEVAL_TASK
    return None


def pin_for(pipeline_tag: str | None, pins: Sequence[DatasetPin]) -> DatasetPin | None:
    """The pinned dataset a model of this task is evaluated on, if any."""
    task = dataset_task_for(pipeline_tag)
    return next((p for p in pins if p.task == task), None) if task else None


def local_evaluation_blocker(weight_files: Mapping[str, int], max_weight_bytes: int) -> str | None:
    """Why this revision cannot be evaluated on this machine, or None: the local backends
    load safetensors only, up to the same weight limit as the reproducibility run."""
    safetensors = {p: s for p, s in weight_files.items() if p.endswith(".safetensors")}
    if not safetensors:
        return "no safetensors weights (pickle files are never loaded)"
    size = sum(safetensors.values())
    if size > max_weight_bytes:
        return (
            f"weights of {size / 1e9:.1f} GB exceed the {max_weight_bytes / 1e9:.1f} GB local limit"
        )
    return None


def cache_key(
    model_sha: str,
    dataset_fingerprint: str,
    config: GenerationConfig,
    sample_limit: int | None = None,
) -> str:
    """The evaluation cache key: what would make a rerun give a different answer (a run on
    the first N samples is not the run on all of them)."""
    key = {
        "model": model_sha,
        "dataset": dataset_fingerprint,
        "generation": config.digest(),
        "scorers": SCORER_VERSION,
    }
    if sample_limit:
        key["sample_limit"] = sample_limit
    return _h(key)


@dataclass
class ShadowResult:
    """Scores with their bootstrap intervals, the chance baseline on the same samples, and
    per-sample records of one evaluation."""

    task: str
    scores: dict[str, float]
    samples: list[dict]
    intervals: dict[str, list[float]] = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)  # {"name", "scores"}
    backend: str = "local"
    duration_s: float = 0.0

    @property
    def failed_samples(self) -> int:
        return sum(1 for s in self.samples if s["error"])

    def measurement(self, dataset: str, revision: str, eval_run_id: str) -> Measurement:
        """This result as the gate's evidence."""
        return Measurement(
            self.task,
            dataset,
            revision,
            eval_run_id,
            self.scores,
            self.intervals,
            self.baseline,
            len(self.samples),
        )


def _baseline(task: str, references: Sequence, corpus_ids: Sequence[str] | None = None) -> dict:
    chance = chance_baseline(task, references, corpus_ids)
    return {"name": chance["name"], "scores": chance["scores"]}


def evaluate_qa(
    model_dir: Path,
    pipeline_tag: str,
    data: CachedDataset,
    config: GenerationConfig,
    limit: int | None = None,
) -> ShadowResult:
    """Answer every question of the QA set and score it: extractive models pick a span of
    the context (or no answer), generators write an answer to a prompt."""
    frame = data.frame("default", "validation")
    if limit:
        frame = frame.head(limit)
    contexts, questions = list(frame["context"]), list(frame["question"])
    refs = [list(a["text"]) for a in frame["answers"]]
    if pipeline_tag in EXTRACTIVE_TASKS:
        extractive = ExtractiveQABackend(model_dir, config)
        prompts = [f"question: {q}\ncontext: {c}" for q, c in zip(questions, contexts, strict=True)]
        started = time.perf_counter()
        out = extractive.answer(questions, contexts)
    else:
        backend = QABackend(model_dir, pipeline_tag, config)
        prompts = [backend.prompt(c, q) for c, q in zip(contexts, questions, strict=True)]
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
    return ShadowResult(
        QA_TASK,
        scores,
        samples,
        intervals=intervals_of(per),
        baseline=_baseline(QA_TASK, refs),
        duration_s=time.perf_counter() - started,
    )


def evaluate_retrieval(
    model_dir: Path, data: CachedDataset, config: GenerationConfig, limit: int | None = None
) -> ShadowResult:
    """Rank the corpus for every judged query of the held-out qrels split and score the
    rankings against the qrels."""
    corpus = data.frame("corpus", "corpus")
    queries = data.frame("queries", "queries")
    qrels: dict[str, dict[str, float]] = {}
    split = next(s for c, s in data.pin.splits if c == "qrels")
    for row in data.frame("qrels", split).itertuples(index=False):
        qrels.setdefault(row[0], {})[row[1]] = float(row[2])
    queries = queries[queries["_id"].isin(qrels)]
    if limit:
        queries = queries.head(limit)
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
    return ShadowResult(
        RETRIEVAL_TASK,
        scores,
        samples,
        intervals=intervals_of(per),
        baseline=_baseline(RETRIEVAL_TASK, rels, list(corpus["_id"])),
        duration_s=time.perf_counter() - started,
    )


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
