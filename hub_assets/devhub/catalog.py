"""A Hub catalog on disk: repos with git-like commit histories over content-addressed blobs.

Layout of a catalog folder::

    blobs/ab/<sha256>                  file contents, stored once whatever repo or commit uses them
    models/<org>--<name>/repo.json     metadata, refs and commits of one model repo
    datasets/<org>--<name>/repo.json   the same for a dataset repo

Each commit maps every path of the repo to a blob, so any revision can be served without
replaying history. Commit shas are derived from the commit's content, so building the
same catalog twice gives the same shas.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from hub_assets.errors import InvalidRepoIdError, UploadRejectedError
from hub_assets.hub_protocol.repos import (
    BlobWindow,
    Commit,
    FileEntry,
    Repo,
    git_blob_sha1,
    is_lfs,
    lfs_pointer,
)
from hub_assets.hub_protocol.uploads import GITATTRIBUTES
from hub_assets.ids import validate_repo_id, validate_repo_path

REPO_TYPES = ("model", "dataset")
_CHUNK = 1024 * 1024


class CatalogError(ValueError):
    """A catalog operation was given something it cannot store."""


def _iso(dt: datetime | str | None) -> str:
    if dt is None:
        dt = datetime.now(UTC)
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt.replace("Z", "+00:00"))
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Catalog:
    """Reads and writes a catalog folder. Safe to read from many threads while one writes."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._lock = threading.RLock()  # create_repo commits while holding it
        self._cache: dict[Path, tuple[tuple[int, int], int, Repo]] = {}
        # called after each commit with (repo, branch, old sha or None, new sha): the
        # development Hub's webhooks (`devhub/webhooks.py`)
        self.commit_listeners: list[Callable[[Repo, str, str | None, str], None]] = []
        # called after a repo is deleted, with the repo as it was
        self.delete_listeners: list[Callable[[Repo], None]] = []

    # -- paths ---------------------------------------------------------------------------
    def _repo_dir(self, repo_type: str, repo_id: str) -> Path:
        if repo_type not in REPO_TYPES:
            raise CatalogError(f"Unknown repo type {repo_type!r}: expected one of {REPO_TYPES}.")
        validate_repo_id(repo_id)
        return self.root / f"{repo_type}s" / repo_id.replace("/", "--")

    def blob_path(self, sha256: str) -> Path:
        """Where the content with this sha256 is stored."""
        return self.root / "blobs" / sha256[:2] / sha256

    def open_blob(self, entry: FileEntry) -> BlobWindow:
        """The whole blob file of `entry`."""
        return BlobWindow(self.blob_path(entry.sha256).open("rb"), 0, entry.size)

    # -- reading -------------------------------------------------------------------------
    def repo(self, repo_type: str, repo_id: str) -> Repo | None:
        """The repo, or None if the catalog has no such repo (or the id is invalid)."""
        try:
            path = self._repo_dir(repo_type, repo_id) / "repo.json"
        except (CatalogError, InvalidRepoIdError):
            return None
        return self._load(path)

    def _load(self, path: Path) -> Repo | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        cached = self._cache.get(path)
        if cached and cached[0] == (st.st_mtime_ns, st.st_ino) and cached[1] == st.st_size:
            return cached[2]
        repo = Repo.from_json(json.loads(path.read_text()))
        self._cache[path] = ((st.st_mtime_ns, st.st_ino), st.st_size, repo)
        return repo

    def repos(self, repo_type: str) -> list[Repo]:
        """Every repo of a type, in a stable order."""
        base = self.root / f"{repo_type}s"
        if not base.is_dir():
            return []
        out = []
        for d in sorted(base.iterdir()):
            repo = self._load(d / "repo.json")
            if repo is not None:
                out.append(repo)
        return out

    # -- writing -------------------------------------------------------------------------
    def add_blob(self, source: bytes | str | os.PathLike) -> tuple[str, int, Path]:
        """Store content (bytes or a file, copied in chunks); return (sha256, size, blob path)."""
        tmp_dir = self.root / "blobs" / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        size = 0
        with tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False) as out:
            if isinstance(source, bytes):
                h.update(source)
                out.write(source)
                size = len(source)
            else:
                with open(source, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        digest = h.hexdigest()
        dest = self.blob_path(digest)
        if dest.exists():
            os.unlink(out.name)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(out.name, dest)
        return digest, size, dest

    def add_sparse_blob(self, build: Callable[[Path], None]) -> tuple[str, int, Path]:
        """Store a file that `build(path)` writes in place (for large sparse files)."""
        tmp_dir = self.root / "blobs" / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir)
        os.close(fd)
        build(Path(name))
        digest = _sparse_sha256(Path(name))
        size = os.path.getsize(name)
        dest = self.blob_path(digest)
        if dest.exists():
            os.unlink(name)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(name, dest)
        return digest, size, dest

    def commit(
        self,
        repo_type: str,
        repo_id: str,
        files: Mapping[str, bytes | str | os.PathLike | FileEntry],
        *,
        authors: Iterable[str],
        title: str,
        message: str = "",
        date: datetime | str | None = None,
        delete: Iterable[str] = (),
        replace_all: bool = False,
        meta: Mapping | None = None,
        branch: str = "main",
    ) -> Commit:
        """Add a commit to a repo (creating the repo if new) and move `branch` to it.

        `files` maps repo paths to new contents (bytes, a local file, or an existing entry);
        paths not named keep their content unless `replace_all` is set. `meta` updates the
        repo's metadata (downloads, likes, gated, ...).
        """
        authors = tuple(authors)
        if not authors:
            raise CatalogError("A commit needs at least one author.")
        repo_dir = self._repo_dir(repo_type, repo_id)
        with self._lock:
            repo = self._load(repo_dir / "repo.json") or Repo(repo_type, repo_id)
            repo = Repo.from_json(repo.to_json())  # never mutate what readers may hold
            parent = repo.resolve(branch)
            tree: dict[str, FileEntry] = (
                {} if (replace_all or parent is None) else dict(parent.files)
            )
            for path in delete:
                tree.pop(validate_repo_path(path), None)
            for path, source in files.items():
                validate_repo_path(path)
                tree[path] = self._entry(path, source)
            date_s = _iso(date)
            body = json.dumps(
                {
                    "parent": parent.sha if parent else None,
                    "tree": {p: e.to_json() for p, e in sorted(tree.items())},
                    "authors": authors,
                    "title": title,
                    "message": message,
                    "date": date_s,
                },
                sort_keys=True,
            )
            sha = hashlib.sha1(body.encode()).hexdigest()
            commit = Commit(
                sha=sha,
                parents=(parent.sha,) if parent else (),
                authors=authors,
                title=title,
                message=message,
                date=date_s,
                files=tree,
            )
            repo.commits[sha] = commit
            repo.refs[branch] = sha
            if meta:
                repo.meta.update(meta)
            self._write(repo_dir, repo)
        for listener in list(self.commit_listeners):
            listener(repo, branch, parent.sha if parent else None, sha)
        return commit

    def create_repo(self, repo_type: str, repo_id: str, *, private: bool, author: str) -> Repo:
        """A new repo whose first commit holds the Hub's default `.gitattributes`;
        ValueError when the repo exists."""
        with self._lock:
            if self._load(self._repo_dir(repo_type, repo_id) / "repo.json") is not None:
                raise ValueError(f"{repo_type} repo {repo_id} exists")
            self.commit(
                repo_type,
                repo_id,
                {".gitattributes": GITATTRIBUTES},
                authors=[author],
                title="initial commit",
                meta={"private": private},
            )
            return self.repo(repo_type, repo_id)  # type: ignore[return-value]

    def delete_repo(self, repo_type: str, repo_id: str) -> bool:
        """Remove a repo (its blobs stay: other repos may share them)."""
        repo_dir = self._repo_dir(repo_type, repo_id)
        with self._lock:
            if not (repo_dir / "repo.json").exists():
                return False
            gone = self.repo(repo_type, repo_id)
            shutil.rmtree(repo_dir)
            self._cache.pop(repo_dir / "repo.json", None)
        for listener in list(self.delete_listeners):
            listener(gone)
        return True

    def blob_size(self, sha256: str) -> int | None:
        """The size of a stored blob, or None."""
        if len(sha256) != 64:
            return None
        try:
            return self.blob_path(sha256).stat().st_size
        except OSError:
            return None

    def receive_blob(self, stream: BinaryIO, sha256: str, size: int) -> None:
        """Store `size` bytes from `stream` as the blob `sha256`, hashed as they arrive;
        `UploadRejectedError` (nothing kept) when the bytes differ."""
        tmp_dir = self.root / "blobs" / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        h, n = hashlib.sha256(), 0
        with tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False) as out:
            try:
                while chunk := stream.read(_CHUNK):
                    n += len(chunk)
                    if n > size:
                        break
                    h.update(chunk)
                    out.write(chunk)
            except BaseException:
                os.unlink(out.name)
                raise
        if n != size or h.hexdigest() != sha256:
            os.unlink(out.name)
            got = "more" if n > size else f"{n:,} bytes with sha256 {h.hexdigest()}"
            raise UploadRejectedError(
                f"The uploaded object does not match its announcement ({size:,} bytes with "
                f"sha256 {sha256}): got {got}. Nothing was stored."
            )
        dest = self.blob_path(sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(out.name, dest)

    def create_branch(self, repo_type: str, repo_id: str, branch: str, start: str) -> None:
        """A branch at the commit `start` names; ValueError when it exists."""
        repo_dir = self._repo_dir(repo_type, repo_id)
        with self._lock:
            repo = self._load(repo_dir / "repo.json")
            commit = repo.resolve(start) if repo else None
            if repo is None or commit is None:
                raise ValueError(f"No revision {start!r} in {repo_type} repo {repo_id!r}.")
            if branch in repo.refs:
                raise ValueError(f"Branch {branch} already exists.")
            repo = Repo.from_json(repo.to_json())
            repo.refs[branch] = commit.sha
            self._write(repo_dir, repo)

    def update_meta(self, repo_type: str, repo_id: str, **meta: object) -> Repo:
        """Change a repo's metadata (downloads, likes, gated, ...) without a commit."""
        repo_dir = self._repo_dir(repo_type, repo_id)
        with self._lock:
            repo = self._load(repo_dir / "repo.json")
            if repo is None:
                raise CatalogError(f"No {repo_type} repo {repo_id!r} in the catalog.")
            repo = Repo.from_json(repo.to_json())
            repo.meta.update(meta)
            self._write(repo_dir, repo)
            return repo

    def tag(self, repo_type: str, repo_id: str, tag: str, revision: str = "main") -> None:
        """Point a tag at the commit `revision` names."""
        repo_dir = self._repo_dir(repo_type, repo_id)
        with self._lock:
            repo = self._load(repo_dir / "repo.json")
            commit = repo.resolve(revision) if repo else None
            if commit is None:
                raise CatalogError(f"No revision {revision!r} in {repo_type} repo {repo_id!r}.")
            repo = Repo.from_json(repo.to_json())
            repo.tags[tag] = commit.sha
            self._write(repo_dir, repo)

    def _entry(self, path: str, source: bytes | str | os.PathLike | FileEntry) -> FileEntry:
        if isinstance(source, FileEntry):
            return FileEntry(
                source.path if source.path == path else path,
                source.size,
                source.sha256,
                source.git_oid,
                source.lfs,
            )
        return self._file_entry(path, *self.add_blob(source))

    def sparse_entry(self, path: str, build: Callable[[Path], None]) -> FileEntry:
        """A file entry for a commit, stored by `add_sparse_blob` (so the commit neither
        reads nor copies its gigabytes of holes again)."""
        return self._file_entry(path, *self.add_sparse_blob(build))

    def _file_entry(self, path: str, digest: str, size: int, blob: Path) -> FileEntry:
        lfs = is_lfs(path, size)
        if lfs:
            ptr = lfs_pointer(digest, size)
            git_oid = hashlib.sha1(f"blob {len(ptr)}\0".encode() + ptr).hexdigest()
        else:
            git_oid = git_blob_sha1(blob)
        return FileEntry(path=path, size=size, sha256=digest, git_oid=git_oid, lfs=lfs)

    def _write(self, repo_dir: Path, repo: Repo) -> None:
        repo_dir.mkdir(parents=True, exist_ok=True)
        tmp = repo_dir / "repo.json.tmp"
        tmp.write_text(json.dumps(repo.to_json(), indent=1, sort_keys=True))
        os.replace(tmp, repo_dir / "repo.json")
        self._cache.pop(repo_dir / "repo.json", None)


def _sparse_sha256(path: Path) -> str:
    """sha256 of a file whose holes are hashed as zeros without being read: reading 2.4 GB
    of holes made the kernel zero-fill every page (most of a demo build's system time)."""
    h = hashlib.sha256()
    zeros = memoryview(bytes(8 * _CHUNK))
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: nothing but a hole is left
                data = size
            while pos < data:
                n = min(data - pos, len(zeros))
                h.update(zeros[:n])
                pos += n
            end = os.lseek(fd, pos, os.SEEK_HOLE) if pos < size else size
            while pos < end:
                chunk = os.pread(fd, min(end - pos, len(zeros)), pos)
                if not chunk:
                    raise OSError(f"{path} shrank while it was hashed")
                h.update(chunk)
                pos += len(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()
