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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

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
from huggingface_hub.hf_api import DatasetInfo, ModelInfo
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

from hub_assets.errors import (
    DeadlineExceededError,
    HubUnavailableError,
    InvalidModelIdError,
    MalformedGgufError,
    ModelNotFoundError,
    OfflineCacheMissError,
    OversizedMetadataFileError,
    RateLimitedError,
    UnsafeRepoError,
)
from hub_assets.hub.card import split_card
from hub_assets.hub.gguf_header import gguf_summary, read_gguf_header
from hub_assets.hub.listing import iso, listing_record
from hub_assets.hub.metadata_cache import MetadataCache
from hub_assets.hub.pacing import (
    RETRY_STATUSES,
    RateLimiter,
    retry_delay,
    storm_message,
    transport_words,
)
from hub_assets.hub.transport import Deadline, allowed_hosts, deadline_for, open_get
from hub_assets.hub.untrusted import RepoLimits, check_sha, check_siblings, check_text, shown
from hub_assets.ids import check_model_id
from hub_assets.settings import default

T = TypeVar("T")
MAX_GGUF_FILES = 16  # headers read per revision (a repo of quantisations has a dozen)
MAX_SAFETENSORS_FILES = 64  # unindexed safetensors files read one by one
MAX_JSON_BYTES = 64 * 1024**2  # one API answer (a listing page, a repo's info)
MAX_ERROR_BYTES = 64 * 1024  # an error answer's body
JSON_DEADLINE_S = 120.0  # beyond the read timeout, for a whole API answer
MAX_COMMITS = 1000  # of a revision's history, newest first
MAX_COMMIT_PAGES = 20


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
class Fetched:
    """A payload and where it came from."""

    data: dict
    from_cache: bool
    fetched_at: str
    offline: bool = False  # the Hub was unreachable, so a cached copy was used
    note: str = ""  # what a user should be told about where this came from


