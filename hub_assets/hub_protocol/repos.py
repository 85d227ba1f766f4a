"""What the Hub protocol serves: repos, their commits and files, behind a small store interface.

The development Hub's catalog folder implements `RepoStore`; the curated mirror implements it
over approved packages. Everything in `hub_protocol` speaks to a store only through it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

# Files the Hub stores with Git LFS: weights and other binaries, and anything over 10 MB.
LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".onnx",
    ".msgpack",
    ".parquet",
    ".arrow",
    ".gguf",
    ".npz",
    ".zip",
    ".ot",
)
LFS_MIN_SIZE = 10 * 1024 * 1024
_HASH_CHUNK = 1024 * 1024


def git_blob_sha1(source: Path | BinaryIO, size: int | None = None) -> str:
    """The git blob id of a file (a path, or a binary file of `size` bytes read from its
    start): sha1 of `blob <size>\\0<content>`."""
    if isinstance(source, Path):
        with source.open("rb") as f:
            return git_blob_sha1(f, source.stat().st_size)
    h = hashlib.sha1(f"blob {size}\0".encode())
    source.seek(0)
    while chunk := source.read(_HASH_CHUNK):
        h.update(chunk)
    return h.hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The Git LFS pointer file the Hub keeps in git for an LFS file."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    ).encode()


def is_lfs(path: str, size: int) -> bool:
    """Whether the Hub would store this file with Git LFS."""
    return path.endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE


def lfs_pointer_oid(sha256: str, size: int) -> str:
    """The git blob id of an LFS file: that of its pointer file."""
    ptr = lfs_pointer(sha256, size)
    return hashlib.sha1(f"blob {len(ptr)}\0".encode() + ptr).hexdigest()


@dataclass(frozen=True)
class FileEntry:
    """One file of one commit."""

    path: str
    size: int
    sha256: str  # key of the blob in the store, and the LFS oid for LFS files
    git_oid: str  # the git blob id (of the content, or of the LFS pointer for LFS files)
    lfs: bool

    def to_json(self) -> dict:
        return {
            "size": self.size,
            "sha256": self.sha256,
            "git_oid": self.git_oid,
            "lfs": self.lfs,
        }

    @classmethod
    def from_json(cls, path: str, d: Mapping) -> FileEntry:
        return cls(
            path=path, size=d["size"], sha256=d["sha256"], git_oid=d["git_oid"], lfs=d["lfs"]
        )

    @property
    def etag(self) -> str:
        """What the Hub sends as the file's ETag: LFS sha256, or the git blob sha1."""
        return self.sha256 if self.lfs else self.git_oid


@dataclass(frozen=True)
class Commit:
    """One commit: its id, who made it, and the full file tree at that point."""

    sha: str
    parents: tuple[str, ...]
    authors: tuple[str, ...]
    title: str
    message: str
    date: str
    files: Mapping[str, FileEntry]

    def to_json(self) -> dict:
        return {
            "sha": self.sha,
            "parents": list(self.parents),
            "authors": list(self.authors),
            "title": self.title,
            "message": self.message,
            "date": self.date,
            "files": {p: e.to_json() for p, e in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, d: Mapping) -> Commit:
        return cls(
            sha=d["sha"],
            parents=tuple(d["parents"]),
            authors=tuple(d["authors"]),
            title=d["title"],
            message=d["message"],
            date=d["date"],
            files={p: FileEntry.from_json(p, e) for p, e in d["files"].items()},
        )


@dataclass
class Repo:
    """A repo of the catalog: metadata (downloads, likes, gated...), refs and commits."""

    repo_type: str
    repo_id: str
    meta: dict = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch name -> commit sha
    tags: dict[str, str] = field(default_factory=dict)  # tag name -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)
    # When set, a revision that names no commit of this repo is refused with the error this
    # returns (the mirror: 403 naming the approved revision) instead of a 404.
    refuse_revision: Callable[[str], Exception] | None = field(default=None, compare=False)

    def resolve(self, revision: str | None) -> Commit | None:
        """The commit a revision names: a branch, a tag, a full sha or a sha prefix (≥7)."""
        revision = revision or "main"
        if revision.startswith("refs/heads/"):
            revision = revision[len("refs/heads/") :]
        sha = self.refs.get(revision) or self.tags.get(revision)
        if sha is None and revision in self.commits:
            sha = revision
        if sha is None and re.fullmatch(r"[0-9a-f]{7,39}", revision):
            matches = [s for s in self.commits if s.startswith(revision)]
            sha = matches[0] if len(matches) == 1 else None
        return self.commits.get(sha) if sha else None

    def history(self, head: Commit) -> list[Commit]:
        """Commits reachable from `head`, newest first (first-parent order)."""
        out, cur = [], head
        while cur is not None:
            out.append(cur)
            cur = self.commits.get(cur.parents[0]) if cur.parents else None
        return out

    @property
    def head(self) -> Commit | None:
        return self.resolve("main")

    def to_json(self) -> dict:
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "meta": self.meta,
            "refs": self.refs,
            "tags": self.tags,
            "commits": [c.to_json() for c in self.commits.values()],
        }

    @classmethod
    def from_json(cls, d: Mapping) -> Repo:
        commits = [Commit.from_json(c) for c in d["commits"]]
        return cls(
            repo_type=d["repo_type"],
            repo_id=d["repo_id"],
            meta=dict(d.get("meta", {})),
            refs=dict(d["refs"]),
            tags=dict(d.get("tags", {})),
            commits={c.sha: c for c in commits},
        )


