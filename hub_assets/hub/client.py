"""Hub access for the pipeline: the real `HfApi`, rate-limited, retried, and cached on disk.

Offline-first: metadata fetched once is kept in a persistent cache with a TTL (default 24 h).
Within the TTL no request is made; past it the Hub is asked again; with the Hub unreachable
the cached copy is used, whatever its age, and the caller is told so. A cache miss while
offline is a clear error naming the model.

The token is held by the `HfApi` object only: never logged, printed or cached.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx2
from huggingface_hub import HfApi, get_token, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import ModelInfo
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from hub_assets.errors import (
    DeadlineExceededError,
    HubUnavailableError,
    InvalidModelIdError,
    OversizedMetadataFileError,
    RateLimitedError,
    UnsafeRepoError,
)
from hub_assets.hub.listing import listing_record
from hub_assets.hub.metadata_cache import MetadataCache
from hub_assets.hub.pacing import (
    RETRY_STATUSES,
    RateLimiter,
    retry_delay,
    storm_message,
    transport_words,
)
from hub_assets.hub.repo_reads import RepoReads
from hub_assets.hub.transport import Deadline, allowed_hosts, checked_get, open_get
from hub_assets.hub.untrusted import RepoLimits, check_sha, shown
from hub_assets.hub.weight_headers import WeightHeaderReads
from hub_assets.ids import check_model_id
from hub_assets.settings import default

T = TypeVar("T")
MAX_JSON_BYTES = 64 * 1024**2  # one API answer (a listing page, a repo's info)
MAX_ERROR_BYTES = 64 * 1024  # an error answer's body
JSON_DEADLINE_S = 120.0  # beyond the read timeout, for a whole API answer


@dataclass
class HubSettings:
    """How to reach a Hub. `token` is a secret: it is never logged, printed or stored."""

    endpoint: str
    token: str | None = None  # None: huggingface_hub's own resolution (HF_TOKEN, token file)
    requests_per_second: float = default("hub_rate_limit")
    max_retries: int = default("hub_max_retries")
    offline: bool = False  # HF_HUB_OFFLINE: cache only, no request at all
    max_wait_s: float = 60.0
    cache_dir: Path = default("cache_dir")
    cache_ttl_s: float = default("cache_ttl_hours") * 3600
    timeout_s: float = 30.0
    # wall-clock limit of one pipeline stage's Hub work (None: none); each request has its own
    stage_deadline_s: float | None = None
    limits: RepoLimits = field(default_factory=RepoLimits)  # refused unfetched beyond these
    redirect_hosts: tuple[str, ...] = ()  # hosts a file request may be redirected to, too

    def resolved_token(self) -> str | None:
        """The token, resolved exactly as huggingface_hub does when none is configured:
        HF_TOKEN, then the file `hf auth login` wrote (HF_TOKEN_PATH). Never logged."""
        return self.token or get_token()

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return (
            f"HubSettings(endpoint={self.endpoint!r}, token={'***' if self.token else None}, "
            f"requests_per_second={self.requests_per_second}, cache_dir={str(self.cache_dir)!r}, "
            f"cache_ttl_s={self.cache_ttl_s})"
        )


@dataclass
class HubClient(RepoReads, WeightHeaderReads):
    """The pipeline's way to the Hub (see module docstring)."""

    settings: HubSettings
    # model id → (sha, date) of the last revision the registry knows: where `main` falls
    # back to when the Hub cannot be asked
    known_revision: Callable[[str], tuple[str, str] | None] | None = None
    requests_made: int = 0
    rate_limited: int = 0  # 429 answers seen
    bytes_downloaded: int = 0  # file bytes received (packaging.download counts them)
    refused_listing_entries: list[str] = field(default_factory=list)  # invalid id or sha
    _limiter: RateLimiter = field(init=False, repr=False)
    _cache: MetadataCache = field(init=False, repr=False)
    api: HfApi = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._stage_ends: float | None = None
        self.api = HfApi(endpoint=self.settings.endpoint.rstrip("/"), token=self.token)
        self._limiter = RateLimiter(self.settings.requests_per_second)
        self._cache = MetadataCache(Path(self.settings.cache_dir), self.api.endpoint)

    def begin_stage(self) -> None:
        """Start the per-model stage's deadline (`stage_deadline_s`): no request is made
        past it. Discovery and other whole-Hub work do not call this."""
        if self.settings.stage_deadline_s:
            self._stage_ends = time.monotonic() + self.settings.stage_deadline_s

    @property
    def token(self) -> str | None:
        """The token for every call (huggingface_hub's resolution when none is set)."""
        return self.settings.resolved_token()

    # -- calls with rate limit and retries -----------------------------------------------------
    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the Hub: wait for the rate limit; retry 429/5xx, waiting as the Hub says
        (`RateLimit` headers, then `Retry-After`), else exponential backoff with jitter;
        after the configured retries, a clear `RateLimitedError`. Offline: no call at all."""
        if self.settings.offline:
            raise HubUnavailableError(
                f"Offline mode (HF_HUB_OFFLINE=1): the Hub at {self.settings.endpoint} is not "
                "asked; cached data is used where there is some."
            )
        attempt = 0
        while True:
            if self._stage_ends is not None and time.monotonic() > self._stage_ends:
                limit = self.settings.stage_deadline_s or 0
                raise DeadlineExceededError(
                    f"This stage's Hub work took longer than its {limit:.0f} s deadline "
                    "(HUB_ASSETS_STAGE_DEADLINE_S); nothing more is fetched."
                )
            self._limiter.wait()
            self.requests_made += 1
            try:
                return fn(*args, **kwargs)
            except (
                RepositoryNotFoundError,
                RevisionNotFoundError,
                EntryNotFoundError,
                GatedRepoError,
            ):
                raise
            except OfflineModeIsEnabled as e:
                raise HubUnavailableError(
                    "Offline mode (HF_HUB_OFFLINE=1): the Hub is not asked; cached data is "
                    "used where there is some."
                ) from e
            except HfHubHTTPError as e:
                status = e.response.status_code if e.response is not None else None
                if status not in RETRY_STATUSES:
                    raise
                headers = e.response.headers
                if status == 429:
                    self.rate_limited += 1
                if attempt >= self.settings.max_retries:
                    raise RateLimitedError(
                        storm_message(
                            self.settings.endpoint, self.settings.max_retries, status, headers
                        )
                    ) from None
                time.sleep(retry_delay(status, headers, attempt, self.settings.max_wait_s))
                attempt += 1
            except httpx2.TransportError as e:
                raise HubUnavailableError(
                    f"The Hub at {self.settings.endpoint} is unreachable ({transport_words(e)})."
                    " Check HUB_ASSETS_HUB_ENDPOINT (or HF_ENDPOINT) and the network; cached "
                    "metadata is used where there is some."
                ) from e

    # -- listings ----------------------------------------------------------------------------
    def get_json(self, url: str, params: dict | None = None) -> tuple[Any, dict]:
        """A JSON answer of the Hub's API and its `Link` header's targets (rel → URL):
        rate-limited, retried, within a deadline, redirects to allowed hosts only, and at
        most `MAX_JSON_BYTES` read (an endless or huge answer is refused, never buffered)."""
        if params:
            url = f"{url}?{urlencode(params, doseq=True)}"

        def get() -> tuple[Any, dict]:
            headers = build_hf_headers(token=self.token, library_name="hub-assets")
            deadline = Deadline(self.settings.timeout_s + JSON_DEADLINE_S, "A Hub API answer")
            with open_get(
                url,
                headers,
                timeout_s=self.settings.timeout_s,
                allowed=self.allowed_redirect_hosts(),
            ) as r:
                cap = MAX_ERROR_BYTES if r.status_code >= 400 else MAX_JSON_BYTES
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk[: cap + 1 - len(body)]
                    deadline.check()
                    if len(body) > cap:
                        break
                if r.status_code >= 400:
                    hf_raise_for_status(
                        httpx2.Response(
                            r.status_code, headers=r.headers, content=bytes(body), request=r.request
                        )
                    )
                if len(body) > cap:
                    raise UnsafeRepoError(
                        f"The Hub at {self.settings.endpoint} answered {urlsplit(url).path[:200]!r}"
                        f" with more than {cap // 1024**2} MiB of JSON; refused.",
                        field="answer size",
                    )
                links = {k: v.get("url") for k, v in r.links.items()}
            try:
                return json.loads(body), links
            except (ValueError, RecursionError):
                raise UnsafeRepoError(
                    f"The Hub at {self.settings.endpoint} answered {urlsplit(url).path[:200]!r} "
                    "with something that is not JSON.",
                    field="answer",
                ) from None

        return self.call(get)

    def model_pages(self, pipeline_tag: str, page_size: int = 1000) -> Iterator[list[dict]]:
        """Models of a pipeline tag, newest modification first, one list per Hub page.

        The same request `HfApi.list_models(pipeline_tag=..., sort="last_modified", full=True,
        cardData=True)` makes, paged here so that every page is one rate-limited, retried
        request, a caller can stop after any page, and an unreachable Hub fails at once.
        """
        url: str | None = f"{self.api.endpoint}/api/models"
        params: dict | None = {
            "pipeline_tag": pipeline_tag,
            "sort": "lastModified",
            "full": "true",
            "cardData": "true",
            "limit": page_size,
        }
        while url:
            items, links = self.get_json(url, params)
            if not isinstance(items, list):
                raise UnsafeRepoError(
                    f"The Hub at {self.settings.endpoint} answered a model listing with "
                    f"{type(items).__name__}, not a list.",
                    field="listing",
                )
            yield [rec for item in items if (rec := self._listing_entry(item)) is not None]
            nxt = links.get("next")
            url, params = (nxt, None) if nxt and items else (None, None)

    def _listing_entry(self, item: object) -> dict | None:
        """A listing entry as discovery keeps it, or None (and counted in
        `refused_listing_entries`) when its id or sha cannot be trusted: one hostile entry
        does not stop the scan, and never becomes a partition or a path."""
        try:
            if not isinstance(item, dict):
                raise UnsafeRepoError("not an object", field="listing entry")
            check_model_id(item.get("id") or item.get("modelId"))
            rec = listing_record(ModelInfo(**{"siblings": None, **item}))
            if rec["sha"] is not None:
                check_sha(rec["sha"], "revision sha")
            return rec
        except (UnsafeRepoError, InvalidModelIdError, TypeError, ValueError, KeyError):
            self.refused_listing_entries.append(shown(item, 200))
            return None

    # -- per-model metadata, cached ----------------------------------------------------------

    def file_url(self, repo_id: str, path: str, sha: str, repo_type: str = "model") -> str:
        """The resolve URL of a file of a revision (`path` already validated)."""
        return hf_hub_url(
            repo_id, path, revision=sha, repo_type=repo_type, endpoint=self.api.endpoint
        )

    def read_verified(
        self, repo_id: str, sibling: dict, sha: str, *, repo_type: str = "model"
    ) -> bytes:
        """The whole of a small repo file (a card, a config, an index), read into memory
        through the project's own downloader: at most its advertised size (and never more
        than the metadata-file limit), within a deadline, redirects to allowed hosts only,
        and verified against the listing's blob id or LFS sha256 before anyone reads it.
        Nothing is written to disk and no Hub-chosen string becomes a path."""
        from hub_assets.errors import ChecksumMismatchError
        from hub_assets.hub.verified import expected_digest, hasher_for

        path, size = sibling["path"], int(sibling.get("size") or 0)
        cap = self.settings.limits.max_metadata_file_bytes
        if size > cap:
            raise OversizedMetadataFileError(
                f"{repo_id}@{sha[:12]} advertises {shown(path)} at {size:,} bytes, over the "
                f"{cap:,}-byte limit for files read whole (cards, configs); the repo is refused.",
                field=f"size of {path}",
            )
        expected = expected_digest(sibling)
        if expected is None:
            raise UnsafeRepoError(
                f"{repo_id}@{sha[:12]}: the Hub gave no blob id or LFS sha256 for "
                f"{shown(path)}, so it cannot be verified; the repo is refused.",
                field=f"blob id of {path}",
            )
        url = self.file_url(repo_id, path, sha, repo_type)

        def get() -> bytes:
            headers = build_hf_headers(token=self.token, library_name="hub-assets")
            with checked_get(
                url,
                headers,
                timeout_s=self.settings.timeout_s,
                allowed=self.allowed_redirect_hosts(),
                size=size,
                what=f"Reading {path}",
            ) as (r, deadline):
                out = bytearray()
                for chunk in r.iter_bytes():
                    out += chunk[: size + 1 - len(out)]
                    deadline.check()
                    if len(out) > size:
                        break
                return bytes(out)

        data = self.call(get)
        self.bytes_downloaded += len(data)
        h = hasher_for(sibling)
        h.update(data)
        if len(data) != size or h.hexdigest() != expected:
            raise ChecksumMismatchError(
                f"{shown(path)} of {repo_id}@{sha[:12]} does not match the Hub's listing "
                f"({len(data):,} bytes{'+' if len(data) > size else ''} for {size:,} "
                "advertised, or another hash); nothing was read from it.",
                path=path,
                expected=expected,
                actual=h.hexdigest(),
            )
        return data

    def allowed_redirect_hosts(self) -> tuple[str, ...]:
        """The hosts a file request may be redirected to (see `hub.transport`)."""
        return allowed_hosts(self.settings.endpoint, self.settings.redirect_hosts)
