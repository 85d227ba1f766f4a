"""An evaluation's per-sample evidence, readable: each sample's input and reference read back
from the pinned dataset (the registry keeps only their hashes) beside the model's prediction
and score, worst first. What the gate's "worst samples" link, `hub-assets samples` and
`GET /models/{id}/samples` show."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from hub_assets.errors import SamplesUnavailableError
from hub_assets.evaluation.datasets import DEFAULT_PINS, DatasetPin
from hub_assets.evaluation.measurement import PRIMARY, QA_TASK
from hub_assets.registry.evaluations import latest_evaluation, report_samples
from hub_assets.registry.metrics import current_revision
from hub_assets.registry.store import Registry

# A cell is cut to this many characters: a table row stays readable, a passage stays whole
# enough to judge the answer against.
TEXT_LIMIT = 400
TOP_DOCUMENTS = 3  # a retrieval prediction shows the first ranked passages


@dataclass(frozen=True)
class SampleEvidence:
    """One evaluated sample, as a reviewer reads it."""

    sample_id: str
    input: str
    reference: str
    prediction: str
    score: float | None  # the task's primary metric; None: the sample was not answered
    error: str | None


@dataclass(frozen=True)
class EvaluationSamples:
    """The samples of a revision's newest evaluation, worst first."""

    model_id: str
    revision_sha: str
    eval_run_id: str
    task: str
    metric: str
    dataset: str  # repo@revision
    total: int
    rows: list[SampleEvidence]

    def as_dict(self) -> dict:
        """JSON-ready (the API's and `--format json`'s shape)."""
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def _cut(text: object) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def _pin(task: str, repo: str, revision: str) -> DatasetPin:
    splits = next(p.splits for p in DEFAULT_PINS if p.task == task)
    return DatasetPin(repo, revision, task, splits)


def _frame(folder: Path, config: str, split: str) -> pd.DataFrame:
    path = folder / f"{config}-{split}.parquet"
    if not path.is_file():
        raise SamplesUnavailableError(
            f"The evaluation's dataset is not in the evaluation cache ({config}/{split} of "
            f"{folder.name}); the next evaluation run caches it again."
        )
    return pd.read_parquet(path)


def _qa_texts(folder: Path, pin: DatasetPin) -> dict[str, tuple[str, str]]:
    """sample id → (question with its context, reference answers)."""
    frame = _frame(folder, *pin.splits[0])
    return {
        str(r.id): (
            f"{r.question} [context: {r.context}]",
            " | ".join(dict.fromkeys(str(a) for a in r.answers["text"])) or "(no answer)",
        )
        for r in frame.itertuples(index=False)
    }


def _retrieval_texts(
    folder: Path, pin: DatasetPin
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """(query id → (query, relevant passages), passage id → its title)."""
    corpus = _frame(folder, "corpus", "corpus")
    titles = {
        str(i): str(t or x)[:80]
        for i, t, x in zip(corpus["_id"], corpus["title"], corpus["text"], strict=True)
    }
    queries = _frame(folder, "queries", "queries")
    split = next(s for c, s in pin.splits if c == "qrels")
    relevant: dict[str, list[str]] = {}
    for row in _frame(folder, "qrels", split).itertuples(index=False):
        if float(row[2]) > 0:
            relevant.setdefault(str(row[0]), []).append(str(row[1]))
    texts = {
        str(q): (str(t), "; ".join(f"{d} ({titles.get(d, '?')})" for d in relevant.get(str(q), [])))
        for q, t in zip(queries["_id"], queries["text"], strict=True)
    }
    return texts, titles


def worst_samples(
    registry: Registry, model_id: str, cache_dir: Path, worst: int | None = 10
) -> EvaluationSamples:
    """The newest evaluation of the model's current revision, its `worst` lowest-scoring
    samples first (unanswered ones before all; None: every sample), with their input and
    reference read from the pinned dataset in `cache_dir`. Reads no network."""
    with registry.read() as con:
        current = current_revision(con, model_id)
        if current is None:
            raise SamplesUnavailableError(
                f"Model {model_id!r} is not in the registry (or has no stored revision yet)."
            )
        sha = current[0]
        run = latest_evaluation(con, model_id, sha)
        samples = report_samples(con, run["eval_run_id"]) if run else []
    if run is None:
        raise SamplesUnavailableError(
            f"{model_id} has no evaluation at its current revision {sha[:12]} (its task has "
            "no evaluation set, its security verdict refused it, or it was not evaluated yet)."
        )
    task = run["task"]
    pin = _pin(task, run["dataset_repo"], run["dataset_revision"])
    folder = Path(cache_dir) / pin.key
    metric = PRIMARY[task][0]
    titles: dict[str, str] = {}
    if task == QA_TASK:
        texts = _qa_texts(folder, pin)
    else:
        texts, titles = _retrieval_texts(folder, pin)

    def prediction(raw: str | None) -> str:
        if task == QA_TASK or not raw:
            return raw or ""
        ranked = json.loads(raw)[:TOP_DOCUMENTS]
        return "; ".join(f"{d} ({titles.get(d, '?')})" for d in ranked)

    rows = []
    for s in samples:
        scores = json.loads(s["scores"]) if isinstance(s["scores"], str) else s["scores"]
        question, reference = texts.get(s["sample_id"], ("(not in the dataset)", ""))
        rows.append(
            SampleEvidence(
                sample_id=s["sample_id"],
                input=_cut(question),
                reference=_cut(reference),
                prediction=_cut(prediction(s["prediction"])),
                score=round(float(scores[metric]), 3) if metric in scores else None,
                error=s["error"],
            )
        )
    rows.sort(key=lambda r: (r.score is not None, r.score or 0.0, r.sample_id))
    return EvaluationSamples(
        model_id=model_id,
        revision_sha=sha,
        eval_run_id=run["eval_run_id"],
        task=task,
        metric=metric,
        dataset=f"{pin.repo_id}@{pin.revision[:12]}",
        total=len(rows),
        rows=rows if worst is None else rows[:worst],
    )
