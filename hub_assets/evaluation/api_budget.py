"""The inference API's budget: a latency budget per request, a client-side quota, and a
circuit breaker that stops calling when the API rate-limits or keeps missing the budget.

Defaults are the free-tier document's: ≤ 500 ms median and ≤ 800 ms p95 per request,
10 requests a minute and 100 an hour. Each request times out at the p95 budget; a request
past it is a *miss* (never a wrong answer). A 429 opens the breaker for the cool-down or
what the API asked for (`Retry-After`, `RateLimit`), whichever is longer; so do
`breaker_misses` misses or failures in a row. The run has a wall-clock budget: a sample
whose request could not start before it ends is *bypassed*. docs/evaluation.md has the
policy for users.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from huggingface_hub.utils import parse_ratelimit_headers

T = TypeVar("T")


@dataclass(frozen=True)
class ApiBudget:
    """How the inference API may be used by one evaluation. Every bound but the warm-up is a
    setting (HUB_ASSETS_INFERENCE_API_*): its default is written in `settings.py` only, and
    `Pipeline.inference_api` passes it."""

    median_ms: float
    p95_ms: float
    per_minute: int
    per_hour: int
    breaker_misses: int
    cooldown_s: float
    min_coverage: float
    run_budget_s: float
    warmup_s: float = 120.0  # a cold model's first answer may take this long (not a setting)

    @property
    def timeout_s(self) -> float:
        """A request's timeout: the p95 budget."""
        return self.p95_ms / 1000


@dataclass
class Clock:
    """Time as the budget sees it (a test can pass its own)."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class RequestQuota:
    """At most `per_minute` requests in any 60 s and `per_hour` in any 3600 s, and no request
    while the API has asked for a pause."""

    def __init__(self, per_minute: int, per_hour: int, clock: Clock) -> None:
        self.per_minute, self.per_hour, self.clock = per_minute, per_hour, clock
        self.sent: deque[float] = deque()
        self.paused_until = 0.0

    def next_slot(self) -> float:
        """The earliest time the next request may start."""
        at = max(self.clock.now(), self.paused_until)
        for limit, window in ((self.per_minute, 60.0), (self.per_hour, 3600.0)):
            if limit > 0 and len(self.sent) >= limit:
                at = max(at, self.sent[-limit] + window)
        return at

    def record(self, at: float) -> None:
        """A request started at `at`."""
        self.sent.append(at)
        while self.sent and self.sent[0] < at - 3600.0:
            self.sent.popleft()

    def pause(self, seconds: float) -> None:
        """No request for `seconds` from now."""
        self.paused_until = max(self.paused_until, self.clock.now() + seconds)


def requested_pause(headers: Mapping[str, str]) -> float | None:
    """Seconds the API asked the client to wait: `Retry-After` (seconds), or the reset of an
    exhausted `RateLimit` window; None when it asked for nothing."""
    waits = []
    info = parse_ratelimit_headers(headers)
    if info is not None and info.remaining == 0:
        waits.append(float(info.reset_in_seconds))
    retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if retry_after is not None:
        try:
            seconds = float(retry_after)
            if math.isfinite(seconds) and seconds >= 0:
                waits.append(seconds)
        except ValueError:
            pass  # an HTTP date: the cool-down applies
    return max(waits) if waits else None


class Breaker:
    """Opens after `misses` misses or failures in a row, or at once on a 429; stays open for
    the cool-down (or longer when the API asked for a longer pause)."""

    def __init__(self, misses: int, cooldown_s: float, clock: Clock) -> None:
        self.misses, self.cooldown_s, self.clock = misses, cooldown_s, clock
        self.in_a_row = 0
        self.open_until = 0.0
        self.trips = 0
        self.reason = ""

    def success(self) -> None:
        self.in_a_row = 0

    def miss(self, what: str) -> None:
        self.in_a_row += 1
        if self.misses > 0 and self.in_a_row >= self.misses:
            self.trip(f"{self.in_a_row} {what} in a row")

    def trip(self, reason: str, at_least_s: float = 0.0) -> None:
        self.open_until = self.clock.now() + max(self.cooldown_s, at_least_s)
        self.trips += 1
        self.in_a_row = 0
        self.reason = reason


@dataclass
class ApiStats:
    """What one evaluation's API calls did: the figures a run records."""

    requests: int = 0
    answered: int = 0
    misses: int = 0
    rate_limited: int = 0
    errors: int = 0
    bypassed: int = 0
    breaker_trips: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile of the answered requests' latency (nearest rank), in ms."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return round(ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)], 1)

    def summary(self, budget: ApiBudget) -> dict:
        """The run's figures, with whether the latency stayed within the budget."""
        p50, p95 = self.percentile(50), self.percentile(95)
        return {
            "requests": self.requests,
            "answered": self.answered,
            "misses": self.misses,
            "rate_limited": self.rate_limited,
            "errors": self.errors,
            "bypassed": self.bypassed,
            "breaker_trips": self.breaker_trips,
            "p50_ms": p50,
            "p95_ms": p95,
            "budget_median_ms": budget.median_ms,
            "budget_p95_ms": budget.p95_ms,
            "within_budget": p50 is not None
            and p50 <= budget.median_ms
            and p95 is not None
            and p95 <= budget.p95_ms,
        }


