"""Discovery end to end: scan the Hub, then record what changed in one short transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hub_assets.discovery.filters import CandidateFilter
from hub_assets.discovery.scan import ScanResult, scan
from hub_assets.errors import HubUnavailableError
from hub_assets.hub.client import HubClient
from hub_assets.registry import models as reg
from hub_assets.registry.store import Registry
from hub_assets.settings import DEFAULT_PIPELINE_TAGS, Settings, default


@dataclass
class DiscoveryOutcome:
    """What a discovery run did, for the materialization and the terminal."""

    offline: bool
    result: ScanResult = field(default_factory=ScanResult)
    candidates: dict[str, str | None] = field(default_factory=dict)
    requests: int = 0

    def counts(self) -> dict[str, int]:
        changed = [d for d in self.result.models.values() if d.change != "unchanged"]
        return {
            "models_seen": len(self.result.models),
            "new": len(self.result.by_change("new")),
            "changed": len(self.result.by_change("changed")),
            "new_candidates": sum(1 for d in changed if d.status == "candidate"),
            "filtered_out": sum(1 for d in changed if d.status == "filtered_out"),
            "candidates_total": len(self.candidates),
            "pages": sum(t.pages for t in self.result.tags),
            "hub_requests": self.requests,
        }

    def changes(self) -> list[dict]:
        """New and changed models, one row each (model, change, status, reason, license,
        downloads), filtered-out first."""
        rows = sorted(
            (d for d in self.result.models.values() if d.change != "unchanged"),
            key=lambda d: (d.status, d.record["model_id"]),
        )
        return [
            {
                "model": d.record["model_id"],
                "change": d.change,
                "status": d.status,
                "reason": "; ".join(d.reasons) or None,
                "license": d.record.get("license"),
                "downloads": int(d.record.get("downloads") or 0),
            }
            for d in rows
        ]


def candidate_filter_from(settings: Settings | None = None, **overrides: object) -> CandidateFilter:
    """The candidate filter the settings describe (their defaults when none are given),
    with `overrides` applied: the rules in `discovery/` take values, settings give them."""

    def value(name: str) -> object:
        return getattr(settings, name) if settings is not None else default(name)

    fields = {
        "licenses": tuple(value("licenses")),
        "libraries": tuple(value("libraries")),
        "require_safetensors": value("require_safetensors"),
        "weight_formats": tuple(value("weight_formats")),
        "min_downloads": value("min_downloads"),
        "min_likes": value("min_likes"),
    }
    return CandidateFilter(**{**fields, **overrides})


def discover(
    client: HubClient,
    registry: Registry,
    *,
    run_id: str,
    pipeline_tags: Iterable[str] = DEFAULT_PIPELINE_TAGS,
    candidate_filter: CandidateFilter | None = None,
    page_size: int = 1000,
    full: bool = False,
) -> DiscoveryOutcome:
    """Scan the Hub and record new and changed models, their status and the scan itself.

    The Hub is read before the registry transaction opens, so the write lock is held for
    milliseconds; a failure before the commit leaves the registry as it was. With the Hub
    unreachable, nothing is written and the registry's candidates stand.
    """
    tags = tuple(pipeline_tags)
    candidate_filter = candidate_filter or candidate_filter_from()
    registry.ensure_schema()
    with registry.read() as con:
        known = reg.known_models(con)
    start = client.requests_made
    try:
        result = scan(
            client,
            known,
            pipeline_tags=tags,
            candidate_filter=candidate_filter,
            page_size=page_size,
            full=full,
        )
    except HubUnavailableError:
        with registry.read() as con:
            return DiscoveryOutcome(
                offline=True, candidates=reg.candidates(con), requests=client.requests_made - start
            )
    with registry.write() as con:
        reg.upsert_models(con, (d.record for d in result.models.values()), run_id)
        changed = [d for d in result.models.values() if d.change != "unchanged"]
        reg.append_statuses(
            con,
            [
                (
                    d.record["model_id"],
                    "discovered",
                    f"listed under {d.record.get('pipeline_tag')}"
                    if d.change == "new"
                    else f"new revision {d.record['sha']} (was {known.get(d.record['model_id'])})",
                    d.record["sha"],
                )
                for d in changed
            ],
            run_id=run_id,
        )
        reg.append_statuses(
            con,
            [
                (
                    d.record["model_id"],
                    d.status,
                    "; ".join(d.reasons) or "passes the discovery filters",
                    d.record["sha"],
                )
                for d in changed
            ],
            run_id=run_id,
        )
        for t in result.tags:
            reg.record_scan(
                con,
                pipeline_tag=t.pipeline_tag,
                pages=t.pages,
                models_seen=t.models_seen,
                new=t.new,
                changed=t.changed,
                offline=False,
                run_id=run_id,
            )
        cands = reg.candidates(con)
    return DiscoveryOutcome(
        offline=False, result=result, candidates=cands, requests=client.requests_made - start
    )
