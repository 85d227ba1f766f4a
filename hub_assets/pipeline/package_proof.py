"""A package's proof, written beside it in the store before the registry records it: the
signature over the zip (when a key is configured), the evidence attestation and the BOM."""

from __future__ import annotations

from hub_assets.packaging.package import PackageSpec
from hub_assets.packaging.store import PackageStore
from hub_assets.proof.attestation import envelope, evidence_predicate, now_iso, statement
from hub_assets.proof.bom import build_bom
from hub_assets.proof.keys import key_id, load_private
from hub_assets.proof.signature import SigningConfig, sign_package
from hub_assets.proof.verify import ATTESTATION, BOM, SIGNATURE
from hub_assets.registry.evidence import revision_evidence
from hub_assets.registry.store import Registry


def signing_key_id(signing: SigningConfig | None) -> str | None:
    """The id of the key that will sign (None: packages are made unsigned)."""
    if signing is None:
        return None
    return key_id(load_private(signing.private_key, signing.password).public_key())


def write_proof(
    registry: Registry,
    store: PackageStore,
    spec: PackageSpec,
    manifest: dict,
    uri: str,
    size: int,
    zip_sha256: str,
    run_id: str,
    signing: SigningConfig | None,
) -> None:
    """The package's proof beside it in the store, before the registry records it: the
    signature over the zip (when a key is configured), the evidence attestation and the
    BOM."""
    created_at = now_iso()
    with registry.read() as con:
        evidence = revision_evidence(con, spec.model_id, spec.revision)
    facts = {
        "package_id": spec.package_id,
        "name": spec.name,
        "version": spec.version,
        "model_id": spec.model_id,
        "revision": spec.revision,
        "uri": uri,
        "size_bytes": size,
        "sha256": zip_sha256,
        "created_at": created_at,
        "run_id": run_id,
        "signing_key_id": spec.signing_key_id,
        # every file with its hash, so a lockfile can be checked against signed facts
        "files": [
            {"path": f["path"], "size": f["size"], "sha256": f["sha256"]} for f in manifest["files"]
        ],
    }
    predicate = evidence_predicate(facts, evidence, signed=signing is not None)
    if signing is not None:
        store.put_beside(spec.name, spec.version, SIGNATURE, sign_package(zip_sha256, signing))
    store.put_beside(
        spec.name, spec.version, ATTESTATION, envelope(statement(zip_sha256, predicate), signing)
    )
    bom = build_bom(manifest, evidence, zip_sha256=zip_sha256, created_at=created_at)
    store.put_beside(spec.name, spec.version, BOM, bom.encode())