class RepoStore(Protocol):
    """Repos, revisions, files, bytes: all the protocol needs from where repos live."""

    def repos(self, repo_type: str) -> Sequence[Repo]:
        """Every repo of a type ("model" or "dataset"), in a stable order."""
        ...

    def repo(self, repo_type: str, repo_id: str) -> Repo | None:
        """One repo, or None when the store has no such repo."""
        ...

    def open_blob(self, entry: FileEntry) -> BlobWindow:
        """A readable window over the bytes of `entry` (close it when done)."""
        ...


class BlobWindow(io.RawIOBase):
    """A read-only, seekable view of `size` bytes starting at `offset` of a binary file:
    a whole blob file, or one stored member inside a package zip (local or on S3).

    `fileno()` answers only when the underlying file is a local one, so the server can
    send it with `sendfile` (zero-copy, at `base + position`).
    """

    def __init__(self, file: BinaryIO, offset: int, size: int) -> None:
        super().__init__()
        self.file, self.base, self.size, self.pos = file, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.file.fileno()  # raises for files without one (s3fs)

    def local_fd(self) -> int | None:
        """The descriptor to `sendfile` from, or None when the bytes are remote."""
        try:
            fd = self.file.fileno()
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            return None
        return fd if isinstance(fd, int) and fd >= 0 else None

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.pos, os.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, b: bytearray | memoryview) -> int:
        n = min(len(b), self.size - self.pos)
        if n <= 0:
            return 0
        self.file.seek(self.base + self.pos)
        data = self.file.read(n)
        b[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.file.close()
        super().close()


@dataclass(frozen=True)
class Caller:
    """Who a bearer token belongs to, as `whoami-v2` reports it."""

    name: str
    role: str = "read"  # "read" or "write"
    profile: str | None = None  # the policy profile a curated mirror serves them


# The signed-in caller of the request being answered (None: anonymous), for a store whose
# answer depends on who asks (the mirror: a user whose access request was accepted). Set
# by the exchange at the start of every request, in the thread that answers it.
CURRENT_CALLER: ContextVar[Caller | None] = ContextVar("hub_caller", default=None)


class Access(Protocol):
    """Who may read: anonymous callers when `public`, and the callers tokens name."""

    public: bool
    login_hint: str  # what an anonymous caller of a non-public server is told to do

    def caller(self, token: str) -> Caller | None:
        """The caller a bearer token names; None for a token this server ignores. Raise a
        `HubError` 401 for a token it rejects."""
        ...


@dataclass(frozen=True)
class StaticTokens:
    """A fixed set of tokens, each naming one caller; everyone may read (the development
    Hub: tokens only open gated repos). An unknown token names a caller without access
    (role "none"), so a gated repo answers 403 to it, as the Hub does."""

    tokens: Mapping[str, Caller] = field(default_factory=dict)
    public: bool = True
    login_hint: str = "Pass a token."

    def caller(self, token: str) -> Caller | None:
        return self.tokens.get(token) or Caller("unknown", role="none")


class ListingExtension(Protocol):
    """Listing-only models merged into `/api/models` (the development Hub's synthetic ones)."""

    count: int

    def order(self, sort: str, descending: bool) -> Sequence[int]:
        """Indices in listing order for a sort key."""
        ...

    def info(self, i: int) -> dict:
        """The listing JSON of model `i`."""
        ...

    def index_of(self, repo_id: str) -> int | None:
        """The index of a listing-only model, or None."""
        ...
