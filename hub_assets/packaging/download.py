"""Verified, resumable download of one model revision to a local folder.

huggingface_hub 2.x neither resumes an interrupted file across runs nor verifies sha256, so
this does both: each file streams into `<path>.partial`, a later run continues it with a
`Range` request, and the finished file is checked against the Hub's LFS sha256 (or its git
blob sha1) before it is renamed into place. A corrupted file is fetched again once.
Paths from the Hub are validated before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from huggingface_hub import get_session
from huggingface_hub.errors import GatedRepoError
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from hub_assets.hub.catalog import CatalogError, validate_repo_path
from hub_assets.hub.client import HubClient, HubUnavailableError

CHUNK = 1024 * 1024
# Never packaged: huggingface_hub's own bookkeeping inside a local_dir.
EXCLUDED_PREFIXES = (".cache/",)
Progress = Callable[[str, int, int], None]  # (path, bytes done, file size)


class UnsafePathError(ValueError):
    """The Hub listed a file path that could escape the download folder."""


class InsufficientDiskSpaceError(OSError):
    """Not enough free disk for the files still to download."""


class GatedModelError(PermissionError):
    """The model's files need a token with access."""


class ChecksumMismatchError(ValueError):
    """A file's content did not match the Hub's hash, even after a fresh download."""


@dataclass(frozen=True)
class RemoteFile:
    """A file of a revision as the Hub describes it."""

    path: str
    size: int
    sha256: str | None  # LFS files
    git_oid: str | None  # git blob sha1 (for non-LFS files)


@dataclass(frozen=True)
class LocalFile:
    """A downloaded, verified file."""

    path: str
    local: Path
    size: int
    sha256: str
    resumed_from: int  # bytes already on disk from an earlier, interrupted run


def remote_files(siblings: Iterable[dict]) -> list[RemoteFile]:
    """The revision's files from stored metadata, paths validated, bookkeeping excluded."""
    out = []
    for s in siblings:
        path = s["path"]
        try:
            validate_repo_path(path)
        except CatalogError:
            raise UnsafePathError(
                f"The Hub lists an unsafe file path {path!r} (absolute, '..' or '\\'); "
                "the model is rejected."
            ) from None
        if path.startswith(EXCLUDED_PREFIXES):
            continue
        out.append(RemoteFile(path, int(s.get("size") or 0), s.get("lfs_sha256"), s.get("blob_id")))
    return out


def _target(dest: Path, path: str) -> Path:
    target = (dest / path).resolve()
    root = dest.resolve()
    if root not in target.parents:
        raise UnsafePathError(f"File path {path!r} resolves outside the download folder.")
    # an existing symlink anywhere on the way could redirect the write
    probe = dest
    for part in Path(path).parts:
        probe = probe / part
        if probe.is_symlink():
            raise UnsafePathError(f"Refusing to write through the symlink {probe}.")
    return dest / path


def _hasher(f: RemoteFile):  # noqa: ANN202 - a hashlib object
    if f.sha256:
        return hashlib.sha256()
    h = hashlib.sha1()
    h.update(f"blob {f.size}\0".encode())
    return h


def _expected(f: RemoteFile) -> str | None:
    return f.sha256 or f.git_oid


def check_disk_space(dest: Path, files: Iterable[RemoteFile], margin: int = 64 * 1024**2) -> None:
    """Fail early when the files still missing would not fit on the disk."""
    dest.mkdir(parents=True, exist_ok=True)
    needed = 0
    for f in files:
        final = dest / f.path
        partial = final.with_name(final.name + ".partial")
        if final.exists() and final.stat().st_size == f.size:
            continue
        needed += f.size - (partial.stat().st_size if partial.exists() else 0)
    free = shutil.disk_usage(dest).free
    if needed + margin > free:
        raise InsufficientDiskSpaceError(
            f"{needed / 1e9:.2f} GB still to download into {dest}, but only {free / 1e9:.2f} GB"
            " free. Free some space or set HUB_ASSETS_WORK_DIR to a larger disk."
        )


def _fetch(
    client: HubClient,
    model_id: str,
    sha: str,
    f: RemoteFile,
    target: Path,
    progress: Progress | None,
    attempts: int = 5,
) -> int:
    """Stream one file into `<target>.partial`, resuming; return bytes found on disk first."""
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    resumed_from = partial.stat().st_size if partial.exists() else 0
    if resumed_from > f.size:
        partial.unlink()
        resumed_from = 0
    url = f"{client.api.endpoint}/{model_id}/resolve/{sha}/{quote(f.path)}"
    headers = build_hf_headers(token=client.settings.token or False, library_name="hub-assets")
    for attempt in range(attempts):
        have = partial.stat().st_size if partial.exists() else 0
        if have >= f.size:
            break
        req_headers = dict(headers, **({"Range": f"bytes={have}-"} if have else {}))

        def stream(req_headers: dict = req_headers, have: int = have) -> None:
            with get_session().stream(
                "GET", url, headers=req_headers, timeout=client.settings.timeout_s
            ) as r:
                if r.status_code >= 400:
                    r.read()
                hf_raise_for_status(r)
                mode = "ab" if (have and r.status_code == 206) else "wb"
                done = have if mode == "ab" else 0
                with partial.open(mode) as out:
                    for chunk in r.iter_bytes(CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(f.path, done, f.size)

        try:
            client.call(stream)
        except HubUnavailableError:
            if attempt == attempts - 1:
                raise
    if not partial.exists() and f.size == 0:
        partial.touch()
    return resumed_from


def download_revision(
    client: HubClient,
    model_id: str,
    sha: str,
    files: list[RemoteFile],
    dest: Path,
    progress: Progress | None = None,
) -> list[LocalFile]:
    """Download every file of `files` at revision `sha` into `dest`, verified.

    Safe to interrupt at any point and call again: finished files are kept, partial ones
    are resumed, nothing unverified is ever renamed into place.
    """
    check_disk_space(dest, files)
    out = []
    for f in files:
        target = _target(dest, f.path)
        partial = target.with_name(target.name + ".partial")
        resumed_from = 0
        for round_ in range(2):  # a corrupted file is fetched once more from scratch
            if not (target.exists() and target.stat().st_size == f.size):
                try:
                    resumed_from = max(
                        resumed_from, _fetch(client, model_id, sha, f, target, progress)
                    )
                except GatedRepoError:
                    raise GatedModelError(
                        f"{model_id} is gated: the configured token (HF_TOKEN) has no access "
                        "to its files. Request access on the Hub, or use a token that has it."
                    ) from None
                os.replace(partial, target)
            sha256, check = hashlib.sha256(), _hasher(f)
            with target.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    sha256.update(chunk)
                    if not f.sha256:
                        check.update(chunk)
            digest = sha256.hexdigest() if f.sha256 else check.hexdigest()
            expected = _expected(f)
            if expected is None or digest == expected:
                break
            target.unlink()
            if round_ == 1:
                raise ChecksumMismatchError(
                    f"{model_id}@{sha}: {f.path} does not match the Hub's hash "
                    f"({digest} != {expected}) even after a fresh download."
                )
        out.append(
            LocalFile(f.path, target, target.stat().st_size, sha256.hexdigest(), resumed_from)
        )
    return out
