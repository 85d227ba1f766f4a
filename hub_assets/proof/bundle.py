"""A package as it ships: one zip holding `package.zip` and its `proof/` beside it.

The signed, byte-identical `package.zip` cannot hold its own signature, and the attestation
carries what varies between runs (times, run ids), so in the store the proof lives beside
the zip. A bundle puts both in one file for whoever downloads a package
(`GET /packages/{id}/bundle`): `hub-assets verify NAME.bundle.zip` checks it like the
folder it came from. Members are stored (not compressed) in a fixed order with fixed
timestamps; nothing but `package.zip` and the three proof files may be in a bundle.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path
from typing import BinaryIO

from hub_assets.errors import UnverifiedPackageError
from hub_assets.packaging.store import PackageStore
from hub_assets.proof.signature import PACKAGE_FILE

PROOF_FILES = ("proof/signature.sig", "proof/attestation.dsse.json", "proof/bom.cdx.json")
BUNDLE_MEMBERS = (PACKAGE_FILE, *PROOF_FILES)
BUNDLE_SUFFIX = ".bundle.zip"
_EPOCH = (1980, 1, 1, 0, 0, 0)


def bundle_name(name: str, version: str) -> str:
    """The file name a bundle is offered under, e.g. `acme--model-1.0.0.bundle.zip`."""
    return f"{name}-{version}{BUNDLE_SUFFIX}"


def write_bundle(store: PackageStore, uri: str, out: BinaryIO) -> list[str]:
    """Write the bundle of the package at `uri` (its zip and whatever proof is beside it)
    to `out`; the members written."""
    members = []
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as bundle:
        info = zipfile.ZipInfo(PACKAGE_FILE, date_time=_EPOCH)
        with store.open_recorded(uri) as src, bundle.open(info, "w", force_zip64=True) as dst:
            shutil.copyfileobj(src, dst, 8 * 1024 * 1024)
        members.append(PACKAGE_FILE)
        for rel in PROOF_FILES:
            data = store.read_beside(uri, rel)
            if data is not None:
                bundle.writestr(zipfile.ZipInfo(rel, date_time=_EPOCH), data)
                members.append(rel)
    return members


def is_bundle(path: Path) -> bool:
    """Whether a local file is a bundle (a zip whose first member is `package.zip`)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and names[0] == PACKAGE_FILE


def unpack_bundle(path: Path, folder: Path) -> Path:
    """Extract a bundle into `folder` (the layout of the store: package.zip, proof/);
    `UnverifiedPackageError` for a member that does not belong in a bundle."""
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        unknown = [n for n in names if n not in BUNDLE_MEMBERS]
        if unknown or len(set(names)) != len(names):
            bad = unknown[0] if unknown else "a duplicated member"
            raise UnverifiedPackageError(f"bundle: {bad!r} does not belong in a package bundle")
        for name in names:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(name) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 8 * 1024 * 1024)
    return folder
