"""What the Hub protocol serves: repos, their commits and files, behind a small store interface.

The development Hub's catalog folder implements `RepoStore`; the curated mirror implements it
over approved packages. Everything in `hub_protocol` speaks to a store only through it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


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

    def blob_path(self, sha256: str) -> Path:
        """The local file holding the content with this sha256."""
        ...


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
