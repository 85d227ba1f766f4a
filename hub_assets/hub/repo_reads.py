"""What the client reads of a repo: its metadata (info, card, config, commits) through the
persistent cache, parsed by huggingface_hub's own types and checked as untrusted input, and a
dataset repo's summary.

A part of `HubClient` (a mixin over its `call`, `get_json`, cache and settings)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from huggingface_hub.errors import (
    GatedRepoError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import DatasetInfo, ModelInfo

from hub_assets.errors import (
    HubUnavailableError,
    InvalidModelIdError,
    ModelNotFoundError,
    OfflineCacheMissError,
    RateLimitedError,
    RepoNotFoundError,
    UnsafeRepoError,
)
from hub_assets.hub.card import split_card
from hub_assets.hub.listing import iso, listing_record
from hub_assets.hub.untrusted import check_sha, check_siblings, check_text
from hub_assets.ids import check_model_id

T = TypeVar("T")
MAX_COMMITS = 1000  # of a revision's history, newest first
MAX_COMMIT_PAGES = 20


@dataclass
class Fetched:
    """A payload and where it came from."""

    data: dict
    from_cache: bool
    fetched_at: str
    offline: bool = False  # the Hub was unreachable, so a cached copy was used
    note: str = ""  # what a user should be told about where this came from


class RepoReads:
    """`HubClient`'s reads of repo metadata."""

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
        except GatedRepoError:
            raise  # there, behind a gate (huggingface_hub's kind of "not found")
        except RepositoryNotFoundError:
            raise RepoNotFoundError(
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

    def dataset_summary(self, dataset_id: str, revision: str = "main") -> Fetched | None:
        """A dataset repo's license, documentation length, data files and the datasets its
        card names as sources (`source_datasets`), at `revision` (a pinned sha is checked);
        None if the Hub has no such dataset (or the id is not a repo id). The card is read
        through the verified reader. Cached like model metadata (a pinned sha for good)."""
        try:
            check_model_id(dataset_id)
        except InvalidModelIdError:
            return None
        pinned = revision != "main"
        if pinned:
            check_sha(revision, "dataset revision")
        return self._through_cache(
            self._cache.path("dataset", dataset_id, revision),
            lambda: self._fetch_dataset_summary(dataset_id, revision),
            never_expires=pinned,
        )

    def _fetch_dataset_summary(self, dataset_id: str, revision: str = "main") -> dict | None:
        url = f"{self.api.endpoint}/api/datasets/{dataset_id}"
        if revision != "main":
            url += f"/revision/{revision}"
        try:
            data, _ = self.get_json(url, {"blobs": "true"})
            info = self._parsed(DatasetInfo, data, "dataset info")
        except RepositoryNotFoundError:
            return None
        sha = check_sha(info.sha, "dataset revision sha")
        if revision != "main" and sha != revision:
            raise UnsafeRepoError(
                f"Asked for dataset {dataset_id} at {revision[:12]}, the Hub answered for "
                f"{sha[:12]}; the answer is refused.",
                field="dataset revision sha",
            )
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
            # names only, as written (bounded); evaluation.contamination validates them
            "source_datasets": [
                d[:200]
                for d in _as_list(card_data.get("source_datasets"))[:100]
                if isinstance(d, str)
            ],
        }


def _as_list(value: object) -> list:
    """A card field that may be one value or a list, as a list."""
    return value if isinstance(value, list) else [value] if value else []


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
