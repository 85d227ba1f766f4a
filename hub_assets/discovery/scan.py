"""Incremental discovery: walk each pipeline tag newest-first, stop at a page with nothing new."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hub_assets.discovery.filters import CandidateFilter
from hub_assets.hub.client import HubClient


@dataclass
class Discovered:
    """One model seen by a scan and what became of it."""

    record: dict
    change: str  # "new", "changed" (revision sha moved) or "unchanged"
    reasons: list[str]  # empty: candidate

    @property
    def status(self) -> str:
        return "candidate" if not self.reasons else "filtered_out"


@dataclass
class TagScan:
    """What a scan of one pipeline tag did."""

    pipeline_tag: str
    pages: int = 0
    models_seen: int = 0
    new: int = 0
    changed: int = 0


@dataclass
class ScanResult:
    """Everything a discovery scan found, tag by tag."""

    models: dict[str, Discovered] = field(default_factory=dict)
    tags: list[TagScan] = field(default_factory=list)

    def by_change(self, change: str) -> list[Discovered]:
        return [d for d in self.models.values() if d.change == change]


def scan(
    client: HubClient,
    known: Mapping[str, str | None],
    *,
    pipeline_tags: Iterable[str],
    candidate_filter: CandidateFilter,
    page_size: int = 1000,
    full: bool = False,
) -> ScanResult:
    """Scan the Hub for models of each tag, newest modification first.

    `known` maps model ids already in the registry to their revision sha. A page on which
    every model is known at the same sha ends the walk of that tag (unless `full`): the
    listing is sorted by last modification, so nothing older can have changed.
    """
    result = ScanResult()
    for tag in pipeline_tags:
        ts = TagScan(tag)
        result.tags.append(ts)
        for page in client.model_pages(tag, page_size=page_size):
            ts.pages += 1
            fresh = 0
            for rec in page:
                ts.models_seen += 1
                prev = known.get(rec["model_id"], _MISSING)
                if prev is _MISSING:
                    change = "new"
                elif prev != rec["sha"]:
                    change = "changed"
                else:
                    change = "unchanged"
                if change != "unchanged":
                    fresh += 1
                    ts.new += change == "new"
                    ts.changed += change == "changed"
                if rec["model_id"] not in result.models or change != "unchanged":
                    result.models[rec["model_id"]] = Discovered(
                        rec, change, candidate_filter.reasons(rec)
                    )
            if not fresh and not full:
                break
    return result


_MISSING = object()
