"""The ingested package of each model whose current revision passed the gate."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from hub_assets.defs.conventions import OWNERS, metered_client, tags
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.defs.trust.assets import quality_gate
from hub_assets.errors import outcome_of, plain_message
from hub_assets.packaging.ingest import CLAIM_WAIT_S, PackageExistsError, ingest_model
from hub_assets.progress import ProgressLines, TransferBars
from hub_assets.registry import packages as reg_packages
from hub_assets.resources import (
    HubResource,
    PackageStoreResource,
    RegistryResource,
    TrustResource,
)


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


@dg.asset(
    owners=OWNERS,
    tags=tags("ingest"),
    partitions_def=hf_models,
    deps=[quality_gate],
    group_name="ingest",
    kinds={"s3", "duckdb"},
    pool="packaging",
    # one model per run: the gate's blocking checks stop a run's packaging, so a run over a
    # range would leave the range's passing models unpackaged behind one failing model
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    description="The gated revision downloaded and verified, zipped with manifest.json and a "
    "model card straight into the package store, then recorded in `packages`.",
)
def ingested_package(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    hub: HubResource,
    registry: RegistryResource,
    trust: TrustResource,
    package_store: PackageStoreResource,
) -> dg.MaterializeResult:
    """Packages the model if its current revision passed the gate (idempotent per revision)."""
    model_id = context.partition_key
    reg = registry.get()
    request_id = config.request_id
    if request_id is not None:
        with reg.write() as con:
            reg_packages.update_request(con, request_id, status="running", run_id=context.run_id)
    try:
        with (
            metered_client(context, hub, registry, "packaging", model_id) as client,
            _Progress(context) as progress,
        ):
            result = ingest_model(
                client,
                reg,
                package_store.get(),
                model_id,
                version=config.version,
                description=config.description,
                run_id=context.run_id,
                work_dir=Path(trust.work_dir),
                snapshots=trust.snapshots(),
                progress=progress,
                signing=package_store.signing(),
                # a second run of the same model (a backfill beside the sensor's run) waits
                # for the first to finish packaging, then reports its package
                wait_for_claim_s=CLAIM_WAIT_S,
            )
    except Exception as e:
        outcome = outcome_of(e)
        if outcome == "error":
            raise
        if isinstance(e, PackageExistsError) and e.same_revision and request_id is None:
            existing = e.existing
            context.log.info(
                f"{model_id}: this revision is already packaged as "
                f"{existing.name} {existing.version}"
            )
            return dg.MaterializeResult(
                metadata={
                    "outcome": "already packaged",
                    "package_id": existing.package_id,
                    "name": existing.name,
                    "version": existing.version,
                    "uri": dg.MetadataValue.path(existing.uri),
                    "size_bytes": existing.size_bytes,
                    "sha256": existing.sha256,
                }
            )
        if request_id is not None:
            with reg.write() as con:
                reg_packages.update_request(
                    con,
                    request_id,
                    status="failed",
                    outcome=outcome,
                    message=plain_message(str(e)),
                    run_id=context.run_id,
                )
        raise dg.Failure(description=plain_message(str(e))) from e
    if request_id is not None:
        with reg.write() as con:
            reg_packages.update_request(
                con,
                request_id,
                status="succeeded",
                outcome="ingested",
                package_id=result.package_id,
                message=f"{result.name} {result.version} → {result.uri}",
                run_id=context.run_id,
            )
    context.log.info(f"{model_id}: packaged {result.name} {result.version} at {result.uri}")
    return dg.MaterializeResult(
        metadata={
            "outcome": "ingested",
            "package_id": result.package_id,
            "name": result.name,
            "version": result.version,
            "revision_sha": result.revision,
            "uri": dg.MetadataValue.path(result.uri),
            "size_bytes": result.size_bytes,
            "sha256": result.sha256,
            "net_score": result.net_score if result.net_score is not None else -1.0,
        }
    )
