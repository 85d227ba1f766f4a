"""What every asset of the project carries: owners, tags, freshness policies, and retries of
transient failures."""

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg

from hub_assets.defs import SETTINGS
from hub_assets.errors import DownloadFailedError, HubUnavailableError, OfflineCacheMissError
from hub_assets.hub.client import HubClient
from hub_assets.pipeline.context import Pipeline

OWNERS = ["team:ml-platform"]

# Only transient failures are retried (the Hub unreachable or rate-limited, a download cut
# short): the client has already retried each call, downloads resume, and every write is
# idempotent. A deterministic failure (not found, checksum mismatch, gate) is never retried.
TRANSIENT_RETRIES = 2
TRANSIENT_WAIT_S = 60


@contextmanager
def retry_when_transient() -> Iterator[None]:
    """Turn a transient Hub or download failure into a Dagster retry of the step."""
    try:
        yield
    except (DownloadFailedError, HubUnavailableError) as e:
        if isinstance(e, OfflineCacheMissError):
            raise
        raise dg.RetryRequested(
            max_retries=TRANSIENT_RETRIES, seconds_to_wait=TRANSIENT_WAIT_S
        ) from e


# Discovery runs daily and shadow evaluation nightly: a day and two hours late is stale.
DAILY = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=26), warn_window=timedelta(hours=25)
)


# The run tag the queued run coordinator limits by (deploy/dagster.yaml): discovery,
# per_model (the candidate pipeline), evaluation (nightly shadow evaluation, leaderboard).
LANE_TAG = "hub_assets/lane"


def lane(name: str) -> dict[str, str]:
    """The run tags of a job in lane `name` (discovery, per_model, evaluation)."""
    return {LANE_TAG: name}


# A one-model run's verdict: `not_evaluated` until its gate decides `passed` or `failed`.
VERDICT_TAG = "hub_assets/verdict"


def tags(domain: str) -> dict[str, str]:
    """The tags of an asset of `domain` (discovery, evaluation, trust, ingest)."""
    return {"domain": domain}


# How many model partitions one run of a batched job covers (the nightly evaluation, a
# backfill; HUB_ASSETS_MODELS_PER_RUN): a run process costs seconds to start and ~650 MB,
# so a thousand models must not mean a thousand runs.
BATCHED = dg.BackfillPolicy.multi_run(max_partitions_per_run=SETTINGS.models_per_run)
# model_pipeline_job mixes them with packaging's one model per run and so runs one model per
# run, as intended; Dagster would warn about that on every load, and about the parameter.
warnings.filterwarnings("ignore", "Asset job model_pipeline_job materializes assets with varying")
warnings.filterwarnings("ignore", "Parameter `backfill_policy` of function `asset` is currently")
# each gate check is judged per model partition (a preview feature of Dagster 1.13)
warnings.filterwarnings("ignore", "Specifying a partitions_def on an AssetCheckSpec")


# What a per-model asset yields: materializations, its checks' per-partition evaluations.
ModelEvents = Iterator[dg.MaterializeResult | dg.AssetCheckEvaluation | dg.Output]


