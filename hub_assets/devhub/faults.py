"""Faults the development Hub injects, so the clients' error paths can be tested: in-process
(`HubServer.add_fault`) or over HTTP (`/_hub_assets/faults`, `/_hub_assets/requests`)."""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from hub_assets.errors import HubError


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


@dataclass
class FaultList:
    """The faults of one server, matched in order; also answers the admin routes."""

    requests: Counter
    lock: threading.Lock
    rules: list[FaultRule] = field(default_factory=list)

    def add(self, rule: FaultRule) -> FaultRule:
        """Inject `rule` into matching requests from now on."""
        with self.lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every fault."""
        with self.lock:
            self.rules.clear()

    def take(self, method: str, path: str, file_path: str | None) -> FaultRule | None:
        """The first rule matching this request, its hit counted."""
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path, file_path):
                    rule.hits += 1
                    return rule
        return None

    def admin(self, method: str, raw_path: str, body: bytes) -> tuple[int, Any]:
        """`/_hub_assets/faults` (GET, POST a rule, DELETE all) and `/_hub_assets/requests`
        (GET the counts, DELETE to reset)."""
        if raw_path == "/_hub_assets/faults":
            if method == "POST":
                try:
                    rule = FaultRule(**json.loads(body or b"{}"))
                except (TypeError, ValueError) as e:
                    raise HubError(400, None, f"Bad fault rule: {e}") from e
                return 201, asdict(self.add(rule))
            if method == "DELETE":
                self.clear()
                return 200, {"cleared": True}
            return 200, [asdict(r) for r in self.rules]
        if raw_path == "/_hub_assets/requests":
            if method == "DELETE":
                with self.lock:
                    self.requests.clear()
                return 200, {"cleared": True}
            return 200, dict(self.requests)
        raise HubError(404, None, f"Not found: {raw_path}")
