"""Shadow evaluation of one model revision on a pinned dataset, cached and comparable.

The result is keyed by (model revision, dataset fingerprint, generation config, scorer
version): the same key never runs the model twice. Every sample keeps its prediction, its
scores and hashes of its prompt, reference and generation config, so two runs can be
compared sample by sample (`comparison.compare_runs`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hub_assets.evaluation.backends import (
    EMBEDDING_TASKS,
    EXTRACTIVE_TASKS,
    GENERATION_TASKS,
    EmbeddingBackend,
    ExtractiveQABackend,
    GenerationConfig,
    Outputs,
    QABackend,
    qa_prompt,
    top_ids,
)
from hub_assets.evaluation.datasets import CachedDataset, DatasetPin
from hub_assets.evaluation.inference_api import BACKEND, InferenceApiBackend
from hub_assets.evaluation.measurement import (
    QA_TASK,
    RETRIEVAL_TASK,
    SCORER_VERSION,
    Measurement,
    chance_baseline,
    intervals_of,
)
from hub_assets.evaluation.qa_scoring import qa_scores
from hub_assets.evaluation.retrieval_scoring import retrieval_scores


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


def weight_bytes(weight_files: Mapping[str, int]) -> int:
    """Bytes of the weights a local run would load: the safetensors, else the smallest GGUF
    file."""
    safetensors = sum(s for p, s in weight_files.items() if p.endswith(".safetensors"))
    ggufs = [s for p, s in weight_files.items() if p.endswith(".gguf")]
    return safetensors or min(ggufs, default=0)


def local_evaluation_blocker(weight_files: Mapping[str, int], max_weight_bytes: int) -> str | None:
    """Why this revision cannot be evaluated on this machine, or None: the local backends
    load safetensors or GGUF only, up to the same weight limit as the reproducibility run."""
    if not any(p.endswith((".safetensors", ".gguf")) for p in weight_files):
        return "no safetensors or GGUF weights (pickle files are never loaded)"
    size = weight_bytes(weight_files)
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
    backend: Mapping | None = None,
    dataset: str | None = None,
) -> str:
    """The evaluation cache key: what would make a rerun give a different answer (a run on
    the first N samples is not the run on all of them; an API run is not a local run), and
    the evaluation set it belongs to (two sets with the same files are two evaluations)."""
    key = {
        "model": model_sha,
        "dataset": dataset_fingerprint,
        "generation": config.digest(),
        "scorers": SCORER_VERSION,
    }
    if sample_limit:
        key["sample_limit"] = sample_limit
    if backend:
        key["backend"] = dict(backend)
    if dataset:
        key["dataset_repo"] = dataset
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
    coverage: float = 1.0  # answered samples / samples (API misses are unanswered)
    api: dict = field(default_factory=dict)  # the API's figures (ApiSession.summary)

    @property
    def failed_samples(self) -> int:
        return sum(1 for s in self.samples if s["error"])

    def measurement(
        self, dataset: str, revision: str, eval_run_id: str, contamination: dict | None = None
    ) -> Measurement:
        """This result as the gate's evidence (with its set's contamination verdict)."""
        return Measurement(
            self.task,
            dataset,
            revision,
            eval_run_id,
            self.scores,
            self.intervals,
            self.baseline,
            len(self.samples),
            contamination or {},
        )


def _baseline(task: str, references: Sequence, corpus_ids: Sequence[str] | None = None) -> dict:
    chance = chance_baseline(task, references, corpus_ids)
    return {"name": chance["name"], "scores": chance["scores"]}


def _result(
    task: str,
    ids: Sequence,
    predictions: Sequence[str],
    prompts: Sequence[str],
    refs: Sequence,
    out: Outputs,
    scorer: Callable[[list, list], dict],
    config: GenerationConfig,
    started: float,
    backend: str,
    corpus_ids: Sequence[str] | None = None,
) -> ShadowResult:
    """Score the answered samples; unanswered ones (API misses) keep their reason, no
    score, and count against coverage. The chance baseline is taken on the same samples."""
    answered = [i for i in range(len(ids)) if i not in out.unanswered]
    scores: dict = {}
    per: dict[str, list[float]] = {}
    if answered:
        scores = scorer([predictions[i] for i in answered], [refs[i] for i in answered])
        per = scores.pop("per_sample")
    position = {i: n for n, i in enumerate(answered)}
    gen_hash = config.digest()
    samples = [
        {
            "sample_id": str(sid),
            "prediction": p if isinstance(p := predictions[i], str) else json.dumps(p),
            "scores": {k: per[k][position[i]] for k in per} if i in position else {},
            "prompt_hash": _h(prompts[i]),
            "reference_hash": _h(refs[i]),
            "generation_config_hash": gen_hash,
            "error": out.errors[i],
            "backend": backend,
        }
        for i, sid in enumerate(ids)
    ]
    baseline = (
        _baseline(task, [refs[i] for i in answered], corpus_ids)
        if answered
        else {"name": "", "scores": {}}
    )
    return ShadowResult(
        task,
        scores,
        samples,
        intervals=intervals_of(per),
        baseline=baseline,
        backend=backend,
        duration_s=time.perf_counter() - started,
        coverage=len(answered) / len(ids) if len(ids) else 0.0,
    )


def evaluate_qa(
    model_dir: Path | None,
    pipeline_tag: str,
    data: CachedDataset,
    config: GenerationConfig,
    limit: int | None = None,
    api: InferenceApiBackend | None = None,
    gguf_file: str | None = None,
    base_dir: Path | None = None,
) -> ShadowResult:
    """Answer every question of the QA set and score it: extractive models pick a span of
    the context (or no answer), generators write an answer to a prompt; locally from
    `model_dir` (its `gguf_file`, or an adapter on `base_dir`), or through `api`."""
    frame = data.frame("default", "validation")
    if limit:
        frame = frame.head(limit)
    contexts, questions = list(frame["context"]), list(frame["question"])
    refs = [list(a["text"]) for a in frame["answers"]]
    if pipeline_tag in EXTRACTIVE_TASKS:
        prompts = [f"question: {q}\ncontext: {c}" for q, c in zip(questions, contexts, strict=True)]
    else:
        prompts = [
            qa_prompt(pipeline_tag, config, c, q) for c, q in zip(contexts, questions, strict=True)
        ]
    if api is not None:
        started = time.perf_counter()
        out = (
            api.answer_extractive(questions, contexts, config)
            if pipeline_tag in EXTRACTIVE_TASKS
            else api.answer_generation(prompts, config)
        )
    elif pipeline_tag in EXTRACTIVE_TASKS:
        extractive = ExtractiveQABackend(model_dir, config)
        started = time.perf_counter()
        out = extractive.answer(questions, contexts)
    else:
        backend = QABackend(model_dir, pipeline_tag, config, gguf_file, base_dir)
        started = time.perf_counter()
        out = backend.answer(prompts)
    return _result(
        QA_TASK,
        list(frame["id"]),
        out.predictions,
        prompts,
        refs,
        out,
        qa_scores,
        config,
        started,
        BACKEND if api is not None else "local",
    )


def evaluate_retrieval(
    model_dir: Path | None,
    data: CachedDataset,
    config: GenerationConfig,
    limit: int | None = None,
    api: InferenceApiBackend | None = None,
) -> ShadowResult:
    """Rank the corpus for every judged query of the held-out qrels split and score the
    rankings against the qrels; locally from `model_dir`, or through `api`."""
    corpus = data.frame("corpus", "corpus")
    queries = data.frame("queries", "queries")
    qrels: dict[str, dict[str, float]] = {}
    split = next(s for c, s in data.pin.splits if c == "qrels")
    for row in data.frame("qrels", split).itertuples(index=False):
        qrels.setdefault(row[0], {})[row[1]] = float(row[2])
    queries = queries[queries["_id"].isin(qrels)]
    if limit:
        queries = queries.head(limit)
    texts, doc_ids = list(queries["text"]), list(corpus["_id"])
    docs = [f"{t}. {x}" for t, x in zip(corpus["title"], corpus["text"], strict=True)]
    if api is None:
        backend = EmbeddingBackend(model_dir, config)
        started = time.perf_counter()
        rankings = backend.rank(texts, doc_ids, docs)
        out = Outputs(errors=[None] * len(texts))
    else:
        started = time.perf_counter()
        rankings, out = _rank_through(api, texts, doc_ids, docs)
    rels = [qrels.get(q, {}) for q in queries["_id"]]
    return _result(
        RETRIEVAL_TASK,
        list(queries["_id"]),
        rankings,
        texts,
        rels,
        out,
        retrieval_scores,
        config,
        started,
        BACKEND if api is not None else "local",
        doc_ids,
    )


def _rank_through(
    api: InferenceApiBackend, texts: list[str], doc_ids: list[str], docs: list[str]
) -> tuple[list[list[str]], Outputs]:
    """Rankings from embeddings the API returns. A query needs the whole corpus: passages
    whose request failed are asked once more, and if some still have no embedding, no query
    is answered."""
    import numpy as np

    doc_rows, missing, _ = api.embed(docs)
    if missing:
        order = sorted(missing)
        again, still, _ = api.embed([docs[i] for i in order])
        for j, i in enumerate(order):
            doc_rows[i] = again[j]
        missing = {order[j] for j in still}
    q_rows, q_missing, problems = api.embed(texts)
    out = Outputs(predictions=[[] for _ in texts], errors=list(problems))
    if missing:
        why = f"corpus incomplete: {len(missing)} of {len(docs)} passages got no embedding"
        out.unanswered = set(range(len(texts)))
        out.errors = [p or f"bypassed: {why}" for p in out.errors]
        return [[] for _ in texts], out
    out.unanswered = set(q_missing)
    answered = [i for i in range(len(texts)) if i not in q_missing]
    rankings: list[list[str]] = [[] for _ in texts]
    if answered:
        top = top_ids(np.stack([q_rows[i] for i in answered]), np.stack(doc_rows), doc_ids)
        for i, ranked in zip(answered, top, strict=True):
            rankings[i] = ranked
    return rankings, out