@dataclass
class Attempt(Generic[T]):
    """One call's value, or why there is none ("miss: ...", "bypassed: ...", "error: ...")."""

    value: T | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class ApiSession:
    """Runs calls to the API within the budget: waits for the quota and the breaker, times
    each call, classifies what went wrong, and bypasses what cannot start in time."""

    def __init__(self, budget: ApiBudget, clock: Clock | None = None) -> None:
        self.budget, self.clock = budget, clock or Clock()
        self.quota = RequestQuota(budget.per_minute, budget.per_hour, self.clock)
        self.breaker = Breaker(budget.breaker_misses, budget.cooldown_s, self.clock)
        self.stats = ApiStats()
        self.deadline = self.clock.now() + budget.run_budget_s

    def call(self, fn: Callable[[], T], *, warmup: bool = False) -> Attempt[T]:
        """`fn()` as one API request, or the reason it was not answered within the budget.

        A warm-up call (the first, which may wake the model) has the longer warm-up timeout
        and stays out of the latency figures.
        """
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

        start = max(self.quota.next_slot(), self.breaker.open_until)
        if start > self.deadline:
            self.stats.bypassed += 1
            why = (
                f"circuit open ({self.breaker.reason})"
                if self.breaker.open_until >= start
                else "client-side quota exhausted"
            )
            return Attempt(problem=f"bypassed: {why} past the run budget")
        wait = start - self.clock.now()
        if wait > 0:
            self.clock.sleep(wait)
        began = self.clock.now()
        self.quota.record(began)
        self.stats.requests += 1
        limit_s = self.budget.warmup_s if warmup else self.budget.timeout_s
        try:
            value = fn()
        except InferenceTimeoutError:
            return self._miss(f"miss: no answer within {limit_s * 1000:.0f} ms")
        except HfHubHTTPError as e:
            return self._http_error(e)
        except Exception as e:  # noqa: BLE001 - transport failures, an unparseable answer
            self.stats.errors += 1
            self.breaker.miss("failures")
            return Attempt(problem=f"error: {_words(e)}")
        elapsed_ms = (self.clock.now() - began) * 1000
        if elapsed_ms > limit_s * 1000:
            return self._miss(f"miss: answered in {elapsed_ms:.0f} ms, over the budget")
        if not warmup:
            self.stats.latencies_ms.append(elapsed_ms)
        self.stats.answered += 1
        self.breaker.success()
        return Attempt(value)

    def _miss(self, problem: str) -> Attempt:
        self.stats.misses += 1
        self.breaker.miss("budget misses")
        return Attempt(problem=problem)

    def _http_error(self, e: Any) -> Attempt:  # noqa: ANN401 - an HfHubHTTPError
        response = getattr(e, "response", None)
        status = getattr(response, "status_code", 0)
        headers = dict(getattr(response, "headers", {}) or {})
        pause = requested_pause(headers)
        if pause is not None:
            self.quota.pause(pause)
        if status == 429:
            self.stats.rate_limited += 1
            self.breaker.trip("rate limited (429)", pause or 0.0)
            return Attempt(problem="bypassed: rate limited (429)")
        self.stats.errors += 1
        self.breaker.miss("failures")
        message = str(e).splitlines()[0][:200] if str(e) else ""
        return Attempt(problem=f"error: HTTP {status} {message}".rstrip())

    def summary(self) -> dict:
        """The figures of every call so far (see `ApiStats.summary`)."""
        self.stats.breaker_trips = self.breaker.trips
        return self.stats.summary(self.budget)


def _words(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]
