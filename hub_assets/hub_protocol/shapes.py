"""The Hub's JSON shapes and error answers, built from a store's repos.

What `huggingface_hub` parses: repo info (`/api/models/{id}`), listing fields, tree and
paths-info entries, commits, refs, security status, and `HubError` for the Hub's error
answers (status, `X-Error-Code`, message).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from hub_assets.errors import HubError
from hub_assets.hub.card import split_card
from hub_assets.hub.inspection import is_pickle_name, pickle_scan, safetensors_parameters
from hub_assets.hub_protocol.repos import BlobWindow, Commit, FileEntry, Repo, RepoStore


class BlobFacts:
    """What the JSON shapes read from file contents (card, config, parameters, pickle
    imports), read through the store once per blob and kept."""

    def __init__(self, store: RepoStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], Any] = {}

    def _once(self, kind: str, entry: FileEntry, read: Callable[[BlobWindow], Any]) -> Any:
        key = (kind, entry.sha256)
        if key not in self._cache:
            with self.store.open_blob(entry) as blob:
                self._cache[key] = read(blob)
        return self._cache[key]

    def card(self, entry: FileEntry | None) -> tuple[dict, str]:
        """The card's YAML metadata and text."""
        if entry is None:
            return {}, ""
        return self._once(
            "card", entry, lambda b: split_card(b.read().decode("utf-8", errors="replace"))
        )

    def config(self, entry: FileEntry) -> dict:
        """`architectures` and `model_type` of a config.json ({} if it is not JSON)."""

        def read(b: BlobWindow) -> dict:
            try:
                cfg = json.loads(b.read())
            except ValueError:
                return {}
            if not isinstance(cfg, dict):
                return {}
            return {k: cfg[k] for k in ("architectures", "model_type") if k in cfg}

        return self._once("config", entry, read)

    def safetensors(self, entry: FileEntry) -> dict[str, int]:
        """Parameters per dtype of a safetensors file (from its header)."""
        return self._once("safetensors", entry, safetensors_parameters)

    def scan(self, entry: FileEntry) -> list[dict]:
        """The imports a pickle file would run."""
        return self._once("scan", entry, lambda b: pickle_scan(b, entry.path))


def truthy(v: str | None) -> bool:
    """A query flag as the Hub reads it."""
    return v is not None and v.lower() in ("1", "true", "yes")


def _derived_tags(repo: Repo, card: dict, commit: Commit) -> list[str]:
    meta = repo.meta
    tags: list[str] = []

    def add(t: str | None) -> None:
        if t and t not in tags:
            tags.append(t)

    if repo.repo_type == "model":
        add(meta.get("library_name") or card.get("library_name"))
        paths = commit.files.keys()
        if any(p.endswith(".safetensors") for p in paths):
            add("safetensors")
        if any(p.endswith((".bin", ".pt", ".pth")) for p in paths):
            add("pytorch")
        if any(p.endswith(".gguf") for p in paths):
            add("gguf")
        add(meta.get("model_type"))
        add(meta.get("pipeline_tag") or card.get("pipeline_tag"))
    for t in list(card.get("tags") or []) + list(meta.get("tags") or []):
        add(str(t))
    for lang in as_list(card.get("language")):
        add(str(lang))
    for ds in as_list(card.get("datasets")):
        add(f"dataset:{ds}")
    for bm in as_list(card.get("base_model")):
        add(f"base_model:{bm}")
    lic = card.get("license") or meta.get("license")
    if lic:
        add(f"license:{lic}")
    add("region:us")
    return tags


def as_list(v: Any) -> list:
    """A scalar or a list as a list."""
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


def entry_json(entry: FileEntry, *, lfs_blobs: bool = True) -> dict:
    """One file of a tree or paths-info answer."""
    d: dict[str, Any] = {
        "type": "file",
        "oid": entry.git_oid,
        "size": entry.size,
        "path": entry.path,
    }
    if entry.lfs and lfs_blobs:
        d["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": 134}
    return d


def repo_json(
    facts: BlobFacts, repo: Repo, commit: Commit, *, blobs: bool = False, security: bool = False
) -> dict:
    """The full info JSON of a repo at a commit (`/api/models/{id}` shape)."""
    card, _ = facts.card(commit.files.get("README.md"))
    history = repo.history(repo.head or commit)
    first = history[-1] if history else commit
    meta = repo.meta
    siblings = []
    for path in sorted(commit.files):
        e = commit.files[path]
        s: dict[str, Any] = {"rfilename": path}
        if blobs:
            s.update({"size": e.size, "blobId": e.git_oid})
            if e.lfs:
                s["lfs"] = {"sha256": e.sha256, "size": e.size, "pointerSize": 134}
        siblings.append(s)
    author = repo.repo_id.split("/")[0] if "/" in repo.repo_id else meta.get("author")
    out: dict[str, Any] = {
        "_id": commit.sha[:24],
        "id": repo.repo_id,
        "author": author,
        "sha": commit.sha,
        "lastModified": commit.date,
        "createdAt": meta.get("createdAt") or first.date,
        "private": bool(meta.get("private", False)),
        "disabled": False,
        "gated": meta.get("gated", False),
        "downloads": int(meta.get("downloads", 0)),
        "likes": int(meta.get("likes", 0)),
        "trendingScore": int(meta.get("trendingScore", 0)),
        "tags": _derived_tags(repo, card, commit),
        # keys a store adds to the card's (the mirror: the registry's base_model and licence
        # chain), never over what the card itself says
        "cardData": {**meta.get("cardData", {}), **card} or None,
        "siblings": siblings,
        "usedStorage": sum(e.size for e in commit.files.values()),
    }
    if repo.repo_type == "model":
        out["modelId"] = repo.repo_id
        out["pipeline_tag"] = meta.get("pipeline_tag") or card.get("pipeline_tag")
        out["library_name"] = meta.get("library_name") or card.get("library_name")
        out["spaces"] = []
        config_entry = commit.files.get("config.json")
        if config_entry is not None:
            out["config"] = facts.config(config_entry)
        params: dict[str, int] = {}
        for path, e in commit.files.items():
            if path.endswith(".safetensors"):
                for dtype, n in facts.safetensors(e).items():
                    params[dtype] = params.get(dtype, 0) + n
        if params:
            out["safetensors"] = {"parameters": params, "total": sum(params.values())}
        if "evalResults" in meta:  # the store's measured results (the mirror's)
            out["evalResults"] = meta["evalResults"]
        if security and "securityRepoStatus" in meta:  # the store's own scan results
            out["securityRepoStatus"] = meta["securityRepoStatus"]
        elif security:
            issues = []
            for path, e in sorted(commit.files.items()):
                if is_pickle_name(path):
                    found = facts.scan(e)
                    if any(f["safety"] == "dangerous" for f in found):
                        issues.append({"path": path, "level": "danger", "pickleImports": found})
            out["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": issues}
    else:
        out["description"] = meta.get("description", "")
        out["citation"] = meta.get("citation")
    return out