def for_each_model(
    context: dg.AssetExecutionContext, body: Callable[[str], dg.MaterializeResult]
) -> ModelEvents:
    """The events of `body(model_id)` for each model partition of the run: one (the
    per-model sensors), or a range (the nightly schedule, a backfill). Each model's metadata
    goes on its own partition's materialization and each check result on its own partition's
    check evaluation, so the UI shows every model red or green as the registry decided. In a
    range, a model that raises is reported at the end after the others ran; a transient
    failure retries the whole range (every write is idempotent and unchanged inputs are
    reused). A check `body` gives no result for (nothing to judge) is left unevaluated."""
    check_outputs = dict(context.assets_def.node_check_specs_by_output_name)
    if context.has_partition_key:
        result = body(context.partition_key)
        yield result
        done = {c.check_name for c in result.check_results or []}
        yield from _unjudged_check_outputs(check_outputs, done)
        return
    keys = context.partition_keys
    evaluations: list[dg.AssetCheckEvaluation] = []
    failures: dict[str, str] = {}
    for model_id in keys:
        try:
            result = body(model_id)
        except dg.RetryRequested:
            raise
        except Exception as e:  # one model's failure is its own; the batch goes on
            context.log.error(f"{model_id}: {e}")
            failures[model_id] = str(e).splitlines()[0] if str(e) else type(e).__name__
            continue
        add_partition_metadata(context, model_id, dict(result.metadata or {}))
        evaluations += [
            _partition_evaluation(context, model_id, c) for c in result.check_results or []
        ]
    if failures:
        raise dg.Failure(
            description=f"{len(failures)} of {len(keys)} models failed; the others are "
            "recorded in the registry and a retry of the range reuses them.",
            metadata={"failed": dg.MetadataValue.json(failures)},
        )
    yield dg.MaterializeResult(metadata={"models_in_run": len(keys)})
    yield from evaluations
    yield from _unjudged_check_outputs(check_outputs, set())


def _partition_evaluation(
    context: dg.AssetExecutionContext, model_id: str, result: dg.AssetCheckResult
) -> dg.AssetCheckEvaluation:
    """One model's check result as the evaluation of its own partition (Dagster gives a
    result yielded in a ranged step no partition)."""
    return dg.AssetCheckEvaluation(
        asset_key=context.asset_key,
        check_name=str(result.check_name),
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
        partition=model_id,
    )


def _unjudged_check_outputs(
    check_outputs: dict[str, dg.AssetCheckSpec], done: set[str]
) -> Iterator[dg.Output]:
    """The step outputs of the checks no result was yielded for (Dagster requires one per
    check; the evaluation itself stays unrecorded: "not evaluated" in the UI)."""
    for output_name, spec in check_outputs.items():
        if spec.name not in done:
            yield dg.Output(None, output_name=output_name)


def add_partition_metadata(
    context: dg.AssetExecutionContext, partition_key: str, metadata: dict
) -> None:
    """`context.add_asset_metadata(metadata, partition_key=...)` for a key taken from
    `context.partition_keys`. Dagster's own call first checks the key against the run's
    range by loading every dynamic partition from the instance, ~30 ms a call (20% of a
    ranged run's time in bench_pipeline); the key is known to be in range, so the metadata
    goes straight to the step's accumulator where Dagster keeps it, and through the public
    call if a Dagster version has moved it."""
    step = getattr(context.op_execution_context, "_step_execution_context", None)
    accumulator = getattr(step, "_metadata_accumulator", None)
    if not hasattr(accumulator, "with_additional_asset_metadata"):
        context.add_asset_metadata(metadata, partition_key=partition_key)
        return
    step._metadata_accumulator = accumulator.with_additional_asset_metadata(  # type: ignore[union-attr]
        asset_key=context.asset_key, metadata=metadata, partition_key=partition_key
    )


@contextmanager
def metered_client(
    context: dg.AssetExecutionContext,
    pipeline: Pipeline,
    stage: str,
    model_id: str | None = None,
) -> Iterator[HubClient]:
    """A Hub client whose traffic (requests, 429s, file bytes) is recorded in the registry
    for this run and stage when the block ends, failed or not: the registry service's
    Prometheus series read it from there."""
    from hub_assets.registry.observability import record_hub_traffic

    client = pipeline.client()
    if model_id is not None:
        client.begin_stage()  # one model's stage: its Hub work has a wall-clock limit
    try:
        yield client
    finally:
        if client.requests_made or client.bytes_downloaded:
            with pipeline.registry.write() as con:
                record_hub_traffic(
                    con,
                    run_id=context.run_id,
                    stage=stage,
                    model_id=model_id,
                    requests=client.requests_made,
                    rate_limited=client.rate_limited,
                    bytes_downloaded=client.bytes_downloaded,
                )
