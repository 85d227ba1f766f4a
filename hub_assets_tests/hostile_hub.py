"""A hostile Hub for tests: the Hub's HTTP API as a compromised mirror or proxy would serve it.

Written for the protocol (what `huggingface_hub` asks and parses), not from any real
server: each repo is a set of files plus the lies told about them. A repo's `faults` bend
what the server says (its sha, file names, sizes, blob ids, listings) and how it sends
bytes (endless or trickling bodies, bytes swapped after the first read, off-host
redirects, Range ignored). `fix(repo_id)` removes every fault, so a test can show that a
retry after the fault is gone completes. Every request is counted.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


def git_blob_id(data: bytes) -> str:
    """The git blob sha1 of `data` (what the Hub lists as a small file's blobId)."""
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pkl", ".npy", ".npz", ".joblib")


@dataclass
class HostileRepo:
    """One repo: its honest files, and the faults that make the server lie about them."""

    repo_id: str
    files: dict[str, bytes]
    card: dict = field(default_factory=lambda: {"license": "mit"})
    pipeline_tag: str = "feature-extraction"
    # what the server lies about or how it misbehaves (cleared by `HostileHub.fix`):
    #   sha: str                      the revision sha it sends
    #   siblings: list[dict]          extra sibling entries (rfilename, size, blobId, lfs)
    #   sibling_fields: {path: dict}  fields replaced in one file's sibling entry
    #   sibling_count: int            claim this many more (tiny) files
    #   bodies: {path: kind}          "endless", "trickle", "swap", "ignore-range"
    #   redirect: {path: url}         answer the file with a 302 to `url`
    #   etag: {path: str}             the ETag header sent for a file
    #   commits: list[dict]           commits sent instead of the honest one
    #   info: "endless"               the repo's info answer never ends
    #   commit_pages: "forever"       every commits page links to a next one
    faults: dict[str, Any] = field(default_factory=dict)
    reads: Counter = field(default_factory=Counter)

    @property
    def sha(self) -> str:
        """The honest revision sha: a hash of every file."""
        h = hashlib.sha1()
        for path in sorted(self.files):
            h.update(path.encode() + b"\0" + hashlib.sha256(self.files[path]).digest())
        return h.hexdigest()

    def sibling(self, path: str) -> dict:
        data = self.files[path]
        entry: dict[str, Any] = {"rfilename": path, "size": len(data), "blobId": git_blob_id(data)}
        if path.endswith(LFS_SUFFIXES):
            entry["lfs"] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "pointerSize": 134,
            }
        entry.update(self.faults.get("sibling_fields", {}).get(path, {}))
        return entry

    def info(self) -> dict:
        siblings = [self.sibling(p) for p in sorted(self.files)]
        siblings += self.faults.get("siblings", [])
        for i in range(self.faults.get("sibling_count", 0)):
            siblings.append({"rfilename": f"shard-{i:06d}.txt", "size": 1, "blobId": "0" * 40})
        return {
            "_id": hashlib.md5(self.repo_id.encode()).hexdigest()[:24],
            "id": self.repo_id,
            "modelId": self.repo_id,
            "author": self.repo_id.split("/")[0],
            "sha": self.faults.get("sha", self.sha),
            "lastModified": "2026-11-01T00:00:00.000Z",
            "createdAt": "2026-10-01T00:00:00.000Z",
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 100,
            "likes": 10,
            "library_name": "transformers",
            "pipeline_tag": self.pipeline_tag,
            "tags": ["transformers", "safetensors", f"license:{self.card.get('license')}"],
            "cardData": self.card,
            "siblings": siblings,
        }

    def body(self, path: str) -> bytes:
        """The bytes served for `path`: honest, or the swapped ones after the first read."""
        self.reads[path] += 1
        data = self.files[path]
        if self.faults.get("bodies", {}).get(path) == "swap" and self.reads[path] > 1:
            swapped = self.faults.get("swapped", {}).get(path)
            return swapped if swapped is not None else data[::-1]
        return data


