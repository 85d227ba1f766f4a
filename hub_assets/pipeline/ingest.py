"""Ingestion of a gated model: download, verify, package, store, record — in that order.

The `packages` row is written only after the upload completed and its size was read back
from the store, so the registry never claims a package that is not there. Before any byte
is written, the run claims the package's name and version in the registry (one write,
under the registry's write slot), so two runs packaging the same model at once never write
the same object: the second is told the first is at it. Every step can be retried:
downloads resume, the upload either completes or is aborted, and a claim whose run died
goes stale and is taken over.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from hub_assets.errors import (
    ClaimLostError,
    GateNotPassedError,
    PackageExistsError,
    StorageError,
)
from hub_assets.hub.client import HubClient
from hub_assets.hub.snapshots import SnapshotStore
from hub_assets.ids import check_model_id
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.packaging.package import (
    PackageSpec,
    build_manifest,
    check_version,
    model_card,
    package_name,
    write_package,
)
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.package_proof import signing_key_id, write_proof
from hub_assets.proof.signature import SigningConfig
from hub_assets.registry.metrics import (
    latest_gate_result,
    require_current_revision,
    revision_metrics,
)
from hub_assets.registry.models import append_status
from hub_assets.registry.packages import (
    auto_version,
    claim_package,
    find_package,
    insert_package,
    release_package_claim,
    renew_package_claim,
    revision_package,
)
from hub_assets.registry.store import Registry

Progress = Callable[[str, str, int, int], None]  # (stage, path, done, total)

# A run renews its claim while bytes flow (at most once a minute); a claim not renewed for
# ten minutes belongs to a run that died, and the next run takes it over.
CLAIM_RENEW_S = 60.0
CLAIM_STALE_AFTER_S = 600.0
CLAIM_POLL_S = 2.0  # how often a run waiting for another run's claim looks again
# Long enough for the other run to finish, or for its claim to go stale if it died.
CLAIM_WAIT_S = CLAIM_STALE_AFTER_S + CLAIM_RENEW_S


@dataclass(frozen=True)
class IngestResult:
    """What was stored, and where."""

    package_id: str
    name: str
    version: str
    model_id: str
    revision: str
    uri: str
    size_bytes: int
    sha256: str
    net_score: float | None
    metrics: dict[str, float]


def ingest_model(
    client: HubClient,
    registry: Registry,
    store: PackageStore,
    model_id: str,
    *,
    version: str | None = None,
    description: str | None = None,
    run_id: str,
    work_dir: Path,
    snapshots: SnapshotStore | None = None,
    progress: Progress | None = None,
    signing: SigningConfig | None = None,
    wait_for_claim_s: float = 0.0,
) -> IngestResult:
    """Package the gated revision of `model_id` into the store and record it, from the
    revision's verified snapshot (the same files the scan and the evaluation read), with
    its proof beside it: signature (when `signing` is given), evidence attestation, BOM.

    If another run holds the claim on the same name and version, wait up to
    `wait_for_claim_s` for it to finish (then this run finds its package, or takes the
    claim over if that run failed) before refusing with PackageExistsError."""
    check_model_id(model_id)
    if version is not None:
        check_version(version)
    name = package_name(model_id)
    registry.ensure_schema()
    with registry.read() as con:
        sha, metadata = require_current_revision(con, model_id)
        gate = latest_gate_result(con, model_id, sha)
        stored = revision_metrics(con, model_id, sha)
        metrics = {m: s.value for m, s in stored.items()}
        chain = stored["licence_obligations"].details if "licence_obligations" in stored else None
        packaged = revision_package(con, model_id, sha)
        version = version or auto_version(con, name, sha)
        existing = find_package(con, name, version)
    if gate is None:
        raise GateNotPassedError(f"{model_id}@{sha[:12]} has no quality-gate decision yet.")
    if not gate["passed"]:
        raise GateNotPassedError(gate["message"])
    if packaged is not None:  # a revision is packaged once, whatever version is asked for
        raise PackageExistsError(
            f"Revision {sha[:12]} of {model_id} is already packaged as {packaged.name} "
            f"{packaged.version}; nothing was uploaded (a revision is packaged once).",
            packaged,
            True,
        )
    waited_until = time.monotonic() + wait_for_claim_s
    while existing is None:
        with registry.write() as con:  # found nothing when reading: claim it, or see who has
            existing = find_package(con, name, version)
            holder = existing is None and claim_package(
                con,
                name=name,
                version=version,
                model_id=model_id,
                revision_sha=sha,
                run_id=run_id,
                stale_after_s=CLAIM_STALE_AFTER_S,
            )
        if not holder:
            break
        if time.monotonic() < waited_until:  # the other run is at it: see how it ends
            time.sleep(min(CLAIM_POLL_S, max(0.0, waited_until - time.monotonic())))
            continue
        raise PackageExistsError(
            f"Package {name} {version} is being written by run {holder[0]} (claimed "
            f"{holder[1]}); nothing was uploaded. It is recorded when that run finishes; "
            f"a claim not renewed for {CLAIM_STALE_AFTER_S / 60:.0f} minutes is taken "
            "over by the next attempt."
        )
    if existing is not None:
        same = existing.revision_sha == sha
        raise PackageExistsError(
            f"Package {name} {version} already exists ("
            + ("same revision" if same else f"revision {existing.revision_sha[:12]}")
            + "); nothing was uploaded. Ask for another version to package a new one.",
            existing,
            same,
        )
    job = _Packaging(
        client=client,
        registry=registry,
        store=store,
        ev=ModelEvidence.from_metadata(model_id, metadata),
        sha=sha,
        name=name,
        version=version,
        description=description,
        metrics=metrics,
        gate=gate,
        run_id=run_id,
        signing=signing,
        licence_chain=(chain or {}).get("chain"),
    )
    renewal = _ClaimRenewal(registry, name, version, model_id, sha, run_id, progress)
    try:
        return _package(job, snapshots or SnapshotStore(work_dir / "snapshots"), metadata, renewal)
    except BaseException:
        try:
            with registry.write() as con:
                release_package_claim(con, name, version, run_id)
        except Exception:  # noqa: BLE001, S110 - the first error is the one to report
            pass
        raise


class _ClaimRenewal:
    """The caller's progress, plus a renewal of the run's claim at most every minute while
    bytes flow, so a long download or upload is never taken for a dead run's."""

    def __init__(
        self,
        registry: Registry,
        name: str,
        version: str,
        model_id: str,
        sha: str,
        run_id: str,
        progress: Progress | None,
    ) -> None:
        self.registry, self.name, self.version = registry, name, version
        self.model_id, self.sha, self.run_id, self.progress = model_id, sha, run_id, progress
        self.renewed = time.monotonic()

    def __call__(self, stage: str, path: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, path, done, total)
        if time.monotonic() - self.renewed >= CLAIM_RENEW_S:
            self.renew()

    def renew(self) -> None:
        """Renew the claim now; ClaimLostError if another run holds it."""
        self.renewed = time.monotonic()
        with self.registry.write() as con:
            if not renew_package_claim(con, self.name, self.version, self.run_id):
                raise ClaimLostError(
                    f"Package {self.name} {self.version}: this run's claim went stale (no "
                    f"progress for {CLAIM_STALE_AFTER_S / 60:.0f} minutes) and another run "
                    "took it over; nothing of this run was recorded."
                )


