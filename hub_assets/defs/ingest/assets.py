"""The ingested package of each model whose current revision passed the gate."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field

from hub_assets.defs import SETTINGS
from hub_assets.defs.conventions import OWNERS, metered_client, tags
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.defs.trust.assets import quality_gate
from hub_assets.errors import GateNotPassedError, Outcome, PackageExistsError, plain_message
from hub_assets.failures import outcome_of
from hub_assets.pipeline.ingest import CLAIM_WAIT_S, IngestResult
from hub_assets.progress import ProgressLines, TransferBars
from hub_assets.registry import packages as reg_packages
from hub_assets.registry.packages import PackageRow
from hub_assets.resources import PipelineResource
from hub_assets.states import RequestStatus


class IngestConfig(dg.Config):
    """Per-run options (the Launchpad shows them; ad-hoc requests fill them)."""

    version: str | None = Field(
        default=None,
        description="Package version (MAJOR.MINOR.PATCH). Default: the revision's existing "
        "package version, 1.0.0 for a model's first package, else the next minor.",
    )
    description: str | None = Field(default=None, description="Package description.")
    request_id: int | None = Field(default=None, description="The ad-hoc request served.")


class _Progress:
    """Per-file progress in the run log (bounded rate) and, on a terminal, bars."""

    def __init__(self, context: dg.AssetExecutionContext) -> None:
        self.lines = ProgressLines(context.log.info)
        self.bars = TransferBars()

    def __call__(self, stage: str, path: str, done: int, total: int) -> None:
        self.lines(stage, path, done, total)
        self.bars(stage, path, done, total)

    def __enter__(self) -> "_Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.close()


def _package_metadata(row: PackageRow | IngestResult, outcome: str) -> dict:
    """What the package page shows: its identity, where it is (a URI, never a machine path),
    and its proof on the registry service."""
    service = SETTINGS.service_url.rstrip("/")
    return {
        "outcome": outcome,
        "package_id": row.package_id,
        "name": row.name,
        "version": row.version,
        "revision_sha": row.revision_sha if isinstance(row, PackageRow) else row.revision,
        "uri": dg.MetadataValue.url(store_uri(row.uri)),
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "net_score": round(row.net_score, 2) if row.net_score is not None else -1.0,
        "package": dg.MetadataValue.url(f"{service}/packages/{row.package_id}"),
        "proof": dg.MetadataValue.url(f"{service}/packages/{row.package_id}/bundle"),
    }


def store_uri(uri: str) -> str:
    """A package's location as a URI: s3://... as it is, a local file as file://."""
    return uri if "://" in uri else Path(uri).resolve().as_uri()


@dg.asset(
    owners=OWNERS,
    tags=tags("ingest"),
    partitions_def=hf_models,
    deps=[quality_gate],
    group_name="ingest",
    kinds={"s3", "duckdb"},
    pool="packaging",
    # a model that the gate rejected is skipped: no materialization, and nothing after it
    output_required=False,
    # one model per run: a package is large, and its progress belongs to one model
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    description="The gated revision downloaded and verified, zipped with manifest.json and a "
    "model card straight into the package store, then recorded in `packages`. A model the "
    "gate rejected is skipped (the run log says why), not failed.",
)
def ingested_package(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    pipeline: PipelineResource,
) -> Iterator[dg.MaterializeResult]:
    """Packages the model if its current revision passed the gate (idempotent per revision)."""
    model_id = context.partition_key
    stages = pipeline.get()
    reg = stages.registry
    request_id = config.request_id

    def record(**fields: object) -> None:
        if request_id is not None:
            with reg.write() as con:
                reg_packages.update_request(con, request_id, run_id=context.run_id, **fields)

    record(status=RequestStatus.RUNNING.value)
    try:
        with (
            metered_client(context, stages, "packaging", model_id) as client,
            _Progress(context) as progress,
        ):
            result = stages.ingest(
                client,
                model_id,
                context.run_id,
                version=config.version,
                description=config.description,
                progress=progress,
                # a second run of the same model (a backfill beside the sensor's run) waits
                # for the first to finish packaging, then reports its package
                wait_for_claim_s=CLAIM_WAIT_S,
            )
    except GateNotPassedError as e:
        # a verdict, not a failure: nothing to package, and the run log says why
        context.log.info(f"{model_id}: skipped packaging, {e}")
        record(status=RequestStatus.FAILED.value, outcome=e.outcome, message=plain_message(str(e)))
        return
    except PackageExistsError as e:
        existing = e.existing
        if not (e.same_revision and config.version in (None, existing.version)):
            record(
                status=RequestStatus.FAILED.value, outcome=e.outcome, message=plain_message(str(e))
            )
            raise dg.Failure(description=plain_message(str(e))) from e
        # asked again for a revision already packaged: its package is the answer
        context.log.info(
            f"{model_id}: this revision is already packaged as {existing.name} {existing.version}"
        )
        record(
            status=RequestStatus.SUCCEEDED.value,
            outcome=Outcome.ALREADY_PACKAGED.value,
            package_id=existing.package_id,
            message=f"Already packaged as {existing.name} {existing.version}.",
        )
        yield dg.MaterializeResult(metadata=_package_metadata(existing, "already packaged"))
        return
    except Exception as e:
        outcome = outcome_of(e)
        if outcome == "error":
            raise
        record(status=RequestStatus.FAILED.value, outcome=outcome, message=plain_message(str(e)))
        raise dg.Failure(description=plain_message(str(e))) from e
    record(
        status=RequestStatus.SUCCEEDED.value,
        outcome=Outcome.INGESTED.value,
        package_id=result.package_id,
        message=f"{result.name} {result.version}",
    )
    context.log.info(f"{model_id}: packaged {result.name} {result.version}")
    yield dg.MaterializeResult(metadata=_package_metadata(result, "ingested"))
