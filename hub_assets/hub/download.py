"""Verified, resumable download of one model revision to a local folder.

huggingface_hub 2.x neither resumes an interrupted file across runs nor verifies sha256, so
this does both: each file streams into `<path>.partial` and is hashed as it streams (a later
run continues it with a `Range` request, hashing the bytes already on disk first); only when
the digest matches the Hub's LFS sha256 (or its git blob sha1) is it renamed into place,
so nothing else ever sees unverified bytes. A file that fails is fetched again once from
scratch; a second failure is `ChecksumMismatchError`, naming the file and both hashes.
The sha256 of every verified file is kept in `.hub-assets/verified.json` beside it, so a
later run neither downloads nor re-reads it. Paths are validated before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from huggingface_hub.errors import GatedRepoError, HfHubHTTPError
from huggingface_hub.utils import build_hf_headers

from hub_assets.errors import (
    ChecksumMismatchError,
    DownloadFailedError,
    GatedModelError,
    HubUnavailableError,
    InsufficientDiskSpaceError,
    OversizedFileError,
    UnsafePathError,
    UnsafeRepoError,
)
from hub_assets.hub.client import HubClient
from hub_assets.hub.hashing import BackgroundHash
from hub_assets.hub.pacing import transport_words
from hub_assets.hub.transport import checked_get
from hub_assets.hub.untrusted import check_file_name

CHUNK = 1024 * 1024
# Never packaged: huggingface_hub's own bookkeeping inside a local_dir.
EXCLUDED_PREFIXES = (".cache/",)
Progress = Callable[[str, int, int], None]  # (path, bytes done, file size)


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
    lfs: bool = False  # stored with Git LFS on the Hub
    git_oid: str | None = None  # the Hub's git blob id (of the LFS pointer for LFS files)


def remote_files(siblings: Iterable[dict]) -> list[RemoteFile]:
    """The revision's files from stored metadata, paths validated, bookkeeping excluded."""
    out = []
    for s in siblings:
        try:
            path = check_file_name(s["path"])
        except UnsafeRepoError as e:
            raise UnsafePathError(str(e), field=e.field) from None
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


def check_file_sizes(model_id: str, files: Iterable[RemoteFile], max_bytes: int | None) -> None:
    """Reject a repo that advertises a file over `max_bytes` before fetching anything."""
    if max_bytes is None:
        return
    for f in files:
        if f.size > max_bytes:
            raise OversizedFileError(
                f"{model_id} advertises {f.path} at {f.size / 1e9:,.1f} GB, over the "
                f"{max_bytes / 1e9:,.1f} GB limit (HUB_ASSETS_MAX_FILE_GB); the model is rejected."
            )


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


@dataclass
class _Digests:
    """The hashes of one file, fed as its bytes go by."""

    f: RemoteFile
    sha256: object = None
    check: object = None
    _background: BackgroundHash | None = None

    def __post_init__(self) -> None:
        self.sha256, self.check = hashlib.sha256(), _hasher(self.f)
        self._background = BackgroundHash(
            [self.sha256] if self.f.sha256 else [self.sha256, self.check]
        )

    def update(self, chunk: bytes) -> None:
        self._background.update(chunk)

    def finish(self) -> None:
        """Wait until every chunk so far is hashed."""
        self._background.finish()

    def digest(self) -> str:
        """The digest the Hub advertises for this file (LFS sha256, or git blob sha1)."""
        self.finish()
        return self.sha256.hexdigest() if self.f.sha256 else self.check.hexdigest()


