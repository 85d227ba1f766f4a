"""The shadow evaluation of one model's current revision, end to end: the core entry point
the Dagster asset calls (like `score_model` and `ingest_model`).

It picks the pinned dataset of the model's task, reuses an identical earlier evaluation
(same cache key) or runs the model on its verified snapshot, records the run, its samples,
its `shadow_*` values with lineage and an `evaluated` event, and compares the samples with
the model's previous evaluation (paired bootstrap).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hub_assets.evaluation.backends import BackendLoadError, GenerationConfig
from hub_assets.evaluation.datasets import DatasetPin, cache_dataset
from hub_assets.evaluation.measurement import QA_TASK, Measurement
from hub_assets.evaluation.scorers import SCORER_VERSION
from hub_assets.evaluation.shadow import (
    ShadowResult,
    cache_key,
    evaluate_qa,
    evaluate_retrieval,
    local_evaluation_blocker,
    pin_for,
    regression_findings,
)
from hub_assets.hub.client import HubClient
from hub_assets.hub.snapshots import LOADABLE_PATTERNS, SnapshotStore
from hub_assets.metrics.claims import comparable_claims
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.packaging.download import GatedModelError
from hub_assets.registry import evaluations as reg_eval
from hub_assets.registry.metrics import require_current_revision, write_metrics
from hub_assets.registry.models import append_status
from hub_assets.registry.store import Registry


@dataclass
class ShadowOutcome:
    """What one shadow evaluation did: `evaluated`, `cached` or `not_evaluated` (why)."""

    status: str
    reason: str = ""
    pin: DatasetPin | None = None
    key: str = ""
    measurement: Measurement | None = None
    claims: list[dict] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    compared_samples: int = 0


def run_shadow_evaluation(
    model_id: str,
    *,
    client: HubClient,
    registry: Registry,
    snapshots: SnapshotStore,
    pins: Sequence[DatasetPin],
    cache_dir: Path,
    config: GenerationConfig,
    sample_limit: int | None,
    max_weight_bytes: int,
    run_id: str,
    offline: bool = False,
) -> ShadowOutcome:
    """Evaluate the current revision of `model_id` unless an identical evaluation exists."""
    with registry.read() as con:
        sha, metadata = require_current_revision(con, model_id)
    pipeline_tag = metadata["info"].get("pipeline_tag")
    pin = pin_for(pipeline_tag, pins)
    if pin is None:
        return ShadowOutcome("not_evaluated", f"no evaluation for task {pipeline_tag!r}")
    data = cache_dataset(pin, client.api.endpoint, cache_dir, client.token, offline=offline)
    key = cache_key(sha, data.fingerprint, config, sample_limit)
    with registry.read() as con:
        cached = reg_eval.cached_run(con, key)
        previous = reg_eval.previous_samples(con, model_id, pin.repo_id, key)
    if cached is not None:
        measurement = Measurement(
            pin.task,
            pin.repo_id,
            pin.revision,
            cached["eval_run_id"],
            cached["scores"],
            cached["intervals"],
            cached["baseline"],
            cached["samples"],
        )
        return ShadowOutcome(
            "cached",
            f"evaluation {cached['eval_run_id']} has the same inputs; no model run",
            pin,
            key,
            measurement,
            cached["claims"],
        )
    weights = ModelEvidence.from_metadata(model_id, metadata).weight_files()
    blocker = local_evaluation_blocker(weights, max_weight_bytes)
    if blocker:
        return ShadowOutcome("not_evaluated", blocker, pin, key)
    try:
        siblings = metadata["info"]["siblings"]
        with snapshots.use(client, model_id, sha, siblings, LOADABLE_PATTERNS) as snapshot:
            result = (
                evaluate_qa(snapshot.folder, pipeline_tag, data, config, sample_limit)
                if pin.task == QA_TASK
                else evaluate_retrieval(snapshot.folder, data, config, sample_limit)
            )
    except (BackendLoadError, GatedModelError) as e:
        return ShadowOutcome("not_evaluated", str(e).splitlines()[0], pin, key)
    eval_run_id = str(uuid.uuid4())
    measurement = result.measurement(pin.repo_id, pin.revision, eval_run_id)
    claims = comparable_claims(metadata["card_data"], measurement)
    _record(
        registry,
        model_id,
        sha,
        pin,
        data.fingerprint,
        key,
        config,
        result,
        measurement,
        claims,
        run_id,
    )
    findings = regression_findings(pin.task, previous, result.samples) if previous else []
    return ShadowOutcome(
        "evaluated",
        f"{len(result.samples)} samples in {result.duration_s:.1f} s",
        pin,
        key,
        measurement,
        claims,
        findings,
        len(previous),
    )


def _record(
    registry: Registry,
    model_id: str,
    sha: str,
    pin: DatasetPin,
    fingerprint: str,
    key: str,
    config: GenerationConfig,
    result: ShadowResult,
    measurement: Measurement,
    claims: list[dict],
    run_id: str,
) -> None:
    """The run, its samples, its `shadow_*` values with lineage, and the status event."""
    eval_run_id = measurement.eval_run_id
    lineage = {
        "dataset": pin.repo_id,
        "dataset_revision": pin.revision,
        "dataset_fingerprint": fingerprint,
        "eval_run_id": eval_run_id,
    }
    with registry.write() as con:
        reg_eval.write_eval_run(
            con,
            eval_run_id=eval_run_id,
            key=key,
            model_id=model_id,
            sha=sha,
            task=pin.task,
            dataset_repo=pin.repo_id,
            dataset_revision=pin.revision,
            dataset_fingerprint=fingerprint,
            generation_config=asdict(config),
            scorer_version=SCORER_VERSION,
            scores=result.scores,
            claims=claims,
            samples=result.samples,
            duration_s=result.duration_s,
            run_id=run_id,
            intervals=result.intervals,
            baseline=result.baseline,
            backend=result.backend,
        )
        write_metrics(
            con,
            model_id,
            sha,
            [
                {
                    "metric": f"shadow_{name}",
                    "value": value,
                    "latency_ms": round(result.duration_s * 1000, 2),
                    "inputs_fingerprint": key,
                    "code_version": f"scorers/v{SCORER_VERSION}",
                    "details": {
                        **lineage,
                        "samples": len(result.samples),
                        "failed_samples": result.failed_samples,
                        "interval": result.intervals.get(name),
                        "chance": result.baseline["scores"].get(name),
                        "baseline": result.baseline["name"],
                        "backend": result.backend,
                    },
                }
                for name, value in result.scores.items()
            ],
            run_id,
        )
        append_status(
            con,
            model_id,
            "evaluated",
            run_id=run_id,
            revision_sha=sha,
            reason=f"shadow evaluation on {pin.repo_id}: "
            + ", ".join(f"{k}={v:.3f}" for k, v in result.scores.items()),
        )