@dataclass(frozen=True)
class _Packaging:
    """What one claimed packaging of a revision works with."""

    client: HubClient
    registry: Registry
    store: PackageStore
    ev: ModelEvidence
    sha: str
    name: str
    version: str
    description: str | None
    metrics: dict[str, float]
    gate: dict
    run_id: str
    signing: SigningConfig | None
    licence_chain: str | None


def _package(
    job: _Packaging, snapshots: SnapshotStore, metadata: dict, progress: _ClaimRenewal
) -> IngestResult:
    """Under the run's claim: the verified snapshot, then the zip into the store, its proof
    beside it, then the registry row."""
    with snapshots.use(
        job.client,
        job.ev.model_id,
        job.sha,
        metadata["info"]["siblings"],
        # without a progress of the caller's, the store reports downloads its own way
        progress=(lambda p, d, t: progress("download", p, d, t)) if progress.progress else None,
    ) as snapshot:
        progress.renew()  # the download may have been long: still ours before any upload
        return _write_and_record(job, snapshot.files, progress)


def _write_and_record(job: _Packaging, files: list, progress: _ClaimRenewal) -> IngestResult:
    client, registry, store, ev, sha = job.client, job.registry, job.store, job.ev, job.sha
    name, version, metrics, run_id, signing = (
        job.name, job.version, job.metrics, job.run_id, job.signing,
    )  # fmt: skip
    model_id = ev.model_id
    spec = PackageSpec(
        name=name,
        version=version,
        model_id=model_id,
        revision=sha,
        source=client.api.endpoint,
        description=job.description
        or f"{model_id} at revision {sha[:12]}, packaged by hub-assets.",
        metrics=metrics,
        gate=job.gate,
        license=ev.license,
        parents=ev.base_models(),
        package_id=str(uuid.uuid4()),
        signing_key_id=signing_key_id(signing),
        licence_chain=job.licence_chain,
    )
    manifest = build_manifest(spec, sorted(files, key=lambda f: f.path))
    card = model_card(spec, manifest)
    written, sha256 = store.upload(
        name,
        version,
        lambda out: write_package(
            out,
            files,
            manifest,
            card,
            lambda p, d, t: progress("package", p, d, t),
        ),
        writer=run_id,
    )
    stored = store.size(name, version)
    if stored != written:
        raise StorageError(
            f"The store holds {stored} bytes for {name} {version}, "
            f"{written} were written; the package is not recorded."
        )
    uri = store.uri_of(name, version)
    write_proof(registry, store, spec, manifest, uri, stored, sha256, run_id, signing)
    try:
        with registry.write() as con:
            insert_package(
                con,
                package_id=spec.package_id,
                name=name,
                version=version,
                model_id=model_id,
                revision_sha=sha,
                uri=uri,
                size_bytes=stored,
                sha256=sha256,
                manifest=manifest,
                model_card=card,
                net_score=metrics.get("net_score"),
                description=spec.description,
                run_id=run_id,
            )
            append_status(
                con,
                model_id,
                "ingested",
                run_id=run_id,
                revision_sha=sha,
                reason=f"{name} {version} → {uri}",
            )
            if not renew_package_claim(con, name, version, run_id):
                raise ClaimLostError(
                    f"Package {name} {version}: another run took this run's stale claim over "
                    "while it uploaded; nothing of this run was recorded."
                )
            release_package_claim(con, name, version, run_id)
    except duckdb.ConstraintException as e:
        raise PackageExistsError(f"Package {name} {version} was recorded meanwhile: {e}") from e
    return IngestResult(
        spec.package_id,
        name,
        version,
        model_id,
        sha,
        uri,
        stored,
        sha256,
        metrics.get("net_score"),
        metrics,
    )
