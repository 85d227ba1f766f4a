"""Whether a model was trained on an evaluation set: its declared training data through the
model tree, and the measured n-gram overlap with each declared dataset the Hub serves.

The evaluation stage calls `judge_evaluation_set` once per new evaluation; the verdict is
recorded with the run (`eval_runs.contamination`) and read back as the measurement's flag.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

from hub_assets.errors import DatasetLoadError, HubAssetsError
from hub_assets.evaluation.contamination import (
    DECLARED_OVERLAP,
    ITEM_SHARE,
    MAX_MEASURED,
    NGRAM,
    NgramIndex,
    OverlapBudget,
    TrainingData,
    evaluation_items,
    judge,
    ngram_overlap,
    training_data_through_tree,
)
from hub_assets.evaluation.datasets import CachedDataset, read_training_text
from hub_assets.hub.client import HubClient
from hub_assets.pipeline.score import fetch_ancestry
from hub_assets.registry.store import Registry
from hub_assets.registry.tree import ancestry


def training_data(
    client: HubClient, registry: Registry, model_id: str, card_data: Mapping, run_id: str
) -> list[TrainingData]:
    """The datasets the model's card declares, then those its ancestors' cards declare
    (ancestors the registry does not know yet are read first)."""
    fetch_ancestry(client, registry, model_id, run_id)
    with registry.read() as con:
        rows = ancestry(con, model_id)
    own = card_data.get("datasets") or []
    return training_data_through_tree(
        model_id,
        own if isinstance(own, list) else [own],
        [(r["model_id"], r["depth"], r["datasets"]) for r in rows],
    )


def evaluation_set_sources(client: HubClient, repo_id: str, revision: str) -> list[str]:
    """The datasets an evaluation set's card names as its sources (`source_datasets`), at
    its pinned revision, read through the verified reader ([] when it cannot be read)."""
    try:
        summary = client.dataset_summary(repo_id, revision)
    except (HubAssetsError, ValueError):
        return []
    return list((summary.data or {}).get("source_datasets", [])) if summary else []


def judge_evaluation_set(
    client: HubClient,
    registry: Registry,
    model_id: str,
    card_data: Mapping,
    data: CachedDataset,
    cache_dir: Path,
    run_id: str,
    *,
    overlap: OverlapBudget | None,
    offline: bool = False,
) -> dict:
    """The (model, evaluation set) flag with its grounds. Declared overlap needs no reading;
    otherwise, within `overlap` (None: not measured), each declared training dataset the
    Hub serves is read and the set's items are looked up in it."""
    training = training_data(client, registry, model_id, card_data, run_id)
    sources = evaluation_set_sources(client, data.pin.repo_id, data.pin.revision)
    declared = judge(data.pin.repo_id, sources, training)
    if declared["flag"] == DECLARED_OVERLAP or overlap is None or offline or not training:
        return declared
    items = evaluation_items(data)
    measured, started = [], time.monotonic()
    for n, t in enumerate(training):
        left = overlap.seconds - (time.monotonic() - started)
        if left <= 0 or n >= MAX_MEASURED:
            why = "the overlap budget was spent" if left <= 0 else f"over {MAX_MEASURED} datasets"
            measured.append({"dataset": t.dataset, "skipped": why})
            continue
        measured.append(
            _measure(client, t.dataset, items, data.fingerprint, cache_dir, overlap.max_rows, left)
        )
    return judge(data.pin.repo_id, sources, training, measured)


def _measure(
    client: HubClient,
    dataset: str,
    items: Mapping[str, str],
    fingerprint: str,
    cache_dir: Path,
    max_rows: int,
    seconds: float,
) -> dict:
    """One declared training dataset against the evaluation items (cached per training
    revision and evaluation fingerprint)."""
    try:
        summary = client.dataset_summary(dataset)
    except (HubAssetsError, ValueError) as e:
        return {"dataset": dataset, "skipped": f"cannot read its metadata: {str(e)[:200]}"}
    if summary is None:
        return {"dataset": dataset, "skipped": "not on the Hub this pipeline reads"}
    sha = summary.data["sha"]
    folder = cache_dir / ".overlap"
    method = f"{NGRAM}g{ITEM_SHARE}-{max_rows}"  # another method or limit: measured again
    cached = folder / f"{dataset.replace('/', '--')}@{sha}--{fingerprint[:16]}-{method}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    started = time.monotonic()
    try:
        text = read_training_text(
            dataset,
            sha,
            client.api.endpoint,
            folder,
            client.token,
            max_rows=max_rows,
            budget_s=seconds,
        )
    except DatasetLoadError as e:
        return {"dataset": dataset, "revision": sha, "skipped": str(e)[:300]}
    index = NgramIndex()
    index.add_many(text.texts)
    result = {
        **ngram_overlap(items, index, dataset, sha),
        "complete": text.complete,
        "seconds": round(time.monotonic() - started, 2),
    }
    if text.complete:  # a partial read is measured again next time
        folder.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(result))
    return result
