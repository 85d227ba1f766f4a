"""How politely the client talks to the Hub: a client-side rate limit, how long to wait
before a retry (what the Hub asks for, else backoff with jitter), and failures in words."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from huggingface_hub.utils import parse_ratelimit_headers

RETRY_STATUSES = (429, 500, 502, 503, 504)


class RateLimiter:
    """At most `per_second` calls a second across threads (0: no limit)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until the next call may go."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            time.sleep(delay)


def retry_delay(status: int, headers: Any, attempt: int, max_wait_s: float) -> float:
    """Seconds before the next try: what the Hub asks for, else backoff; with jitter."""
    info = parse_ratelimit_headers(headers) if status == 429 else None
    if info is not None and info.remaining == 0:
        base = float(info.reset_in_seconds)
    else:
        try:
            base = float(headers.get("Retry-After")) if headers.get("Retry-After") else None
        except ValueError:
            base = None
    if base is None:  # full jitter on exponential backoff
        return min(random.uniform(0.5, 1.0) * min(2**attempt, 30), max_wait_s)
    return min(base * random.uniform(1.0, 1.1), max_wait_s)


def transport_words(error: BaseException) -> str:
    """A transport failure in words (no exception class paths)."""
    text = str(error.__cause__ or error).lower()
    if "refused" in text:
        return "connection refused"
    if "timed out" in text or "timeout" in text:
        return "no answer in time"
    if "closed" in text or "incomplete" in text:
        return "the connection closed early"
    return "connection failed"


def storm_message(endpoint: str, max_retries: int, status: int, headers: Any) -> str:
    """The end of a 429/5xx storm, in words: what the Hub said and what to do."""
    said = f"kept answering {status}"
    info = parse_ratelimit_headers(headers) if status == 429 else None
    if info is not None:
        quota = f"{info.limit} requests per {info.window_seconds} s" if info.limit else "quota"
        said += (
            f" (rate limit '{info.resource_type}': {info.remaining} left of {quota}, "
            f"reset in {info.reset_in_seconds} s)"
        )
    fix = (
        "Lower HUB_ASSETS_HUB_RATE_LIMIT or wait for the window to reset; a token (HF_TOKEN) "
        "has a higher quota."
        if status == 429
        else "The Hub is failing; retry later."
    )
    return f"The Hub at {endpoint} {said} after {max_retries} retries. {fix}"
