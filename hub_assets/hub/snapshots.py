"""One verified snapshot per (model, revision), shared by every stage that reads model files.

The security scan, the reproducibility run, shadow evaluation and packaging all ask the
`SnapshotStore` for the files they need; it downloads each missing file once
(`download_revision`: resumable, hashed while streaming, renamed into place only when it
matches the Hub's hash) into `<root>/<org>--<name>@<sha>/`, and later requests for the same
revision read the same bytes. A file that fails verification after one refetch raises
`ChecksumMismatchError` before any caller sees the folder.

The store has a size cap with least-recently-used eviction: after each download, whole
snapshots are removed, oldest use first, until the store fits. A snapshot in use (an open
`use()` block, in any process) holds a shared lock on its lease file and is never evicted.
"""

from __future__ import annotations

import fcntl
import fnmatch
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from hub_assets.hub.client import HubClient
from hub_assets.hub.download import (
    LocalFile,
    Progress,
    RemoteFile,
    check_file_sizes,
    download_revision,
    kept_files,
    remote_files,
)
from hub_assets.hub.inspection import PICKLE_SUFFIXES

# The files a transformers / sentence-transformers loader reads (pickles never are).
LOADABLE_PATTERNS = (
    "*.json",
    "*.safetensors",
    "*.txt",
    "*.model",
    "tokenizer*",
    "vocab*",
    "merges*",
    "*/config.json",
    "*/*.json",
    "*/*.safetensors",
)
PICKLE_PATTERNS = tuple(f"*{suffix}" for suffix in PICKLE_SUFFIXES)
ALL_FILES = ("*",)
# Weight formats that cannot run code: the security scan checks their headers by bounded
# range reads, and every loader checks them again on the verified bytes (`hub.clearance`).
DATA_WEIGHT_PATTERNS = ("*.safetensors", "*.SAFETENSORS", "*.gguf", "*.GGUF")


def select(files: Sequence[RemoteFile], patterns: Sequence[str]) -> list[RemoteFile]:
    """The files whose path (or base name) matches one of `patterns`."""
    return [
        f
        for f in files
        if any(
            fnmatch.fnmatch(f.path, p) or fnmatch.fnmatch(f.path.rsplit("/", 1)[-1], p)
            for p in patterns
        )
    ]


@dataclass(frozen=True)
class Snapshot:
    """Verified files of one revision, in one folder."""

    folder: Path
    files: list[LocalFile]


