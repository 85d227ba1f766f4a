"""The Hub's HTTP API over a `RepoStore`: routing, files with ranges, gated access.

What `huggingface_hub`, `datasets`, `transformers` and `hf` call: listing, repo info,
tree, paths-info, commits, refs and `resolve` downloads (HEAD, ranges, `X-Repo-Commit`,
`X-Linked-Etag`). Faults, when a `FaultSource` is given, make their error paths testable.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from hub_assets.hub_protocol.files import file_answer, send_bytes
from hub_assets.hub_protocol.listing import list_page
from hub_assets.hub_protocol.repos import Commit, FileEntry, ListingExtension, Repo, RepoStore
from hub_assets.hub_protocol.shapes import (
    BlobFacts,
    HubError,
    as_list,
    commit_json,
    entry_json,
    file_security,
    refs_json,
    repo_json,
    tree_entries,
    truthy,
)

TREE_PAGE_SIZE = 1000
TREE_EXPAND_PAGE_SIZE = 50
COMMITS_PAGE_SIZE = 50
API_KEYWORDS = ("revision", "tree", "commits", "paths-info", "refs")
ADMIN_PREFIX = "/_hub_assets/"


class Fault(Protocol):
    """A fault to inject into one request (the development Hub's `FaultRule`)."""

    kind: str  # "status", "drop" or "slow"
    status: int
    retry_after: float | None
    error_code: str | None
    headers: dict | None
    after_bytes: int
    delay_s: float
    bytes_per_s: int | None


class FaultSource(Protocol):
    """Where faults come from, and the admin routes that manage them."""

    def take(self, method: str, path: str, file_path: str | None) -> Fault | None:
        """The fault for this request, if one matches (counting the hit)."""
        ...

    def admin(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        """Answer a request under `/_hub_assets/`: (status, JSON body)."""
        ...


@dataclass
class ProtocolState:
    """What the request handlers share: the store, tokens, faults and request counts."""

    store: RepoStore
    extension: ListingExtension | None = None
    tokens: frozenset[str] = frozenset()
    faults: FaultSource | None = None
    requests: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    facts: BlobFacts = field(init=False)

    def __post_init__(self) -> None:
        self.facts = BlobFacts(self.store)


class HubProtocolHandler(BaseHTTPRequestHandler):
    """Answers the Hub's HTTP API from `state.store`; one instance per connection."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK stall every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    server_version = "hub-assets-hub/1"
    state: ProtocolState  # set on the subclass made per server

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
            if raw_path.startswith(ADMIN_PREFIX):
                if self.state.faults is None:
                    raise HubError(404, None, f"Not found: {raw_path}")
                status, data = self.state.faults.admin(method, raw_path, body)
                return self._send_json(data, status=status)
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
            fault = (
                self.state.faults.take(method, unquote(raw_path), file_path)
                if (self.state.faults is not None)
                else None
            )
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
            for kw in API_KEYWORDS:
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
        out, cursor = list_page(self.state, repo_type, self.query)
        headers = {}
        if cursor is not None:
            params = [(k, v) for k, vs in self.query.items() if k != "cursor" for v in vs]
            params.append(("cursor", cursor))
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
        store = self.state.store
        candidates = []
        if len(parts) >= 2:
            candidates.append(("/".join(parts[:2]), parts[2:]))
        candidates.append((parts[0], parts[1:]))
        for repo_id, rest in candidates:
            repo = store.repo(repo_type, unquote(repo_id))
            if repo is not None:
                return repo, rest
            extension = self.state.extension
            if repo_type == "model" and extension is not None and extension.count:
                i = extension.index_of(unquote(repo_id))
                if i is not None:
                    return extension.info(i), rest
        shown = "/".join(parts[:2]) if len(parts) > 1 and parts[1] not in API_KEYWORDS else parts[0]
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
        blobs = truthy(self._q("blobs"))
        security = truthy(self._q("securityStatus"))
        d = repo_json(self.state.facts, repo, commit, blobs=blobs, security=security)
        expand = self.query.get("expand", []) + self.query.get("expand[]", [])
        if expand:
            d = {k: v for k, v in d.items() if k in set(expand) | {"_id", "id"}}
        self._send_json(d)

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
            e["securityFileStatus"] = file_security(self.state.facts, commit.files[e["path"]])

    def _tree(self, repo: Repo, revision: str, path: str) -> None:
        commit = self._commit(repo, revision)
        recursive = truthy(self._q("recursive"))
        expand = truthy(self._q("expand"))
        entries = tree_entries(commit, path, recursive)
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
        out = [commit_json(c) for c in page]
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
            paths, expand = as_list(data.get("paths")), bool(data.get("expand"))
        else:
            form = parse_qs(body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = truthy((form.get("expand") or ["false"])[-1])
        out = []
        for p in paths:
            p = p.strip("/")
            if p in commit.files:
                out.append(entry_json(commit.files[p]))
            elif any(f.startswith(p + "/") for f in commit.files):
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": p})
        if expand:
            self._with_last_commit(repo, commit, out)
        self._send_json(out)

    def _refs(self, repo: Repo) -> None:
        self._send_json(refs_json(repo))

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
        repo = self.state.store.repo(repo_type, repo_id)
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
        answer = file_answer(commit, entry, self.headers.get("Range"))
        self._send_headers(answer.status, answer.headers)
        if method == "HEAD" or answer.length == 0:
            return
        fault = self.fault
        limit = answer.length
        if fault and fault.kind == "drop":
            limit = min(limit, fault.after_bytes)
        rate = fault.bytes_per_s if fault and fault.kind == "slow" else None
        with open(self.state.store.blob_path(entry.sha256), "rb") as f:
            send_bytes(self.connection, self.wfile, f, answer.start, limit, rate)
        if limit < answer.length:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

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
