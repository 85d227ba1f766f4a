"""GET requests to an untrusted Hub: redirects only to allowed hosts, a deadline per
request, bodies read only as far as the caller's bound.

huggingface.co answers a file request with a redirect to its CDN; a hostile Hub could
redirect anywhere (a cloud metadata address, another service on the loopback). Redirects
are followed here by hand, at most `MAX_REDIRECTS`, and only to the Hub's own host or, for
huggingface.co, its CDN hosts (`*.huggingface.co`, `*.hf.co`), or a host the configuration
adds (HUB_ASSETS_HUB_REDIRECT_HOSTS). The token is never sent to another host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urljoin, urlsplit

from huggingface_hub import get_session
from huggingface_hub.utils import hf_raise_for_status

from hub_assets.errors import DeadlineExceededError, RedirectRefusedError

MAX_REDIRECTS = 5
# A body slower than this on average is cut off (an endless trickle must end).
MIN_BYTES_PER_S = 64 * 1024
_HF_HOSTS = ("huggingface.co", "hf.co")
_REDIRECTS = (301, 302, 303, 307, 308)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    try:
        port = parts.port or default
    except ValueError:
        port = -1
    return (parts.hostname or "").lower(), port


def allowed_hosts(endpoint: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The places a request to `endpoint` may be redirected to: its own host and port; for
    huggingface.co (or hf.co) every subdomain of both (its CDN) on the default ports; and
    `extra`, as configured (`host`, `host:port`, or `.domain` for its subdomains)."""
    host, port = _host_port(endpoint)
    out = [f"{host}:{port}"]
    if host in _HF_HOSTS or host.endswith(tuple(f".{h}" for h in _HF_HOSTS)):
        out += [*_HF_HOSTS, *(f".{h}" for h in _HF_HOSTS)]
    out += [h.strip().lower() for h in extra if h.strip()]
    return tuple(dict.fromkeys(out))


def host_allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether `url` is http(s) to one of `allowed` (see `allowed_hosts`): an entry with a
    port matches that host and port only; one without, the default ports only."""
    if urlsplit(url).scheme not in ("http", "https"):
        return False
    host, port = _host_port(url)
    if not host or port < 0:
        return False
    for a in allowed:
        if ":" in a:
            if f"{host}:{port}" == a:
                return True
        elif port in (80, 443) and (host == a or (a.startswith(".") and host.endswith(a))):
            return True
    return False


def deadline_for(size: int, timeout_s: float) -> float:
    """Seconds a body of `size` bytes may take: the timeout plus the time at the slowest
    acceptable rate."""
    return timeout_s + size / MIN_BYTES_PER_S


@contextmanager
def open_get(
    url: str,
    headers: dict[str, str],
    *,
    timeout_s: float,
    allowed: Sequence[str],
) -> Iterator[object]:
    """A streamed GET of `url` (an httpx response), with redirects followed only to
    `allowed` hosts and the Authorization header kept to the first host."""
    first_host = (urlsplit(url).hostname or "").lower()
    for _ in range(MAX_REDIRECTS + 1):
        with get_session().stream(
            "GET", url, headers=headers, timeout=timeout_s, follow_redirects=False
        ) as r:
            location = r.headers.get("location") if r.status_code in _REDIRECTS else None
            if location is None:
                yield r
                return
            nxt = urljoin(url, location)
        if not host_allowed(nxt, allowed):
            raise RedirectRefusedError(
                f"The Hub redirected {urlsplit(url).path[:200]!r} to a host it may not send "
                f"us to ({(urlsplit(nxt).hostname or nxt)[:100]!r}); allowed: "
                f"{', '.join(allowed)} (HUB_ASSETS_HUB_REDIRECT_HOSTS adds one)."
            )
        if (urlsplit(nxt).hostname or "").lower() != first_host:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        url = nxt
    raise RedirectRefusedError(f"The Hub redirected more than {MAX_REDIRECTS} times.")


@contextmanager
def checked_get(
    url: str,
    headers: dict[str, str],
    *,
    timeout_s: float,
    allowed: Sequence[str],
    size: int,
    what: str,
) -> Iterator[tuple[object, Deadline]]:
    """`open_get` of a body of about `size` bytes: the response, once its status is not an
    error (an error status is raised as huggingface_hub's error for it), and the deadline
    that body earns (`what` names it in the error), for the read loop to check."""
    deadline = Deadline(deadline_for(size, timeout_s), what)
    with open_get(url, headers, timeout_s=timeout_s, allowed=allowed) as r:
        if r.status_code >= 400:
            r.read()
            hf_raise_for_status(r)
        yield r, deadline


class Deadline:
    """A point in time a loop checks as each chunk arrives."""

    def __init__(self, seconds: float, what: str) -> None:
        self.at = time.monotonic() + seconds
        self.seconds, self.what = seconds, what

    def check(self) -> None:
        """Raise `DeadlineExceededError` once the deadline has passed."""
        if time.monotonic() > self.at:
            raise DeadlineExceededError(
                f"{self.what} took longer than its {self.seconds:.0f} s deadline (at least "
                f"{MIN_BYTES_PER_S // 1024} KiB/s is expected); the connection was dropped."
            )
