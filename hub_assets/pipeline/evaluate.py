"""The shadow evaluation of one model's current revision, end to end: the core entry point
the Dagster asset calls (like `score_model` and `ingest_model`).

It picks the pinned dataset of the model's task, reuses an identical earlier evaluation
(same cache key) or runs the model on its verified snapshot, records the run, its samples,
its `shadow_*` values with lineage and an `evaluated` event, and compares the samples with
the model's previous evaluation (`comparison.compare_runs`: McNemar or a paired bootstrap per
metric, Holm-adjusted, with a minimum of paired samples).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hub_assets.errors import (
    BackendLoadError,
    GatedModelError,
    MalformedGgufError,
    ModelNotFoundError,
    NotClearedError,
)
from hub_assets.evaluation.api_budget import ApiSession, Clock
from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.comparison import Comparison, compare_runs
from hub_assets.evaluation.contamination import CHECK_VERSION, OverlapBudget
from hub_assets.evaluation.datasets import DatasetPin, cache_dataset
from hub_assets.evaluation.inference_api import InferenceApiBackend, InferenceApiConfig
from hub_assets.evaluation.measurement import PRIMARY, QA_TASK, Measurement, evaluation_key
from hub_assets.evaluation.shadow import (
    ShadowResult,
    cache_key,
    dataset_task_for,
    evaluate_qa,
    evaluate_retrieval,
    local_evaluation_blocker,
    pin_for,
    weight_bytes,
)
from hub_assets.hub.clearance import require_cleared
from hub_assets.hub.client import HubClient
from hub_assets.hub.gguf_header import read_local_gguf_header
from hub_assets.hub.snapshots import LOADABLE_PATTERNS, SnapshotStore
from hub_assets.metrics.claims import comparable_claims
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.pipeline.contamination import judge_evaluation_set
from hub_assets.pipeline.evaluation_record import record_evaluation
from hub_assets.registry import evaluations as reg_eval
from hub_assets.registry.metrics import require_current_revision, revision_metrics
from hub_assets.registry.store import Registry


@dataclass
class ShadowOutcome:
    """What one shadow evaluation did: `evaluated`, `cached`, `not_evaluated` (why), or
    `not_measured` (the inference API answered too few samples: partial coverage)."""

    status: str
    reason: str = ""
    pin: DatasetPin | None = None
    key: str = ""
    measurement: Measurement | None = None
    claims: list[dict] = field(default_factory=list)
    # against the previous evaluation on the same samples; None: there was none
    comparison: Comparison | None = None
    backend: str = "local"
    coverage: float = 1.0
    api: dict = field(default_factory=dict)  # the inference API's figures, when it was used


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
    regression_alpha: float,
    regression_min_samples: int,
    offline: bool = False,
    api: InferenceApiConfig | None = None,
    clock: Clock | None = None,
    pin: DatasetPin | None = None,
    overlap: OverlapBudget | None = None,
) -> ShadowOutcome:
    """Evaluate the current revision of `model_id` on `pin` (default: the first of `pins`
    for its task) unless an identical evaluation exists; judge whether the model was
    trained on the set (declared through the model tree, and measured within `overlap`;
    None: declared only); and compare it with the model's previous evaluation on the same
    samples (at `regression_alpha`, when at least `regression_min_samples` are shared)."""
    with registry.read() as con:
        sha, metadata = require_current_revision(con, model_id)
    pipeline_tag = metadata["info"].get("pipeline_tag")
    pin = pin or pin_for(pipeline_tag, pins)
    if pin is None:
        return ShadowOutcome("not_evaluated", f"no evaluation for task {pipeline_tag!r}")
    refused = security_refusal(registry, model_id, sha)
    if refused:
        return ShadowOutcome("not_evaluated", refused, pin)
    ev = ModelEvidence.from_metadata(model_id, metadata)
    weights = ev.weight_files()
    blocker = local_evaluation_blocker(weights, max_weight_bytes)
    over_limit = weight_bytes(weights) > max_weight_bytes
    use_api = api is not None and api.chosen_for(model_id, over_limit)
    if use_api and offline:
        return ShadowOutcome(
            "not_evaluated",
            "the inference API cannot be reached offline (HF_HUB_OFFLINE=1)"
            + (f"; locally: {blocker}" if blocker else ""),
            pin,
        )
    if blocker and not use_api:
        return ShadowOutcome("not_evaluated", blocker, pin)
    limit = sample_limit
    if use_api and api.samples:
        limit = min(sample_limit or api.samples, api.samples)
    data = cache_dataset(pin, client.api.endpoint, cache_dir, client.token, offline=offline)
    api_key = api.key() if use_api else None
    key = cache_key(sha, data.fingerprint, config, limit, api_key, pin.repo_id)
    with registry.read() as con:
        cached = reg_eval.cached_run(con, key)

    def contamination() -> dict:
        """Whether the model was trained on this set (declared, or measured)."""
        return judge_evaluation_set(
            client,
            registry,
            model_id,
            metadata["card_data"],
            data,
            cache_dir,
            run_id,
            overlap=overlap,
            offline=offline,
        )

    if cached is not None:
        # judged before contamination was (or by another method): judge it now
        if cached["contamination"].get("version") != CHECK_VERSION:
            cached["contamination"] = contamination()
            with registry.write() as con:
                reg_eval.record_contamination(con, cached["eval_run_id"], cached["contamination"])
        measurement = Measurement(
            pin.task,
            pin.repo_id,
            pin.revision,
            cached["eval_run_id"],
            cached["scores"],
            cached["intervals"],
            cached["baseline"],
            cached["samples"],
            cached["contamination"],
        )
        return ShadowOutcome(
            "cached",
            f"evaluation {cached['eval_run_id']} has the same inputs; no model run",
            pin,
            key,
            measurement,
            cached["claims"],
            backend=cached["backend"],
            coverage=cached["coverage"],
            api=cached["api_stats"],
        )
    try:
        if use_api:
            session = ApiSession(api.budget, clock)
            backend = InferenceApiBackend(model_id, pipeline_tag, api, session)
            result = (
                evaluate_qa(None, pipeline_tag, data, config, limit, api=backend)
                if pin.task == QA_TASK
                else evaluate_retrieval(None, data, config, limit, api=backend)
            )
            result.api = {
                **session.summary(),
                "provider": api.provider,
                "url": backend.url,
                "coverage": round(result.coverage, 4),
                "min_coverage": api.budget.min_coverage,
            }
        else:
            siblings = metadata["info"]["siblings"]
            gguf = ev.runnable_gguf()
            base = ev.adapter_base()
            patterns = LOADABLE_PATTERNS + ((gguf,) if gguf else ())
            with ExitStack() as stack:
                snapshot = stack.enter_context(
                    snapshots.use(client, model_id, sha, siblings, patterns)
                )
                require_cleared(snapshot.folder)  # the same bytes the verdict judged
                base_dir = None
                if base:
                    info = client.model_metadata(base).data["info"]
                    base_dir = stack.enter_context(
                        snapshots.use(
                            client, base, info["sha"], info["siblings"] or [], LOADABLE_PATTERNS
                        )
                    ).folder
                    require_cleared(base_dir)
                if gguf:  # the verified bytes' header, before any loader sees them
                    read_local_gguf_header(snapshot.folder / gguf)
                result = (
                    evaluate_qa(
                        snapshot.folder,
                        pipeline_tag,
                        data,
                        config,
                        limit,
                        gguf_file=gguf,
                        base_dir=base_dir,
                    )
                    if pin.task == QA_TASK
                    else evaluate_retrieval(snapshot.folder, data, config, limit)
                )
    except (
        BackendLoadError,
        GatedModelError,
        MalformedGgufError,
        ModelNotFoundError,
        NotClearedError,
    ) as e:
        return ShadowOutcome("not_evaluated", str(e).splitlines()[0], pin, key)
    if use_api and result.coverage < api.budget.min_coverage:
        return _not_measured(registry, model_id, sha, pin, key, result, api, run_id)
    eval_run_id = str(uuid.uuid4())
    measurement = result.measurement(pin.repo_id, pin.revision, eval_run_id, contamination())
    claims = comparable_claims(metadata["card_data"], measurement)
    # the task's first set keeps the plain names (shadow_f1); later ones name their set
    suffix = "" if pin == pin_for(pipeline_tag, pins) else f"@{pin.repo_id}"
    comparable = evaluation_key(
        task=pin.task,
        dataset_repo=pin.repo_id,
        dataset_revision=pin.revision,
        dataset_fingerprint=data.fingerprint,
        backend=result.backend,
        generation_config=asdict(config),
    )
    with registry.read() as con:  # before this run is recorded: the one it follows
        previous = reg_eval.previous_samples(con, model_id, comparable, key)
    comparison = (
        compare_runs(
            PRIMARY[pin.task],
            previous,
            result.samples,
            alpha=regression_alpha,
            min_samples=regression_min_samples,
        )
        if previous
        else None
    )
    record_evaluation(
        registry,
        model_id,
        sha,
        suffix,
        pin,
        data.fingerprint,
        key,
        config,
        result,
        measurement,
        claims,
        run_id,
        comparison,
    )
    return ShadowOutcome(
        "evaluated",
        f"{len(result.samples)} samples in {result.duration_s:.1f} s",
        pin,
        key,
        measurement,
        claims,
        comparison,
        backend=result.backend,
        coverage=result.coverage,
        api=result.api,
    )


def evaluate_on_every_set(
    model_id: str, *, registry: Registry, pins: Sequence[DatasetPin], **stage: object
) -> list[ShadowOutcome]:
    """The shadow evaluation on every pinned set of the model's task, in the pins' order
    (one `not_evaluated` outcome when its task has none): a zero-shot set beside a
    contaminated one is what lets the gate set the contaminated evidence aside."""
    with registry.read() as con:
        _, metadata = require_current_revision(con, model_id)
    task = dataset_task_for(metadata["info"].get("pipeline_tag"))
    mine = [p for p in pins if p.task == task] or [None]
    return [
        run_shadow_evaluation(model_id, registry=registry, pins=pins, pin=p, **stage) for p in mine
    ]


def security_refusal(registry: Registry, model_id: str, sha: str) -> str | None:
    """Why the revision may not be evaluated (no security verdict yet, or a failing one),
    or None: a flagged model is never loaded, run locally or sent to an inference API."""
    with registry.read() as con:
        verdict = revision_metrics(con, model_id, sha).get("security")
    if verdict is None:
        return (
            f"not evaluated: revision {sha[:12]} has no security verdict yet "
            "(security_scan runs first)"
        )
    if verdict.value <= 0.0:
        reason = (verdict.details or {}).get("reason", "")
        return f"not evaluated: the security verdict on {sha[:12]} failed ({reason[:300]})"
    return None


def _not_measured(
    registry: Registry,
    model_id: str,
    sha: str,
    pin: DatasetPin,
    key: str,
    result: ShadowResult,
    api: InferenceApiConfig,
    run_id: str,
) -> ShadowOutcome:
    """Too few samples answered through the API: record the attempt, measure nothing (the
    gate falls back to the card, the regression check is skipped, and a later run tries
    again)."""
    answered = sum(1 for s in result.samples if s["scores"])
    reason = (
        f"not measured: the inference API answered {answered} of {len(result.samples)} "
        f"samples ({result.coverage:.0%} coverage, {api.budget.min_coverage:.0%} needed)"
    )
    problems = sorted({s["error"].split(":")[0] for s in result.samples if s["error"]})
    if problems:
        reason += f"; unanswered: {', '.join(problems)}"
    with registry.write() as con:
        reg_eval.write_unmeasured(
            con,
            eval_run_id=str(uuid.uuid4()),
            model_id=model_id,
            sha=sha,
            task=pin.task,
            dataset_repo=pin.repo_id,
            dataset_revision=pin.revision,
            backend=result.backend,
            samples=result.samples,
            coverage=result.coverage,
            api_stats=result.api,
            reason=reason,
            run_id=run_id,
        )
    return ShadowOutcome(
        "not_measured",
        reason,
        pin,
        key,
        backend=result.backend,
        coverage=result.coverage,
        api=result.api,
    )