def _fetch(
    client: HubClient,
    model_id: str,
    sha: str,
    f: RemoteFile,
    target: Path,
    progress: Progress | None,
    attempts: int = 5,
) -> tuple[int, _Digests]:
    """Stream one file into `<target>.partial`, resuming and hashing as the bytes arrive.

    Returns the bytes found on disk first and the digests of the whole partial file."""
    partial = target.with_name(target.name + ".partial")
    target.parent.mkdir(parents=True, exist_ok=True)
    resumed_from = partial.stat().st_size if partial.exists() else 0
    if resumed_from > f.size:
        partial.unlink()
        resumed_from = 0
    digests = _Digests(f)
    if resumed_from:
        with partial.open("rb") as fh:  # the bytes an earlier run left: hashed once, here
            while chunk := fh.read(CHUNK):
                digests.update(chunk)
    url = f"{client.api.endpoint}/{model_id}/resolve/{sha}/{quote(f.path)}"
    headers = build_hf_headers(token=client.token, library_name="hub-assets")
    allowed = client.allowed_redirect_hosts()
    state = {"have": resumed_from, "digests": digests}
    for attempt in range(attempts):
        have = state["have"]
        if have >= f.size and (f.size or partial.exists()):
            break
        req_headers = dict(headers, **({"Range": f"bytes={have}-"} if have else {}))

        def stream(req_headers: dict = req_headers, have: int = have) -> None:
            with checked_get(
                url,
                req_headers,
                timeout_s=client.settings.timeout_s,
                allowed=allowed,
                size=f.size - have,
                what=f"Downloading {f.path}",
            ) as (r, deadline):
                resumed = have and r.status_code == 206
                if not resumed:  # the server sent it all: start the file and its hash over
                    state["digests"].finish()
                    state["digests"], state["have"] = _Digests(f), 0
                with partial.open("ab" if resumed else "wb") as out:
                    for chunk in r.iter_bytes():  # as it arrives: a drop loses nothing
                        room = f.size - state["have"] + 1  # one byte past: proof of excess
                        chunk = chunk[:room]
                        out.write(chunk)
                        state["digests"].update(chunk)
                        state["have"] += len(chunk)
                        client.bytes_downloaded += len(chunk)
                        if progress:
                            progress(f.path, min(state["have"], f.size), f.size)
                        deadline.check()
                        if state["have"] > f.size:  # a server that never stops: cut it off
                            break

        try:
            client.call(stream)
        except GatedRepoError:
            raise
        except HfHubHTTPError as e:
            status = e.response.status_code if e.response is not None else None
            if status is None or status < 429 or status in (404,):
                raise
            raise DownloadFailedError(
                f"Download of {f.path} from {model_id} failed: the Hub kept answering "
                f"{status} after {client.settings.max_retries} retries ({state['have']:,} of "
                f"{f.size:,} bytes). The partial file is kept; the next run resumes."
            ) from None
        except HubUnavailableError as e:
            if attempt == attempts - 1:
                raise DownloadFailedError(
                    f"Download of {f.path} from {model_id} failed after {attempts} attempts: "
                    f"{transport_words(e)} ({state['have']:,} of {f.size:,} bytes). "
                    "The partial file is kept; the next run resumes."
                ) from None
    if not partial.exists() and f.size == 0:
        partial.touch()
    return resumed_from, state["digests"]


class _Verified:
    """`.hub-assets/verified.json` in a download folder: path → sha256 of verified files."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / ".hub-assets" / "verified.json"
        try:
            self.entries: dict[str, dict] = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            self.entries = {}

    def get(self, f: RemoteFile, target: Path) -> str | None:
        entry = self.entries.get(f.path)
        if (
            entry
            and entry.get("expected") == _expected(f)
            and target.is_file()
            and target.stat().st_size == f.size
        ):
            return entry["sha256"]
        return None

    def add(self, f: RemoteFile, sha256: str) -> None:
        self.entries[f.path] = {"expected": _expected(f), "sha256": sha256}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def kept_files(files: list[RemoteFile], dest: Path) -> list[LocalFile] | None:
    """The files of `files` that an earlier download verified into `dest` (by the same
    record `download_revision` keeps), or None when any is missing or no longer matches:
    what re-judging reads without a Hub."""
    verified = _Verified(dest)
    out = []
    for f in files:
        target = _target(dest, f.path)
        known = verified.get(f, target)
        if known is None:
            return None
        out.append(LocalFile(f.path, target, f.size, known, 0, bool(f.sha256), f.git_oid))
    return out


def download_revision(
    client: HubClient,
    model_id: str,
    sha: str,
    files: list[RemoteFile],
    dest: Path,
    progress: Progress | None = None,
) -> list[LocalFile]:
    """Download every file of `files` at revision `sha` into `dest`, verified.

    Safe to interrupt at any point and call again: verified files are kept (and not read
    again), partial ones are resumed, nothing unverified is ever renamed into place.
    """
    check_disk_space(dest, files)
    verified = _Verified(dest)
    out = []
    for f in files:
        target = _target(dest, f.path)
        partial = target.with_name(target.name + ".partial")
        known = verified.get(f, target)
        if known is not None:
            out.append(LocalFile(f.path, target, f.size, known, 0, bool(f.sha256), f.git_oid))
            continue
        resumed_from = 0
        for round_ in range(2):  # a corrupted file is fetched once more from scratch
            try:
                first, digests = _fetch(client, model_id, sha, f, target, progress)
            except GatedRepoError:
                raise GatedModelError(
                    f"{model_id} is gated: the configured token (HF_TOKEN) has no access "
                    "to its files. Request access on the Hub, or use a token that has it."
                ) from None
            resumed_from = max(resumed_from, first)
            digest, expected = digests.digest(), _expected(f)
            if expected is None or digest == expected:
                os.replace(partial, target)
                verified.add(f, digests.sha256.hexdigest())
                break
            partial.unlink(missing_ok=True)
            if round_ == 1:
                raise ChecksumMismatchError(
                    f"{f.path} of {model_id}@{sha[:12]} does not match the Hub's hash even "
                    f"after a fresh download: expected {expected}, got {digest}. The bytes "
                    "were discarded; nothing was loaded, scanned or packaged.",
                    path=f.path,
                    expected=expected,
                    actual=digest,
                )
        out.append(
            LocalFile(
                f.path,
                target,
                target.stat().st_size,
                digests.sha256.hexdigest(),
                resumed_from,
                bool(f.sha256),
                f.git_oid,
            )
        )
    return out