@dataclass
class HubClient:
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
    def model_metadata(
        self, model_id: str, revision: str | None = None, *, fresh: bool = False
    ) -> Fetched:
        """Model info with file metadata, card (YAML and text), commits and config.json.

        Served from the cache within the TTL (a pinned sha never expires); refetched past it
        (or now, with `fresh`: `main` re-resolved); from the cache whatever its age when the
        Hub is unreachable.
        """
        check_model_id(model_id)
        pinned = revision is not None and len(revision) == 40
        miss = (
            f"No cached metadata for model {model_id!r}, and the Hub at "
            f"{self.settings.endpoint} "
            + ("is not asked (HF_HUB_OFFLINE=1)" if self.settings.offline else "is unreachable")
            + ". Run once with the Hub reachable to fill the cache."
        )
        try:
            got = self._through_cache(
                self._cache.path("metadata", model_id, revision or "main"),
                lambda: self._fetch_metadata(model_id, revision),
                never_expires=pinned,
                miss_message=miss,
                fresh=fresh and not pinned,
            )
        except OfflineCacheMissError:
            known = self.known_revision(model_id) if self.known_revision else None
            if revision not in (None, "main") or known is None:
                raise
            cached = self._cache.read(self._cache.path("metadata", model_id, known[0]))
            if cached is None:
                raise
            return Fetched(
                cached[0],
                True,
                _ts(cached[1]),
                offline=True,
                note=f"offline: using cached revision {known[0][:7]} from {known[1][:10]}",
            )
        if revision is None and not got.from_cache and got.data["info"]["sha"]:
            self._cache.write(
                self._cache.path("metadata", model_id, got.data["info"]["sha"]), got.data
            )
        return got

    def _through_cache(
        self,
        path: Path,
        fetch: Callable[[], dict | None],
        *,
        never_expires: bool = False,
        miss_message: str | None = None,
        fresh: bool = False,
    ) -> Fetched | None:
        """The cached payload within the TTL (unless `fresh`); else fetch it (None: nothing
        to cache) and cache it; with the Hub unreachable, the cached payload whatever its
        age."""
        cached = self._cache.read(path)
        within_ttl = cached and time.time() - cached[1] < self.settings.cache_ttl_s
        if cached and (never_expires or (within_ttl and not fresh)):
            return Fetched(cached[0], True, _ts(cached[1]))
        try:
            data = fetch()
        except HubUnavailableError as e:
            if cached:
                return Fetched(cached[0], True, _ts(cached[1]), offline=True)
            if isinstance(e, RateLimitedError):
                raise  # the Hub answered: it is no cache miss, and it says what to do
            if miss_message:
                raise OfflineCacheMissError(miss_message) from e
            raise
        if data is None:
            return None
        return Fetched(data, False, _ts(self._cache.write(path, data)))

    def _fetch_metadata(self, model_id: str, revision: str | None) -> dict:
        url = f"{self.api.endpoint}/api/models/{model_id}" + (
            f"/revision/{quote(revision, safe='')}" if revision else ""
        )
        try:
            data, _ = self.get_json(url, {"blobs": "true", "securityStatus": "true"})
            info = self._parsed(ModelInfo, data, "model info")
        except RepositoryNotFoundError:
            raise ModelNotFoundError(
                f"Model {model_id!r} not found on the Hub at {self.settings.endpoint}. "
                "Check the id (org/name) and that the repo is public or your token can see it."
            ) from None
        except RevisionNotFoundError:
            raise ModelNotFoundError(
                f"Model {model_id!r} has no revision {revision!r} on the Hub."
            ) from None
        sha = check_sha(info.sha, "revision sha")
        if revision is not None and len(revision) == 40 and sha != revision:
            raise UnsafeRepoError(
                f"Asked for {model_id} at {revision[:12]}, the Hub answered with revision "
                f"{sha[:12]}; the repo is refused.",
                field="revision sha",
            )
        siblings = self._siblings(info, f"{model_id}@{sha[:12]}")
        files = {s["path"]: s for s in siblings}
        card_data, card_text = {}, ""
        if "README.md" in files:
            card_data, card_text = split_card(self._read_text(model_id, files["README.md"], sha))
        config = None
        if "config.json" in files:
            try:
                config = json.loads(self._read_text(model_id, files["config.json"], sha))
            except (ValueError, RecursionError, GatedRepoError):
                config = None
            config = config if isinstance(config, dict) else None
        commits = self._commits(f"{self.api.endpoint}/api/models/{model_id}/commits/{sha}")
        record = listing_record(info)
        record["license"] = record["license"] or (card_data.get("license") if card_data else None)
        return {
            "info": {
                **record,
                "siblings": siblings,
                "safetensors": (
                    {"total": info.safetensors.total, "parameters": info.safetensors.parameters}
                    if info.safetensors
                    else None
                ),
                "security_repo_status": info.security_repo_status,
                "used_storage": info.used_storage,
            },
            "card_data": card_data,
            "card_text": card_text,
            "commits": commits,
            "config": config,
        }

    def _siblings(self, info: ModelInfo | DatasetInfo, repo: str) -> list[dict]:
        """A revision's file list as the pipeline keeps it, every entry checked and the
        repo held to the configured limits (`untrusted.check_siblings`)."""
        return check_siblings(
            (
                {
                    "path": s.rfilename,
                    "size": s.size,
                    "blob_id": s.blob_id,
                    "lfs_sha256": s.lfs.sha256 if s.lfs else None,
                }
                for s in info.siblings or []
            ),
            self.settings.limits,
            repo,
        )

    def _parsed(self, cls: type[T], data: object, what: str) -> T:
        """`cls(**data)` of a Hub answer, or `UnsafeRepoError` when its shape is wrong."""
        try:
            if not isinstance(data, dict):
                raise TypeError(type(data).__name__)
            return cls(**data)
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise UnsafeRepoError(
                f"The Hub at {self.settings.endpoint} sent a {what} of the wrong shape "
                f"({str(e)[:100]}); refused.",
                field=what,
            ) from None

    def _commits(self, url: str) -> list[dict]:
        """A revision's commits, newest first: at most `MAX_COMMIT_PAGES` pages and
        `MAX_COMMITS` commits (a Hub that paginates forever is cut off), each id checked,
        titles and authors made safe to show."""
        out: list[dict] = []
        pages = 0
        next_url: str | None = url
        while next_url and pages < MAX_COMMIT_PAGES and len(out) < MAX_COMMITS:
            items, links = self.get_json(next_url)
            pages += 1
            if not isinstance(items, list):
                raise UnsafeRepoError("The Hub sent commits that are not a list.", field="commits")
            for c in items[: MAX_COMMITS - len(out)]:
                if not isinstance(c, dict):
                    raise UnsafeRepoError(
                        "The Hub sent a commit that is not an object.", field="commit"
                    )
                authors = c.get("authors") if isinstance(c.get("authors"), list) else []
                out.append(
                    {
                        "id": check_sha(c.get("id"), "commit id"),
                        "title": check_text(c.get("title"), "commit title", 300),
                        "authors": [
                            check_text(a.get("user") if isinstance(a, dict) else a, "author", 100)
                            for a in authors[:50]
                        ],
                        "date": _commit_date(c.get("date")),
                    }
                )
            next_url = links.get("next") if items else None
        return out

    def _read_text(self, model_id: str, sibling: dict, sha: str, repo_type: str = "model") -> str:
        try:
            raw = self.read_verified(model_id, sibling, sha, repo_type=repo_type)
        except GatedRepoError:
            if sibling["path"] == "README.md":
                return ""  # a gated repo's card needs access; its YAML is in the info
            raise
        return raw.decode("utf-8", errors="replace")

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
            deadline = Deadline(deadline_for(size, self.settings.timeout_s), f"Reading {path}")
            with open_get(
                url,
                headers,
                timeout_s=self.settings.timeout_s,
                allowed=self.allowed_redirect_hosts(),
            ) as r:
                if r.status_code >= 400:
                    r.read()
                    hf_raise_for_status(r)
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

    def weight_headers(self, model_id: str, sha: str) -> Fetched:
        """The headers of a revision's weight files, read with bounded range requests (no
        weights downloaded): safetensors parameter counts by dtype (sharded repos through
        their index, read verified) and each GGUF file's header summary. A header that
        cannot be parsed is recorded as an `error`, not raised. Cached by sha (headers of a
        commit never change)."""
        check_model_id(model_id)
        check_sha(sha, "revision sha")
        return self._through_cache(
            self._cache.path("headers", model_id, sha),
            lambda: self._fetch_weight_headers(model_id, sha),
            never_expires=True,
            miss_message=(
                f"No cached weight headers for model {model_id!r} at {sha[:7]}, and the Hub "
                f"at {self.settings.endpoint} cannot be asked."
            ),
        )

    def _fetch_weight_headers(self, model_id: str, sha: str) -> dict:
        from hub_assets.errors import MalformedWeightsError
        from hub_assets.hub.inspection import safetensors_header

        siblings = self.model_metadata(model_id, sha).data["info"].get("siblings") or []
        by_path = {s["path"]: s for s in siblings}
        sizes = {p: int(s.get("size") or 0) for p, s in by_path.items()}
        # every weight file's header, checked with bounds: "ok", or why it is malformed
        out: dict[str, Any] = {"safetensors": None, "gguf": {}, "checks": {}}
        tensors = sorted(p for p in sizes if p.lower().endswith(".safetensors"))
        ggufs = sorted(p for p in sizes if p.lower().endswith(".gguf"))
        for path in tensors[MAX_SAFETENSORS_FILES:] + ggufs[MAX_GGUF_FILES:]:
            out["checks"][path] = "not checked: too many weight files in one repo"
        counts: dict[str, dict[str, int]] = {}
        for path in tensors[:MAX_SAFETENSORS_FILES]:
            try:
                header = safetensors_header(self._range_reader(model_id, path, sha), sizes[path])
                counts[path] = header.parameter_count
                out["checks"][path] = "ok"
            except MalformedWeightsError as e:
                out["checks"][path] = str(e)
        if tensors:
            out["safetensors"] = self._footprint_files(model_id, sha, by_path, counts)
        for path in ggufs[:MAX_GGUF_FILES]:
            try:
                header = read_gguf_header(self._range_reader(model_id, path, sha), sizes[path])
                out["gguf"][path] = gguf_summary(header)
                out["checks"][path] = "ok"
            except MalformedGgufError as e:
                out["gguf"][path] = {"error": str(e)}
                out["checks"][path] = str(e)
        return out

    def _footprint_files(
        self, model_id: str, sha: str, by_path: dict[str, dict], counts: dict[str, dict]
    ) -> dict:
        """Parameter counts of the files a loader reads: a sharded repo's index names its
        shards (read verified); else every safetensors file."""
        files = sorted(counts)
        index = next((p for p in by_path if p.endswith(".safetensors.index.json")), None)
        if index is not None:
            try:
                weight_map = json.loads(self.read_verified(model_id, by_path[index], sha))
                shards = sorted(set((weight_map.get("weight_map") or {}).values()))
            except (ValueError, AttributeError, TypeError):
                return {"error": f"{index}: not a safetensors index"}
            if shards and all(isinstance(s, str) and s in by_path for s in shards):
                files = shards
        bad = next((p for p in files if p not in counts), None)
        if bad is not None:
            return {"error": f"{bad}: header not readable"}
        total: dict[str, int] = {}
        for path in files:
            for dtype, n in counts[path].items():
                total[dtype] = total.get(dtype, 0) + n
        return {"parameter_count": total, "files": files}

    def _range_reader(self, model_id: str, filename: str, sha: str) -> Callable[[int, int], bytes]:
        return lambda offset, length: self.read_range(model_id, filename, sha, offset, length)

    def read_range(self, model_id: str, filename: str, sha: str, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) of a file at `sha`, by one HTTP range request
        (rate-limited, retried, within a deadline, redirects to allowed hosts only). A
        server that ignores the range is read only as far as needed and the connection
        dropped: a file is never fetched whole this way."""
        url = self.file_url(model_id, filename, sha)

        def get() -> bytes:
            headers = build_hf_headers(token=self.token, library_name="hub-assets")
            headers["Range"] = f"bytes={offset}-{offset + length - 1}"
            skip_total = offset
            deadline = Deadline(
                deadline_for(length + offset, self.settings.timeout_s), f"Reading {filename}"
            )
            with open_get(
                url,
                headers,
                timeout_s=self.settings.timeout_s,
                allowed=self.allowed_redirect_hosts(),
            ) as r:
                if r.status_code >= 400:
                    r.read()
                    hf_raise_for_status(r)
                skip = skip_total if r.status_code == 200 else 0  # the range was ignored
                out = bytearray()
                for chunk in r.iter_bytes():
                    deadline.check()
                    if skip >= len(chunk):
                        skip -= len(chunk)
                        continue
                    out += chunk[skip : skip + length - len(out)]
                    skip = 0
                    if len(out) >= length:
                        break
                return bytes(out)

        return self.call(get)

    def dataset_summary(self, dataset_id: str) -> Fetched | None:
        """A dataset repo's license, documentation length and data files; None if the Hub has
        no such dataset (or the id is not a repo id). Cached like model metadata."""
        try:
            check_model_id(dataset_id)
        except InvalidModelIdError:
            return None
        return self._through_cache(
            self._cache.path("dataset", dataset_id, "main"),
            lambda: self._fetch_dataset_summary(dataset_id),
        )

    def _fetch_dataset_summary(self, dataset_id: str) -> dict | None:
        try:
            data, _ = self.get_json(
                f"{self.api.endpoint}/api/datasets/{dataset_id}", {"blobs": "true"}
            )
            info = self._parsed(DatasetInfo, data, "dataset info")
        except RepositoryNotFoundError:
            return None
        sha = check_sha(info.sha, "dataset revision sha")
        siblings = self._siblings(info, f"dataset {dataset_id}@{sha[:12]}")
        card_data, text = {}, ""
        readme = next((s for s in siblings if s["path"] == "README.md"), None)
        if readme is not None:
            card_data, text = split_card(
                self._read_text(dataset_id, readme, sha, repo_type="dataset")
            )
        return {
            "dataset_id": dataset_id,
            "sha": sha,
            "license": card_data.get("license"),
            "prose_length": len(text.strip()),
            "data_files": sum(
                1
                for s in siblings
                if s["path"].endswith((".parquet", ".csv", ".json", ".jsonl", ".arrow", ".txt"))
            ),
            "downloads": info.downloads or 0,
        }


def _commit_date(value: object) -> str | None:
    """A commit's date as UTC ISO text, or None when the Hub sent none that parses."""
    if not isinstance(value, str):
        return None
    try:
        return iso(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
