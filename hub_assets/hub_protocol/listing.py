"""Listing `/api/models` and `/api/datasets`: filters, sort, cursor pages, and listing-only
models merged in sort order."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from hub_assets.errors import HubError
from hub_assets.hub_protocol.repos import ListingExtension, RepoStore
from hub_assets.hub_protocol.shapes import (
    BlobFacts,
    decode_cursor,
    encode_cursor,
    listing_fields,
    repo_json,
    truthy,
)


class ListingSource(Protocol):
    """What a listing reads of the protocol's state (`routing.ProtocolState` has it)."""

    store: RepoStore
    facts: BlobFacts
    extension: ListingExtension | None


PAGE_SIZE = 1000
SORT_KEYS = {
    "downloads": "downloads",
    "likes": "likes",
    "lastModified": "lastModified",
    "last_modified": "lastModified",
    "createdAt": "createdAt",
    "created_at": "createdAt",
    "trendingScore": "trendingScore",
    "trending_score": "trendingScore",
    "id": "id",
}


_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def parameter_bounds(text: str | None) -> tuple[float, float] | None:
    """`num_parameters=min:6B,max:128B` as (min, max) parameter counts; 400 when malformed."""
    if not text:
        return None
    low, high = 0.0, float("inf")
    for part in text.split(","):
        m = re.fullmatch(r"\s*(min|max):\s*(\d+(?:\.\d+)?)\s*([KMBT]?)\s*", part, re.I)
        if not m:
            raise HubError(
                400,
                None,
                f"Invalid num_parameters {text!r}: expected e.g. 'min:0.5B,max:7B' "
                "(units K, M, B, T).",
            )
        value = float(m.group(2)) * _UNITS[m.group(3).upper()]
        if m.group(1).lower() == "min":
            low = value
        else:
            high = value
    return low, high


def list_page(
    state: ListingSource,
    repo_type: str,
    query: Mapping[str, list[str]],
    with_private: bool = False,
) -> tuple[list[dict], str | None]:
    """One page of `/api/{type}s`: the store's repos (and the listing extension's models)
    filtered, sorted and cut at `limit`; with the cursor of the next page, if any."""
    q = query

    def one(name: str) -> str | None:
        v = q.get(name)
        return v[-1] if v else None

    filters = [f for v in q.get("filter", []) for f in v.split(",") if f]
    author = one("author")
    search = (one("search") or "").lower()
    pipeline = one("pipeline_tag")
    gated = one("gated")
    bounds = parameter_bounds(one("num_parameters"))
    sort = SORT_KEYS.get(one("sort") or "", None)
    direction = one("direction")
    descending = sort is not None and direction not in ("1", "asc")
    if sort is None:
        sort, descending = "id", False
    try:
        limit = min(int(one("limit") or PAGE_SIZE), PAGE_SIZE)
    except ValueError as e:
        raise HubError(400, None, "limit must be an integer") from e
    is_full = truthy(one("full"))
    card_data = truthy(one("cardData"))
    expand = q.get("expand", []) + q.get("expand[]", [])
    cursor = decode_cursor(one("cursor")) if one("cursor") else {"r": 0, "s": 0}

    real: list[dict] = []
    for repo in state.store.repos(repo_type):
        head = repo.head
        if repo.meta.get("private") and not with_private:
            continue
        if head is not None:
            real.append(repo_json(state.facts, repo, head))
    real.sort(key=lambda d: d["id"])
    if sort != "id":
        real.sort(key=lambda d: d.get(sort) or 0, reverse=descending)
    synth = state.extension if repo_type == "model" else None
    order = synth.order(sort, descending) if synth and synth.count else None

    def matches(d: dict) -> bool:
        tags = d.get("tags") or []
        if any(f not in tags and f != d.get("library_name") for f in filters):
            return False
        if author and d.get("author") != author:
            return False
        if search and search not in d["id"].lower():
            return False
        if pipeline and d.get("pipeline_tag") != pipeline:
            return False
        if gated is not None and bool(d.get("gated")) != truthy(gated):
            return False
        if bounds is not None:
            total = (d.get("safetensors") or {}).get("total")
            if total is None or not bounds[0] <= total <= bounds[1]:
                return False
        return True

    def key(d: dict) -> Any:
        v = d.get(sort)
        return v if v is not None else 0

    out: list[dict] = []
    r, s = int(cursor.get("r", 0)), int(cursor.get("s", 0))
    n_synth = len(order) if order is not None else 0
    synth_cache: dict[int, dict] = {}

    def synth_at(pos: int) -> dict:
        i = int(order[pos])
        if i not in synth_cache:
            synth_cache.clear()
            synth_cache[i] = synth.info(i)
        return synth_cache[i]

    while len(out) < limit and (r < len(real) or s < n_synth):
        take_real: bool
        if r >= len(real):
            take_real = False
        elif s >= n_synth:
            take_real = True
        else:
            a, b = key(real[r]), key(synth_at(s))
            take_real = (a > b) if descending else (a < b)
            if a == b:
                take_real = True
        if take_real:
            d, r = real[r], r + 1
        else:
            d, s = synth_at(s), s + 1
        if matches(d):
            out.append(listing_fields(d, is_full=is_full, card_data=card_data, expand=expand))
    more = r < len(real) or s < n_synth
    return out, (encode_cursor({"r": r, "s": s}) if more else None)
