"""Lockfiles: the approved revision of each model with every file's sha256 and size, and a
fetch through the mirror that verifies every byte against them.

A lockfile is JSON, written canonically (sorted keys), so the same approvals give the same
file and a diff shows what changed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from huggingface_hub import hf_hub_download

from hub_assets import __version__
from hub_assets.errors import (
    LockMismatchError,
    NotApprovedError,
    UnverifiedPackageError,
)
from hub_assets.hub.locked_files import (  # noqa: F401 - read_lock re-exported
    LOCK_FORMAT,
    file_digest,
    read_lock,
)
from hub_assets.ids import check_model_id
from hub_assets.mirror.packages import MODEL_PREFIX
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.profiles import ProfileView
from hub_assets.progress import TransferBars
from hub_assets.proof.attestation import verify_envelope
from hub_assets.proof.signature import verify_signature
from hub_assets.proof.verify import ATTESTATION, SIGNATURE
from hub_assets.registry.approved import approved_packages, hidden_reason
from hub_assets.registry.store import Registry


def make_lock(
    registry: Registry,
    model_ids: Sequence[str],
    require_promoted: bool,
    store: PackageStore | None = None,
    profile: ProfileView | None = None,
) -> dict:
    """The lock of `model_ids`: approved revision, package, every file's sha256 and size,
    and (read from `store`) the package's signature and evidence attestation, so a fetch
    can check the files against signed facts; with a policy `profile`, the revisions that
    profile approves (what the mirror serves its callers). Raises `NotApprovedError`
    naming each model that has no approved revision, and why."""
    for model_id in model_ids:
        check_model_id(model_id)
    with registry.read() as con:
        if profile is None:
            approved = {m.lower(): p for m, p in approved_packages(con, require_promoted).items()}
        else:
            approved = profile.approved
        refused = []
        for model_id in model_ids:
            if model_id.lower() not in approved:
                hidden = profile.refused.get(model_id.lower()) if profile else None
                hidden = hidden or hidden_reason(con, model_id, require_promoted)
                why = hidden.text if hidden else "the registry does not know it."
                refused.append(f"{model_id}: {why}")
    if refused:
        raise NotApprovedError("Not approved, so not locked:\n  " + "\n  ".join(refused))
    models = {}
    for model_id in model_ids:
        p = approved[model_id.lower()]
        models[p.model_id] = {
            "revision": p.revision_sha,
            "package": {
                "id": p.package_id,
                "name": p.name,
                "version": p.version,
                "uri": p.uri,
                "sha256": p.sha256,
            },
            "files": [
                {"path": f["path"][len(MODEL_PREFIX) :], "size": f["size"], "sha256": f["sha256"]}
                for f in p.manifest.get("files", [])
            ],
        }
        if store is not None:
            models[p.model_id]["proof"] = _proof(store, p.uri)
    return {"format": LOCK_FORMAT, "tool": f"hub-assets {__version__}", "models": models}


def _proof(store: PackageStore, uri: str) -> dict:
    """The package's signature bundle and attestation envelope, as stored beside it."""
    out = {}
    for key, relpath in (("signature", SIGNATURE), ("attestation", ATTESTATION)):
        raw = store.read_beside(uri, relpath)
        if raw is not None:
            out[key] = base64.b64encode(raw).decode()
    return out


def check_locked_proof(model_id: str, entry: dict, public_key: Path) -> None:
    """Before any download: the lock's signature signs the locked package with this key,
    its attestation (signed by the same key) is about that package, and every locked file
    is in the attested list with the same size and sha256."""
    proof = entry.get("proof") or {}
    package_sha = entry.get("package", {}).get("sha256", "")
    if "signature" not in proof or "attestation" not in proof:
        raise UnverifiedPackageError(
            f"{model_id}: the lockfile has no signature for its package (unsigned, or locked "
            "without the package store); it cannot be checked against the key."
        )
    where = f"{model_id}: "
    try:
        verify_signature(base64.b64decode(proof["signature"]), package_sha, public_key=public_key)
        statement = verify_envelope(base64.b64decode(proof["attestation"]), package_sha, public_key)
    except UnverifiedPackageError as e:
        raise UnverifiedPackageError(where + str(e)) from None
    attested = {
        f["path"][len(MODEL_PREFIX) :]: (f["size"], f["sha256"])
        for f in statement["predicate"]["package"].get("files", [])
    }
    for f in entry["files"]:
        if attested.get(f["path"]) != (f["size"], f["sha256"]):
            raise UnverifiedPackageError(
                f"{where}{f['path']} in the lockfile is not what the signed attestation says"
            )


def write_lock(lock: dict, path: Path) -> None:
    """Write a lockfile canonically (sorted keys, two-space indent)."""
    path.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n")


def fetch_locked(
    lock: dict,
    dest: Path,
    *,
    endpoint: str,
    token: str | None,
    echo: Callable[[str], None] = print,
    public_key: Path | None = None,
) -> list[Path]:
    """Download every locked file through the mirror at `endpoint` into `dest/<model id>/`,
    at its locked revision, and verify its sha256 and size. A file already there with the
    right bytes is kept; a wrong one is fetched again. Raises `LockMismatchError` naming the
    first file whose fetched bytes differ (the file is removed). With `public_key`, each
    model's signed proof is checked first (`check_locked_proof`), before any download."""
    if public_key is not None:
        for model_id, entry in sorted(lock["models"].items()):
            check_locked_proof(model_id, entry, public_key)
            echo(f"{model_id}: signature and attestation verified")
    done: list[Path] = []
    total = sum(f["size"] for entry in lock["models"].values() for f in entry["files"])
    with TransferBars({"verify": total}) as bars:
        for model_id, entry in sorted(lock["models"].items()):
            done += _fetch_model(model_id, entry, dest, endpoint, token, bars)
            echo(f"{model_id}@{entry['revision'][:12]}: {len(entry['files'])} files verified")
    return done


def _fetch_model(
    model_id: str, entry: dict, dest: Path, endpoint: str, token: str | None, bars: TransferBars
) -> list[Path]:
    done: list[Path] = []
    folder = dest / model_id
    for f in entry["files"]:
        target = folder / f["path"]
        name = f"{model_id}/{f['path']}"
        if target.is_file() and target.stat().st_size == f["size"]:
            if (
                file_digest(target, lambda n, name=name, f=f: bars("verify", name, n, f["size"]))
                == (f["sha256"])
            ):
                done.append(target)
                continue
        path = Path(
            hf_hub_download(
                model_id,
                f["path"],
                revision=entry["revision"],
                local_dir=folder,
                endpoint=endpoint,
                token=token,  # None: huggingface_hub's own lookup
                force_download=True,
            )
        )
        size = path.stat().st_size
        digest = file_digest(path, lambda n, name=name, size=size: bars("verify", name, n, size))
        if size != f["size"] or digest != f["sha256"]:
            path.unlink(missing_ok=True)
            raise LockMismatchError(
                f"{model_id}/{f['path']} does not match the lockfile: expected sha256 "
                f"{f['sha256']} ({f['size']} bytes), the mirror sent {digest} ({size} "
                "bytes). The file was removed."
            )
        done.append(path)
    return done
