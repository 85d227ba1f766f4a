"""A server that speaks the part of the Hugging Face Hub HTTP API the real clients use.

`huggingface_hub`, `datasets` and `transformers`, pointed at it with `endpoint=`, list and
download repos from a catalog folder (see `catalog.py`) exactly as they would from the Hub.
Fault injection (`FaultRule`) makes the error paths of those clients testable.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from hub_assets.devhub.catalog import Catalog, Commit, FileEntry, Repo
from hub_assets.devhub.synthetic import SyntheticModels
from hub_assets.hub.card import split_card
from hub_assets.hub.inspection import pickle_scan, safetensors_parameters

PAGE_SIZE = 1000
TREE_PAGE_SIZE = 1000
TREE_EXPAND_PAGE_SIZE = 50
COMMITS_PAGE_SIZE = 50
SEND_CHUNK = 1024 * 1024
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_API_KEYWORDS = ("revision", "tree", "commits", "paths-info", "refs")
_SORT_KEYS = {
    "downloads": "downloads",
    "likes": "likes",
    "lastModified": "lastModified",
    "last_modified": "lastModified",
    "createdAt": "createdAt",
    "created_at": "createdAt",
    "trendingScore": "trendingScore",
    "trending_score": "trendingScore",
    "id": "id",
}


@dataclass
class FaultRule:
    """A fault the server injects into matching requests.

    kind: "status" answers `status` (429 gets `Retry-After`); "drop" closes the connection
    after `after_bytes` bytes of the body; "slow" waits `delay_s` before answering and, for
    file bodies, caps the rate at `bytes_per_s` when set.
    route: regex searched in the request path; file: glob on the file path of a resolve URL.
    times: how many requests it hits before it expires (None: forever).
    """

    kind: str
    route: str = ""
    file: str | None = None
    method: str | None = None
    status: int = 503
    retry_after: float | None = None
    error_code: str | None = None
    after_bytes: int = 0
    delay_s: float = 0.0
    bytes_per_s: int | None = None
    headers: dict | None = None  # extra response headers of a "status" fault (RateLimit...)
    times: int | None = 1
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("status", "drop", "slow"):
            raise ValueError(f"Unknown fault kind {self.kind!r}: expected status, drop or slow.")
        if self.kind == "status" and self.status == 429 and self.retry_after is None:
            self.retry_after = 1

    def matches(self, method: str, path: str, file_path: str | None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and self.method.upper() != method:
            return False
        if self.kind == "drop" and method == "HEAD":
            return False  # a HEAD has no body to cut short
        if self.route and not re.search(self.route, path):
            return False
        if self.file is not None and (
            file_path is None or not fnmatch.fnmatch(file_path, self.file)
        ):
            return False
        return True


class HubError(Exception):
    """An error answered the way the Hub answers it: status, X-Error-Code, message."""

    def __init__(
        self, status: int, code: str | None, message: str, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class ServerState:
    """What the request handlers share: the catalog, faults, tokens and request counts."""

    catalog: Catalog
    synthetic: SyntheticModels
    tokens: frozenset[str] = frozenset()
    faults: list[FaultRule] = field(default_factory=list)
    requests: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _card_cache: dict[str, tuple[dict, str]] = field(default_factory=dict)
    _st_cache: dict[str, dict[str, int]] = field(default_factory=dict)
    _scan_cache: dict[str, list[dict]] = field(default_factory=dict)

    def take_fault(self, method: str, path: str, file_path: str | None) -> FaultRule | None:
        with self.lock:
            for rule in self.faults:
                if rule.matches(method, path, file_path):
                    rule.hits += 1
                    return rule
        return None

    def card(self, entry: FileEntry | None) -> tuple[dict, str]:
        if entry is None:
            return {}, ""
        if entry.sha256 not in self._card_cache:
            text = self.catalog.blob_path(entry.sha256).read_text(
                encoding="utf-8", errors="replace"
            )
            self._card_cache[entry.sha256] = split_card(text)
        return self._card_cache[entry.sha256]

    def safetensors(self, entry: FileEntry) -> dict[str, int]:
        if entry.sha256 not in self._st_cache:
            self._st_cache[entry.sha256] = safetensors_parameters(
                self.catalog.blob_path(entry.sha256)
            )
        return self._st_cache[entry.sha256]

    def scan(self, entry: FileEntry) -> list[dict]:
        if entry.sha256 not in self._scan_cache:
            self._scan_cache[entry.sha256] = pickle_scan(self.catalog.blob_path(entry.sha256))
        return self._scan_cache[entry.sha256]


# ---------------------------------------------------------------------------------------
# JSON shapes
# ---------------------------------------------------------------------------------------
def _bool(v: str | None) -> bool:
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
        add(meta.get("model_type"))
        add(meta.get("pipeline_tag") or card.get("pipeline_tag"))
    for t in list(card.get("tags") or []) + list(meta.get("tags") or []):
        add(str(t))
    for lang in _as_list(card.get("language")):
        add(str(lang))
    for ds in _as_list(card.get("datasets")):
        add(f"dataset:{ds}")
    for bm in _as_list(card.get("base_model")):
        add(f"base_model:{bm}")
    lic = card.get("license") or meta.get("license")
    if lic:
        add(f"license:{lic}")
    add("region:us")
    return tags


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple) else [v]


def _entry_json(entry: FileEntry, *, lfs_blobs: bool = True) -> dict:
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
    state: ServerState, repo: Repo, commit: Commit, *, blobs: bool = False, security: bool = False
) -> dict:
    """The full info JSON of a repo at a commit (`/api/models/{id}` shape)."""
    card, _ = state.card(commit.files.get("README.md"))
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
        "private": False,
        "disabled": False,
        "gated": meta.get("gated", False),
        "downloads": int(meta.get("downloads", 0)),
        "likes": int(meta.get("likes", 0)),
        "trendingScore": int(meta.get("trendingScore", 0)),
        "tags": _derived_tags(repo, card, commit),
        "cardData": card or None,
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
            try:
                cfg = json.loads(state.catalog.blob_path(config_entry.sha256).read_text())
                out["config"] = {k: cfg[k] for k in ("architectures", "model_type") if k in cfg}
            except (ValueError, OSError):
                pass
        params: dict[str, int] = {}
        for path, e in commit.files.items():
            if path.endswith(".safetensors"):
                for dtype, n in state.safetensors(e).items():
                    params[dtype] = params.get(dtype, 0) + n
        if params:
            out["safetensors"] = {"parameters": params, "total": sum(params.values())}
        if security:
            issues = []
            for path, e in sorted(commit.files.items()):
                if path.endswith(_PICKLE_SUFFIXES):
                    found = state.scan(e)
                    if any(f["safety"] == "dangerous" for f in found):
                        issues.append({"path": path, "level": "danger", "pickleImports": found})
            out["securityRepoStatus"] = {"scansDone": True, "filesWithIssues": issues}
    else:
        out["description"] = meta.get("description", "")
        out["citation"] = meta.get("citation")
    return out


def _listing_fields(full: dict, *, is_full: bool, card_data: bool, expand: list[str]) -> dict:
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


def _encode_cursor(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).decode()


def _decode_cursor(s: str) -> dict:
    try:
        return json.loads(base64.urlsafe_b64decode(s.encode()))
    except (ValueError, TypeError) as e:
        raise HubError(400, None, f"Invalid cursor {s!r}") from e


# ---------------------------------------------------------------------------------------
# HTTP handler
# ---------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK stall every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    server_version = "hub-assets-hub/1"
    state: ServerState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: request counts are kept in state.requests

    # -- dispatch --------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        raw_path, self.query = split.path, parse_qs(split.query, keep_blank_values=True)
        self.method = method
        try:
            body = self._read_body()
            if raw_path.startswith("/_hub_assets/"):
                return self._admin(method, raw_path, body)
            with self.state.lock:
                self.state.requests[f"{method} {self._route_name(raw_path)}"] += 1
                self.state.requests["total"] += 1
                if self.headers.get("Range"):
                    self.state.requests[f"{method} range"] += 1
            file_path = self._resolve_file_path(raw_path)
            if file_path is not None:  # per repo file: "GET file org/name:path"
                repo = unquote(raw_path).partition("/resolve/")[0].strip("/")
                with self.state.lock:
                    self.state.requests[f"{method} file {repo}:{file_path}"] += 1
            fault = self.state.take_fault(method, unquote(raw_path), file_path)
            self.fault = fault
            if fault and fault.kind == "slow" and fault.delay_s:
                time.sleep(fault.delay_s)
            if fault and fault.kind == "status":
                headers = dict(fault.headers or {})
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                raise HubError(fault.status, fault.error_code, "Injected fault", headers)
            if fault and fault.kind == "drop" and file_path is None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._route(method, raw_path, body)
        except HubError as e:
            self._send_error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    @staticmethod
    def _route_name(raw_path: str) -> str:
        if raw_path.startswith("/api/"):
            parts = raw_path.split("/")
            for kw in _API_KEYWORDS:
                if kw in parts[3:6]:
                    return f"/api/{parts[2]}/{{id}}/{kw}"
            return f"/api/{parts[2]}" if len(parts) <= 3 else f"/api/{parts[2]}/{{id}}"
        return "resolve" if "/resolve/" in raw_path else raw_path

    def _resolve_file_path(self, raw_path: str) -> str | None:
        if "/resolve/" not in raw_path or raw_path.startswith("/api/"):
            return None
        _, _, rest = raw_path.partition("/resolve/")
        _, _, path = rest.partition("/")
        return unquote(path)

    def _route(self, method: str, raw_path: str, body: bytes) -> None:
        if raw_path in ("/api/models", "/api/datasets") and method == "GET":
            return self._list(raw_path.rsplit("/", 1)[1][:-1])
        m = re.match(r"^/api/(models|datasets)/(.+)$", raw_path)
        if m:
            return self._api_repo(method, m.group(1)[:-1], m.group(2), body)
        if "/resolve/" in raw_path and method in ("GET", "HEAD"):
            return self._resolve(method, raw_path)
        raise HubError(404, None, f"Not found: {raw_path}")

    # -- listing -----------------------------------------------------------------------------
    def _q(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[-1] if v else default

    def _list(self, repo_type: str) -> None:
        q = self.query
        filters = [f for v in q.get("filter", []) for f in v.split(",") if f]
        author = self._q("author")
        search = (self._q("search") or "").lower()
        pipeline = self._q("pipeline_tag")
        gated = self._q("gated")
        sort = _SORT_KEYS.get(self._q("sort") or "", None)
        direction = self._q("direction")
        descending = sort is not None and direction not in ("1", "asc")
        if sort is None:
            sort, descending = "id", False
        try:
            limit = min(int(self._q("limit") or PAGE_SIZE), PAGE_SIZE)
        except ValueError as e:
            raise HubError(400, None, "limit must be an integer") from e
        is_full = _bool(self._q("full"))
        card_data = _bool(self._q("cardData"))
        expand = q.get("expand", []) + q.get("expand[]", [])
        cursor = _decode_cursor(self._q("cursor")) if self._q("cursor") else {"r": 0, "s": 0}

        real: list[dict] = []
        for repo in self.state.catalog.repos(repo_type):
            head = repo.head
            if head is not None:
                real.append(repo_json(self.state, repo, head))
        real.sort(key=lambda d: d["id"])
        if sort != "id":
            real.sort(key=lambda d: d.get(sort) or 0, reverse=descending)
        synth = self.state.synthetic if repo_type == "model" else None
        order = synth.order(sort, descending) if synth and synth.count else None

        def matches(d: dict) -> bool:
            tags = d.get("tags") or []
            if any(f not in tags and f != d.get("library_name") for f in filters):
                return False
            if author and d.get("author") != author:
                return False
            if search and search not in d["id"].lower():
                return False
            if pipeline and d.get("pipeline_tag") != pipeline:
                return False
            if gated is not None and bool(d.get("gated")) != _bool(gated):
                return False
            return True

        def key(d: dict) -> Any:
            v = d.get(sort)
            return v if v is not None else 0

        out: list[dict] = []
        r, s = int(cursor.get("r", 0)), int(cursor.get("s", 0))
        n_synth = len(order) if order is not None else 0
        synth_cache: dict[int, dict] = {}

        def synth_at(pos: int) -> dict:
            i = int(order[pos])
            if i not in synth_cache:
                synth_cache.clear()
                synth_cache[i] = synth.info(i)
            return synth_cache[i]

        while len(out) < limit and (r < len(real) or s < n_synth):
            take_real: bool
            if r >= len(real):
                take_real = False
            elif s >= n_synth:
                take_real = True
            else:
                a, b = key(real[r]), key(synth_at(s))
                take_real = (a > b) if descending else (a < b)
                if a == b:
                    take_real = True
            if take_real:
                d, r = real[r], r + 1
            else:
                d, s = synth_at(s), s + 1
            if matches(d):
                out.append(_listing_fields(d, is_full=is_full, card_data=card_data, expand=expand))
        headers = {}
        if r < len(real) or s < n_synth:
            params = [(k, v) for k, vs in q.items() if k != "cursor" for v in vs]
            params.append(("cursor", _encode_cursor({"r": r, "s": s})))
            host = (
                self.headers.get("Host")
                or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
            )
            url = f"http://{host}/api/{repo_type}s?{urlencode(params)}"
            headers["Link"] = f'<{url}>; rel="next"'
        self._send_json(out, headers=headers)

    # -- one repo ----------------------------------------------------------------------------
    def _find_repo(self, repo_type: str, parts: list[str]) -> tuple[Repo | dict, list[str]]:
        """Split the path after /api/{type}s/ into a repo and what follows its id."""
        catalog = self.state.catalog
        candidates = []
        if len(parts) >= 2:
            candidates.append(("/".join(parts[:2]), parts[2:]))
        candidates.append((parts[0], parts[1:]))
        for repo_id, rest in candidates:
            repo = catalog.repo(repo_type, unquote(repo_id))
            if repo is not None:
                return repo, rest
            if repo_type == "model" and self.state.synthetic.count:
                i = self.state.synthetic.index_of(unquote(repo_id))
                if i is not None:
                    return self.state.synthetic.info(i), rest
        shown = (
            "/".join(parts[:2]) if len(parts) > 1 and parts[1] not in _API_KEYWORDS else parts[0]
        )
        raise HubError(
            404,
            "RepoNotFound",
            f"Repository not found: {repo_type} {unquote(shown)!r} is not on this Hub.",
        )

    def _commit(self, repo: Repo, revision: str | None) -> Commit:
        commit = repo.resolve(unquote(revision) if revision else None)
        if commit is None:
            raise HubError(
                404, "RevisionNotFound", f"Invalid rev id: {unquote(revision or 'main')}"
            )
        return commit

    def _api_repo(self, method: str, repo_type: str, rest: str, body: bytes) -> None:
        parts = rest.split("/")
        repo, tail = self._find_repo(repo_type, parts)
        if isinstance(repo, dict):  # a synthetic model: metadata only
            if tail and tail[0] not in ("revision",):
                raise HubError(404, "EntryNotFound", "Synthetic models have no files.")
            return self._send_json(repo)
        kw = tail[0] if tail else None
        if kw is None and method == "GET":
            return self._info(repo, None)
        if kw == "revision" and len(tail) >= 2 and method == "GET":
            return self._info(repo, "/".join(tail[1:]))
        if kw == "tree" and len(tail) >= 2 and method == "GET":
            return self._tree(repo, tail[1], unquote("/".join(tail[2:])))
        if kw == "commits" and len(tail) >= 2 and method == "GET":
            return self._commits(repo, tail[1])
        if kw == "paths-info" and len(tail) >= 2 and method == "POST":
            return self._paths_info(repo, tail[1], body)
        if kw == "refs" and method == "GET":
            return self._refs(repo)
        raise HubError(404, None, f"Not found: {self.path}")

    def _info(self, repo: Repo, revision: str | None) -> None:
        commit = self._commit(repo, revision)
        blobs = _bool(self._q("blobs"))
        security = _bool(self._q("securityStatus"))
        d = repo_json(self.state, repo, commit, blobs=blobs, security=security)
        expand = self.query.get("expand", []) + self.query.get("expand[]", [])
        if expand:
            d = {k: v for k, v in d.items() if k in set(expand) | {"_id", "id"}}
        self._send_json(d)

    def _tree_entries(self, commit: Commit, prefix: str, recursive: bool) -> list[dict]:
        prefix = prefix.strip("/")
        if prefix and prefix in commit.files:
            return [_entry_json(commit.files[prefix])]
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
                entries.append(_entry_json(commit.files[path]))
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

    def _with_last_commit(self, repo: Repo, commit: Commit, entries: list[dict]) -> None:
        history = repo.history(commit)
        for e in entries:
            if e["type"] != "file":
                continue
            last = commit
            for older in history[1:]:
                prev = older.files.get(e["path"])
                if prev is None or prev.sha256 != commit.files[e["path"]].sha256:
                    break
                last = older
            e["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
            e["securityFileStatus"] = self._file_security(commit.files[e["path"]])

    def _file_security(self, entry: FileEntry) -> dict:
        pickle_scan = None
        status = "safe"
        if entry.path.endswith(_PICKLE_SUFFIXES):
            found = self.state.scan(entry)
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

    def _tree(self, repo: Repo, revision: str, path: str) -> None:
        commit = self._commit(repo, revision)
        recursive = _bool(self._q("recursive"))
        expand = _bool(self._q("expand"))
        entries = self._tree_entries(commit, path, recursive)
        start = int(self._q("cursor") or 0)
        size = TREE_EXPAND_PAGE_SIZE if expand else TREE_PAGE_SIZE
        page = entries[start : start + size]
        if expand:
            self._with_last_commit(repo, commit, page)
        self._send_json(page, headers=self._next_link(start + size, len(entries)))

    def _next_link(self, nxt: int, total: int, key: str = "cursor") -> dict:
        if nxt >= total:
            return {}
        params = [(k, v) for k, vs in self.query.items() if k != key for v in vs]
        params.append((key, str(nxt)))
        host = self.headers.get("Host")
        url = f"http://{host}{urlsplit(self.path).path}?{urlencode(params)}"
        return {"Link": f'<{url}>; rel="next"'}

    def _commits(self, repo: Repo, revision: str) -> None:
        commit = self._commit(repo, revision)
        history = repo.history(commit)
        start = int(self._q("p") or 0) * COMMITS_PAGE_SIZE
        page = history[start : start + COMMITS_PAGE_SIZE]
        out = [
            {
                "id": c.sha,
                "title": c.title,
                "message": c.message,
                "authors": [{"user": a, "avatar": None} for a in c.authors],
                "date": c.date,
            }
            for c in page
        ]
        headers = {}
        if start + COMMITS_PAGE_SIZE < len(history):
            params = [(k, v) for k, vs in self.query.items() if k != "p" for v in vs]
            params.append(("p", str(start // COMMITS_PAGE_SIZE + 1)))
            url = f"http://{self.headers.get('Host')}{urlsplit(self.path).path}?{urlencode(params)}"
            headers["Link"] = f'<{url}>; rel="next"'
        self._send_json(out, headers=headers)

    def _paths_info(self, repo: Repo, revision: str, body: bytes) -> None:
        commit = self._commit(repo, revision)
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            data = json.loads(body or b"{}")
            paths, expand = _as_list(data.get("paths")), bool(data.get("expand"))
        else:
            form = parse_qs(body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = _bool((form.get("expand") or ["false"])[-1])
        out = []
        for p in paths:
            p = p.strip("/")
            if p in commit.files:
                out.append(_entry_json(commit.files[p]))
            elif any(f.startswith(p + "/") for f in commit.files):
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": p})
        if expand:
            self._with_last_commit(repo, commit, out)
        self._send_json(out)

    def _refs(self, repo: Repo) -> None:
        self._send_json(
            {
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
        )

    # -- files ------------------------------------------------------------------------------
    def _resolve(self, method: str, raw_path: str) -> None:
        left, _, rest = raw_path.partition("/resolve/")
        repo_type = "model"
        if left.startswith("/datasets/"):
            repo_type, left = "dataset", left[len("/datasets") :]
        elif left.startswith("/models/"):
            left = left[len("/models") :]
        repo_id = unquote(left.strip("/"))
        revision, _, path = rest.partition("/")
        repo = self.state.catalog.repo(repo_type, repo_id)
        if repo is None:
            raise HubError(404, "RepoNotFound", f"Repository not found: {repo_type} {repo_id!r}.")
        commit = self._commit(repo, revision)
        path = unquote(path)
        if repo.meta.get("gated") and path not in ("README.md", ".gitattributes"):
            self._check_gated_access(repo)  # the card stays public, as on the Hub
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(
                404, "EntryNotFound", f"Entry not found: {path!r} at revision {commit.sha}."
            )
        self._send_file(method, commit, entry)

    def _check_gated_access(self, repo: Repo) -> None:
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        kind = "model" if repo.repo_type == "model" else "dataset"
        if not token:
            raise HubError(
                401,
                "GatedRepo",
                f"Access to {kind} {repo.repo_id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in.",
            )
        if token not in self.state.tokens:
            raise HubError(
                403,
                "GatedRepo",
                f"Access to {kind} {repo.repo_id} is restricted and you are not in the "
                "authorized list. Ask for access on the repo page.",
            )

    def _send_file(self, method: str, commit: Commit, entry: FileEntry) -> None:
        size = entry.size
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise HubError(416, None, f"Invalid Range header {rng!r}")
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start, end = max(size - int(m.group(2)), 0), size - 1
            if start >= size or start > end:
                self._send_headers(416, {"Content-Range": f"bytes */{size}", "Content-Length": "0"})
                return
            status = 206
        length = end - start + 1 if size else 0
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(length),
            "Accept-Ranges": "bytes",
            "X-Repo-Commit": commit.sha,
            "ETag": f'"{entry.etag}"',
            "Content-Disposition": f'inline; filename="{quote(entry.path.rsplit("/", 1)[-1])}"',
        }
        if entry.lfs:
            headers["X-Linked-Etag"] = f'"{entry.sha256}"'
            headers["X-Linked-Size"] = str(size)
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send_headers(status, headers)
        if method == "HEAD" or length == 0:
            return
        fault = self.fault
        limit = length
        if fault and fault.kind == "drop":
            limit = min(length, fault.after_bytes)
        rate = fault.bytes_per_s if fault and fault.kind == "slow" else None
        with open(self.state.catalog.blob_path(entry.sha256), "rb") as f:
            self._stream(f, start, limit, rate)
        if limit < length:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def _stream(self, f: Any, offset: int, count: int, rate: int | None) -> None:
        sock = self.connection
        if rate is None:
            while count > 0:
                sent = os.sendfile(sock.fileno(), f.fileno(), offset, min(count, 8 * SEND_CHUNK))
                if sent == 0:
                    break
                offset += sent
                count -= sent
            return
        f.seek(offset)
        chunk = max(1, min(SEND_CHUNK, rate // 10 or 1))
        while count > 0:
            data = f.read(min(chunk, count))
            if not data:
                break
            self.wfile.write(data)
            count -= len(data)
            time.sleep(len(data) / rate)

    # -- responses ----------------------------------------------------------------------------
    def _send_headers(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _send_json(self, data: Any, status: int = 200, headers: dict | None = None) -> None:
        payload = json.dumps(data).encode()
        h = {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(payload))}
        h.update(headers or {})
        self._send_headers(status, h)
        if self.method != "HEAD":
            self.wfile.write(payload)

    def _send_error(self, e: HubError) -> None:
        headers = dict(e.headers)
        if e.code:
            headers["X-Error-Code"] = e.code
        headers["X-Error-Message"] = quote(e.message, safe=" .,:;'()/-_!?")
        try:
            self._send_json({"error": e.message}, status=e.status, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- admin ------------------------------------------------------------------------------
    def _admin(self, method: str, raw_path: str, body: bytes) -> None:
        """Out-of-process control: `/_hub_assets/faults` and `/_hub_assets/requests`."""
        if raw_path == "/_hub_assets/faults":
            if method == "POST":
                try:
                    rule = FaultRule(**json.loads(body or b"{}"))
                except (TypeError, ValueError) as e:
                    raise HubError(400, None, f"Bad fault rule: {e}") from e
                with self.state.lock:
                    self.state.faults.append(rule)
                return self._send_json(asdict(rule), status=201)
            if method == "DELETE":
                with self.state.lock:
                    self.state.faults.clear()
                return self._send_json({"cleared": True})
            return self._send_json([asdict(r) for r in self.state.faults])
        if raw_path == "/_hub_assets/requests":
            if method == "DELETE":
                with self.state.lock:
                    self.state.requests.clear()
                return self._send_json({"cleared": True})
            return self._send_json(dict(self.state.requests))
        raise HubError(404, None, f"Not found: {raw_path}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Cut keep-alive connections too, so a stopped server looks down to every client."""
        with self._conn_lock:
            conns = list(self.open_connections)
            self.open_connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass


class HubServer:
    """The Hub server over a catalog folder; start it in a thread or serve forever.

    >>> server = HubServer("data/demo_hub").start()
    >>> HfApi(endpoint=server.url).model_info("sentence-transformers/all-MiniLM-L6-v2")
    """

    def __init__(
        self,
        catalog: str | os.PathLike | Catalog,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        synthetic: int = 0,
        synthetic_seed: int = 0,
        tokens: tuple[str, ...] | list[str] = (),
    ) -> None:
        cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        if not cat.root.is_dir():
            raise FileNotFoundError(
                f"Catalog folder {str(cat.root)!r} does not exist. "
                "Build the demo catalog with `hub-assets hub build-demo`."
            )
        self.state = ServerState(
            catalog=cat,
            synthetic=SyntheticModels(synthetic, synthetic_seed),
            tokens=frozenset(tokens),
        )
        handler = type("HubHandler", (_Handler,), {"state": self.state})
        self._httpd = _Server((host, port), handler)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def catalog(self) -> Catalog:
        return self.state.catalog

    @property
    def requests(self) -> Counter:
        """Requests served so far, by `METHOD route` and `total`."""
        return self.state.requests

    def add_fault(self, kind: str, **kwargs: Any) -> FaultRule:
        """Inject a fault into matching requests (see `FaultRule`)."""
        rule = FaultRule(kind=kind, **kwargs)
        with self.state.lock:
            self.state.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def reset_requests(self) -> None:
        with self.state.lock:
            self.state.requests.clear()

    def start(self) -> HubServer:
        """Serve in a background thread and return self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and cut open connections (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_all_connections()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