class SnapshotStore:
    """Verified snapshots under `root`, at most `cap_bytes` in all (see module docstring)."""

    def __init__(
        self,
        root: Path,
        cap_bytes: int | None = None,
        max_file_bytes: int | None = None,
        progress: Callable[[str, str, int, int], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.cap_bytes = cap_bytes
        self.max_file_bytes = max_file_bytes
        # (stage, "model@sha7/path", done, size) of every download that `use` is not given
        # a progress callback for: the run log's per-file lines
        self.progress = progress
        self.downloads: list[str] = []  # "model@sha:path" of every file fetched (for tests)

    def folder(self, model_id: str, sha: str) -> Path:
        return self.root / f"{model_id.replace('/', '--')}@{sha}"

    def _lease(self, folder: Path) -> Path:
        leases = self.root / ".leases"
        leases.mkdir(parents=True, exist_ok=True)
        return leases / f"{folder.name}.lock"

    @contextmanager
    def use(
        self,
        client: HubClient,
        model_id: str,
        sha: str,
        siblings: Sequence[dict],
        patterns: Sequence[str] = ALL_FILES,
        progress: Progress | None = None,
        exclude: Sequence[str] = (),
    ) -> Iterator[Snapshot]:
        """The verified files of `model_id@sha` matching `patterns` and not `exclude`,
        downloaded if missing; the snapshot cannot be evicted until the block ends."""
        folder = self.folder(model_id, sha)
        wanted = select(remote_files(siblings), patterns)
        if exclude:
            skipped = {f.path for f in select(wanted, exclude)}
            wanted = [f for f in wanted if f.path not in skipped]
        check_file_sizes(model_id, wanted, self.max_file_bytes)
        with self._lease(folder).open("a+") as lease:
            fcntl.flock(lease, fcntl.LOCK_SH)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with FileLock(str(self._lease(folder)) + ".download"):
                    before = {f.path for f in wanted if (folder / f.path).is_file()}
                    if progress is None and self.progress is not None:
                        report, name = self.progress, f"{model_id}@{sha[:7]}"

                        def progress(path: str, done: int, size: int) -> None:
                            report("download", f"{name}/{path}", done, size)

                    local = download_revision(client, model_id, sha, wanted, folder, progress)
                    self.downloads += [
                        f"{model_id}@{sha}:{f.path}" for f in wanted if f.path not in before
                    ]
                os.utime(folder)  # last use
                self.evict(keep=folder)
                yield Snapshot(folder, local)
            finally:
                fcntl.flock(lease, fcntl.LOCK_UN)

    @contextmanager
    def kept(
        self,
        model_id: str,
        sha: str,
        siblings: Sequence[dict],
        patterns: Sequence[str] = ALL_FILES,
        exclude: Sequence[str] = (),
    ) -> Iterator[Snapshot | None]:
        """The snapshot of `model_id@sha` as an earlier `use` verified it, with no Hub and
        no download (None when any wanted file is missing or changed): for re-judging,
        which must read exactly the bytes judged before. Not evicted until the block ends."""
        folder = self.folder(model_id, sha)
        wanted = select(remote_files(siblings), patterns)
        if exclude:
            skipped = {f.path for f in select(wanted, exclude)}
            wanted = [f for f in wanted if f.path not in skipped]
        if not folder.is_dir():
            yield None
            return
        with self._lease(folder).open("a+") as lease:
            fcntl.flock(lease, fcntl.LOCK_SH)
            try:
                local = kept_files(wanted, folder)
                yield None if local is None else Snapshot(folder, local)
            finally:
                fcntl.flock(lease, fcntl.LOCK_UN)

    def size(self) -> int:
        """Bytes of every snapshot in the store."""
        return sum(_tree_size(p) for p in self._snapshots())

    def _snapshots(self) -> list[Path]:
        if not self.root.exists():
            return []
        return [p for p in self.root.iterdir() if p.is_dir() and "@" in p.name]

    def evict(self, keep: Path | None = None) -> list[str]:
        """Remove least-recently-used snapshots not in use until the store fits its cap."""
        if self.cap_bytes is None:
            return []
        snapshots = sorted(self._snapshots(), key=lambda p: p.stat().st_mtime)
        sizes = {p: _tree_size(p) for p in snapshots}
        total, removed = sum(sizes.values()), []
        for p in snapshots:
            if total <= self.cap_bytes:
                break
            if keep is not None and p == keep:
                continue
            with self._lease(p).open("a+") as lease:
                try:
                    fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # in use
                try:
                    shutil.rmtree(p, ignore_errors=True)
                    total -= sizes[p]
                    removed.append(p.name)
                finally:
                    fcntl.flock(lease, fcntl.LOCK_UN)
        return removed


def _tree_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def store_from(
    work_dir: Path,
    cap_gb: float | None,
    max_file_gb: float | None = None,
    progress: Callable[[str, str, int, int], None] | None = None,
) -> SnapshotStore:
    """The snapshot store of a work folder (`<work_dir>/snapshots`), capped at `cap_gb`,
    refusing files over `max_file_gb`, reporting downloads to `progress`."""
    cap = int(cap_gb * 1024**3) if cap_gb is not None else None
    max_file = int(max_file_gb * 1e9) if max_file_gb is not None else None
    return SnapshotStore(Path(work_dir) / "snapshots", cap, max_file, progress)


def download_snapshot(
    client: HubClient,
    model_id: str,
    sha: str,
    root: Path,
    patterns: Sequence[str] = LOADABLE_PATTERNS,
) -> Path:
    """The verified loadable files of `model_id@sha` in the store at `root`; its folder."""
    siblings = client.model_metadata(model_id, sha).data["info"]["siblings"]
    with SnapshotStore(root).use(client, model_id, sha, siblings, patterns) as snapshot:
        return snapshot.folder
