"""`hub-assets verify`: a package checked offline, step by step, stopping at the first
failure: every file against the manifest, the signature over the zip, the attestation's
subject and signature, and the BOM."""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from hub_assets.errors import UnverifiedPackageError
from hub_assets.hub.hashing import file_sha256
from hub_assets.packaging.store import PackageStore
from hub_assets.proof.attestation import verify_envelope
from hub_assets.proof.bom import check_bom
from hub_assets.proof.bundle import is_bundle, unpack_bundle
from hub_assets.proof.signature import PACKAGE_FILE, signer_public_key, verify_signature

SIGNATURE, ATTESTATION, BOM = (
    "proof/signature.sig",
    "proof/attestation.dsse.json",
    "proof/bom.cdx.json",
)
PACKAGE_MEMBERS = ("manifest.json", "README.md")
CHUNK = 8 * 1024 * 1024


def package_address(source: str) -> str:
    """The package.zip a user named: the zip itself, or the folder holding it."""
    source = source.rstrip("/")
    return source if source.endswith(".zip") else f"{source}/{PACKAGE_FILE}"


def check_files(f) -> tuple[dict, str]:  # noqa: ANN001 - a binary file
    """(manifest, report line): every member listed in the manifest has its size and
    sha256, and nothing else is in the zip."""
    try:
        zf = zipfile.ZipFile(f)
        manifest = json.loads(zf.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise UnverifiedPackageError(f"files: not a hub-assets package ({e})") from None
    listed = {spec["path"]: spec for spec in manifest.get("files", [])}
    extra = sorted(set(zf.namelist()) - set(listed) - set(PACKAGE_MEMBERS))
    if extra:
        raise UnverifiedPackageError(f"files: {extra[0]} is in the zip but not in the manifest")
    for path, spec in listed.items():
        try:
            info = zf.getinfo(path)
        except KeyError:
            raise UnverifiedPackageError(f"files: {path} is missing from the zip") from None
        h = hashlib.sha256()
        try:
            with zf.open(info) as member:
                while chunk := member.read(CHUNK):
                    h.update(chunk)
        except zipfile.BadZipFile:
            raise UnverifiedPackageError(
                f"files: {path} was altered inside the zip (its CRC-32 no longer matches)"
            ) from None
        if info.file_size != spec["size"] or h.hexdigest() != spec["sha256"]:
            raise UnverifiedPackageError(
                f"files: {path} has sha256 {h.hexdigest()[:16]}…, the manifest says "
                f"{spec['sha256'][:16]}…"
            )
    return manifest, f"files: {len(listed)} files match the manifest"


def verify_package(
    source: str,
    store: PackageStore,
    *,
    public_key: Path | None = None,
    chain: tuple[Path, ...] = (),
    allow_unsigned: bool = False,
    report: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """Verify the package at `source` (a folder or package.zip, local or s3://, or a local
    bundle: `proof/bundle.py`); the report lines in order. Raises `UnverifiedPackageError`
    naming the first failure."""
    local = Path(source)
    if "://" not in source and local.is_file() and is_bundle(local):
        with tempfile.TemporaryDirectory(prefix="hub-assets-bundle-") as tmp:
            unpack_bundle(local, Path(tmp))
            proofs = len(list((Path(tmp) / "proof").glob("*")))
            line = f"bundle: package.zip and {proofs} proof files"
            report(line)
            return [line] + verify_package(
                tmp,
                store,
                public_key=public_key,
                chain=chain,
                allow_unsigned=allow_unsigned,
                report=report,
            )
    address = package_address(source)
    lines: list[str] = []

    def ok(line: str) -> None:
        lines.append(line)
        report(line)

    with store.open_recorded(address) as f:
        digest = file_sha256(f)
        f.seek(0)
        manifest, line = check_files(f)
    ok(f"package: {address} (sha256 {digest})")
    ok(line)
    signature = store.read_beside(address, SIGNATURE)
    if signature is not None:
        ok(verify_signature(signature, digest, public_key=public_key, chain=chain))
    attestation = store.read_beside(address, ATTESTATION)
    if attestation is None:
        raise UnverifiedPackageError(f"attestation: {ATTESTATION} is missing beside the package")
    attestation_key = public_key
    if signature is not None and public_key is None and chain:
        attestation_key = signer_public_key(signature)  # the certificate's key, now trusted
    statement = verify_envelope(attestation, digest, attestation_key if signature else None)
    signed = bool(statement.get("predicate", {}).get("signed"))
    if signature is None:
        if signed:
            raise UnverifiedPackageError(
                f"signature: {SIGNATURE} is missing, but the attestation says it was signed"
            )
        if not allow_unsigned:
            raise UnverifiedPackageError(
                "signature: the package is unsigned (made with no signing key configured); "
                "pass --allow-unsigned to check the rest anyway"
            )
        ok("signature: none: the package says it is unsigned")
    ok(
        "attestation: subject is this package"
        + (", signed by the same signer" if signature else " (unsigned)")
    )
    bom = store.read_beside(address, BOM)
    if bom is None:
        raise UnverifiedPackageError(f"bom: {BOM} is missing beside the package")
    ok(check_bom(bom.decode(), manifest["files"], digest))
    return lines