def listing_fields(full: dict, *, is_full: bool, card_data: bool, expand: list[str]) -> dict:
    """The fields `/api/models` shows of a repo, as `full`, `cardData` and `expand` ask."""
    if expand:
        keep = set(expand) | {"_id", "id"}
        return {k: v for k, v in full.items() if k in keep}
    keys = {
        "_id",
        "id",
        "likes",
        "trendingScore",
        "private",
        "downloads",
        "tags",
        "pipeline_tag",
        "library_name",
        "createdAt",
        "modelId",
    }
    if is_full:
        keys |= {"author", "sha", "lastModified", "gated", "disabled", "siblings"}
    if card_data or is_full:
        keys.add("cardData")
    return {k: v for k, v in full.items() if k in keys}


def encode_cursor(d: dict) -> str:
    """An opaque listing cursor."""
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode()


def decode_cursor(s: str) -> dict:
    """A listing cursor back, or a 400 for one we did not write."""
    try:
        return json.loads(base64.urlsafe_b64decode(s.encode()))
    except (ValueError, TypeError) as e:
        raise HubError(400, None, f"Invalid cursor {s!r}") from e


def tree_entries(commit: Commit, prefix: str, recursive: bool) -> list[dict]:
    """The entries of a tree listing under `prefix` (directories first in path order)."""
    prefix = prefix.strip("/")
    if prefix and prefix in commit.files:
        return [entry_json(commit.files[prefix])]
    base = f"{prefix}/" if prefix else ""
    entries: list[dict] = []
    dirs: set[str] = set()
    for path in sorted(commit.files):
        if not path.startswith(base):
            continue
        rel = path[len(base) :]
        parts = rel.split("/")
        for k in range(1, len(parts)):
            d = base + "/".join(parts[:k])
            if d not in dirs and (recursive or k == 1):
                dirs.add(d)
        if recursive or len(parts) == 1:
            entries.append(entry_json(commit.files[path]))
    if prefix and not entries and not dirs:
        raise HubError(404, "EntryNotFound", f"{prefix} does not exist on this revision")
    dir_entries = [
        {
            "type": "directory",
            "oid": hashlib.sha1(f"{commit.sha}:{d}".encode()).hexdigest(),
            "size": 0,
            "path": d,
        }
        for d in sorted(dirs)
    ]
    return sorted(dir_entries + entries, key=lambda e: e["path"])


def file_security(facts: BlobFacts, entry: FileEntry) -> dict:
    """A file's `securityFileStatus`: pickle imports scanned, no virus scanner here."""
    pickle_scan = None
    status = "safe"
    if is_pickle_name(entry.path):
        found = facts.scan(entry)
        levels = [f["safety"] for f in found]
        highest = next(
            (lv for lv in ("dangerous", "suspicious", "innocuous") if lv in levels),
            "innocuous",
        )
        pickle_scan = {"highestSafetyLevel": highest, "imports": found}
        status = "unsafe" if highest == "dangerous" else "safe"
    return {
        "status": status,
        "avScan": {"virusFound": False, "virusNames": None},
        "pickleImportScan": pickle_scan,
    }


def commit_json(c: Commit) -> dict:
    """One entry of `/api/models/{id}/commits/{rev}`."""
    return {
        "id": c.sha,
        "title": c.title,
        "message": c.message,
        "authors": [{"user": a, "avatar": None} for a in c.authors],
        "date": c.date,
    }


def refs_json(repo: Repo, include_prs: bool = False) -> dict:
    """`/api/models/{id}/refs`: branches and tags with their commits (and the empty
    `pullRequests` when asked: no store here has pull requests)."""
    out = {
        "branches": [
            {"name": n, "ref": f"refs/heads/{n}", "targetCommit": s}
            for n, s in sorted(repo.refs.items())
        ],
        "converts": [],
        "tags": [
            {"name": n, "ref": f"refs/tags/{n}", "targetCommit": s}
            for n, s in sorted(repo.tags.items())
        ],
    }
    if include_prs:
        out["pullRequests"] = []
    return out
