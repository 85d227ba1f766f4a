"""One request and its answer as the Hub protocol sees them, whatever server carries them:
`ProtocolRequest`, `ProtocolResponse`, the Hub's JSON and error answers, and the hooks
(faults, extra routes) a server may plug in. `routing.py` turns the one into the other."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs, quote, unquote

from hub_assets.errors import HubError
from hub_assets.hub_protocol.repos import FileEntry, Repo

API_KEYWORDS = ("revision", "tree", "commits", "paths-info", "refs", "auth-check")
# Printable ASCII goes into X-Error-Message as is; anything else is percent-encoded.
HEADER_SAFE = string.punctuation + " "


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


class ExtraRoutes(Protocol):
    """Routes a server adds beside the Hub API (the development Hub's inference routes)."""

    def answer(
        self, req: ProtocolRequest, readable: Callable[[str, str], Repo]
    ) -> ProtocolResponse | None:
        """The answer, or None when the request is not one of these routes. `readable(type,
        id)` is the repo as the caller may see it (raises the Hub's 404/401/403)."""
        ...


@dataclass(frozen=True)
class ProtocolRequest:
    """One HTTP request as the protocol sees it, whatever server carried it."""

    method: str
    path: str  # percent-encoded, relative to where the protocol is mounted
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes
    base_url: str  # scheme://host[/mount], for the Link headers of paged answers
    stream: BinaryIO | None = None  # an upload's body, when it is not read into `body`

    @classmethod
    def parse(
        cls,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        base_url: str,
        stream: BinaryIO | None = None,
    ) -> ProtocolRequest:
        """A request from its method, `path?query` target, headers and body."""
        path, _, query = target.partition("?")
        return cls(
            method=method,
            path=path,
            query=parse_qs(query, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            base_url=base_url.rstrip("/"),
            stream=stream,
        )

    def q(self, name: str, default: str | None = None) -> str | None:
        """The last value of a query parameter."""
        v = self.query.get(name)
        return v[-1] if v else default

    def file_path(self) -> str | None:
        """The repo file a `resolve` URL names, or None for any other route."""
        if "/resolve/" not in self.path or self.path.startswith("/api/"):
            return None
        _, _, rest = self.path.partition("/resolve/")
        return unquote(rest.partition("/")[2])


@dataclass
class Served:
    """What an answer was about, for the access log: who asked, for which repo and
    revision (as asked, and the commit it resolved to)."""

    caller: str | None = None  # None: anonymous
    repo_type: str | None = None
    repo_id: str | None = None
    revision: str | None = None
    sha: str | None = None


@dataclass
class ProtocolResponse:
    """Status, headers and a body: bytes, or a span of one file of the store."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    entry: FileEntry | None = None  # stream [start, start + length) of this file's bytes
    start: int = 0
    length: int = 0
    refusal: str | None = None  # an error answer's reason (`refusal_of`)
    served: Served = field(default_factory=Served)


@dataclass(frozen=True)
class AccessRecord:
    """One request as the access log keeps it."""

    at: float  # seconds since the epoch, when the answer went out
    caller: str | None
    method: str
    route: str
    repo_id: str | None
    revision: str | None  # as asked: `main`, a tag or a sha
    sha: str | None  # the commit served
    path: str | None  # the file, for a download
    status: int
    bytes: int  # body bytes sent
    refusal: str | None
    client: str | None


class AccessLog(Protocol):
    """Where a server sends one `AccessRecord` per request (it must not block)."""

    def record(self, rec: AccessRecord) -> None:
        """Keep `rec` (queued: written later, off the request's path)."""
        ...

    def close(self) -> None:
        """Write what is queued and stop."""
        ...


def refusal_of(e: HubError) -> str:
    """Why a request was refused, as one word: the error's own reason, else what its
    status and the Hub's error code say."""
    if e.reason:
        return e.reason
    if e.status == 401:
        return "unauthenticated"
    if e.code in _REFUSAL_BY_CODE:
        return _REFUSAL_BY_CODE[e.code]
    if e.status >= 500:
        return "server_error"
    return {403: "forbidden", 404: "not_found", 413: "too_large", 416: "bad_range"}.get(
        e.status, "bad_request"
    )


_REFUSAL_BY_CODE = {
    "GatedRepo": "gated",
    "RepoNotFound": "repo_not_found",
    "RevisionNotFound": "revision_not_found",
    "EntryNotFound": "entry_not_found",
}


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> ProtocolResponse:
    """A JSON answer."""
    payload = json.dumps(data).encode()
    h = {"Content-Type": "application/json; charset=utf-8", "Content-Length": str(len(payload))}
    h.update(headers or {})
    return ProtocolResponse(status, h, payload)


def error_response(e: HubError) -> ProtocolResponse:
    """The Hub's error answer: JSON `{"error"}`, `X-Error-Code` and `X-Error-Message`."""
    headers = dict(e.headers)
    if e.code:
        headers["X-Error-Code"] = e.code
    headers["X-Error-Message"] = quote(e.message, safe=HEADER_SAFE)
    response = json_response({"error": e.message, **e.extra}, status=e.status, headers=headers)
    response.refusal = refusal_of(e)
    return response


def route_name(path: str) -> str:
    """The route a path belongs to, for request counts (`/api/models/{id}/tree`...)."""
    if path.startswith("/api/"):
        parts = path.split("/")
        for kw in API_KEYWORDS:
            if kw in parts[3:6]:
                return f"/api/{parts[2]}/{{id}}/{kw}"
        return f"/api/{parts[2]}" if len(parts) <= 3 else f"/api/{parts[2]}/{{id}}"
    if re.match(r"^/(?:[a-z0-9-]+/)?models/", path):
        return "inference"
    # anything else is one key: a scanner probing random paths must not grow the counts
    return "resolve" if "/resolve/" in path else "other"