class HostileHub:
    """The hostile Hub on a free loopback port (see module docstring)."""

    def __init__(self) -> None:
        self.repos: dict[str, HostileRepo] = {}
        self.requests: Counter = Counter()
        self.listing_faults: dict[str, Any] = {}
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's name
                hub._serve(self, head=True)

            def do_GET(self) -> None:  # noqa: N802
                hub._serve(self, head=False)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HostileHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, repo: HostileRepo) -> HostileRepo:
        """Serve `repo` (replacing one of the same id)."""
        self.repos[repo.repo_id] = repo
        return repo

    def fix(self, repo_id: str) -> HostileRepo:
        """Remove every fault of a repo: the Hub tells the truth again."""
        repo = self.repos[repo_id]
        repo.faults = {}
        repo.reads.clear()
        return repo

    # -- answers ---------------------------------------------------------------------------
    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _json(self, h: BaseHTTPRequestHandler, obj: object, status: int = 200) -> None:
        self._send(h, status, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def _error(self, h: BaseHTTPRequestHandler, status: int, code: str) -> None:
        body = json.dumps({"error": code}).encode()
        self._send(h, status, body, {"Content-Type": "application/json", "X-Error-Code": code})

    def _serve(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        try:
            if path == "/api/models":
                self.requests["GET listing"] += 1
                return self._listing(h)
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
            if m and m.group(1) in self.repos:
                self.requests[f"GET info {m.group(1)}"] += 1
                if self.repos[m.group(1)].faults.get("info") == "endless":
                    return self._stream_forever(
                        h, {}, b'{"id": "x", "padding": "' + b"a" * 4096, False
                    )
                return self._json(h, self.repos[m.group(1)].info())
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/commits/([^/]+)", path)
            if m and m.group(1) in self.repos:
                repo = self.repos[m.group(1)]
                commits = repo.faults.get("commits") or [
                    {
                        "id": repo.faults.get("sha", repo.sha),
                        "title": "upload",
                        "message": "",
                        "authors": [{"user": "eve"}],
                        "date": "2026-11-01T00:00:00.000Z",
                    }
                ]
                self.requests[f"GET commits {repo.repo_id}"] += 1
                if repo.faults.get("commit_pages") == "forever":
                    page = self.requests[f"GET commits {repo.repo_id}"]
                    nxt = f"{self.url}{urlsplit(h.path).path}?p={page}"
                    body = json.dumps(commits).encode()
                    headers = {"Content-Type": "application/json", "Link": f'<{nxt}>; rel="next"'}
                    return self._send(h, 200, body, headers)
                return self._json(h, commits)
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m and m.group(1) in self.repos and m.group(3) in self.repos[m.group(1)].files:
                return self._file(h, self.repos[m.group(1)], m.group(3), head)
            if m and m.group(1) in self.repos:
                return self._error(h, 404, "EntryNotFound")
            return self._error(h, 404, "RepoNotFound")
        except (BrokenPipeError, ConnectionResetError):
            return None

    def _listing(self, h: BaseHTTPRequestHandler) -> None:
        entries = [
            {k: v for k, v in r.info().items() if k != "siblings"} for r in self.repos.values()
        ]
        entries += self.listing_faults.get("entries", [])
        self._json(h, entries)

    def _file(self, h: BaseHTTPRequestHandler, repo: HostileRepo, path: str, head: bool) -> None:
        self.requests[f"GET file {repo.repo_id}:{path}"] += 0 if head else 1
        redirect = repo.faults.get("redirect", {}).get(path)
        if redirect:
            return self._send(h, 302, b"", {"Location": redirect})
        kind = repo.faults.get("bodies", {}).get(path)
        data = repo.body(path) if not head else repo.files[path]
        headers = {
            "X-Repo-Commit": repo.faults.get("sha", repo.sha),
            "ETag": f'"{repo.faults.get("etag", {}).get(path, git_blob_id(data))}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if kind in ("endless", "trickle") and not head:
            return self._stream_forever(h, headers, data, trickle=kind == "trickle")
        rng = h.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m and kind != "ignore-range" and not head:
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            part = data[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
            return self._send(h, 206, part, headers)
        if kind == "ignore-range" and m and not head:  # the whole file, then more, forever
            return self._stream_forever(h, headers, data, trickle=False)
        self._send(h, 200, data if not head else b"", {**headers} if not head else headers)

    def _stream_forever(
        self, h: BaseHTTPRequestHandler, headers: dict, data: bytes, trickle: bool
    ) -> None:
        """A chunked body that never ends (the client must cut it off), or one byte every
        few hundred milliseconds (the client's deadline must)."""
        h.send_response(200)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = (data or b"x") * max(1, 65536 // max(1, len(data)))
        deadline = time.monotonic() + 120  # bounded, whatever the client does
        try:
            while time.monotonic() < deadline:
                piece = chunk[:1] if trickle else chunk
                h.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                h.wfile.flush()
                if trickle:
                    time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return
