"""What a Hub serves: a compact inventory of its model and dataset repos."""

from __future__ import annotations

from dataclasses import dataclass

from huggingface_hub import HfApi


@dataclass(frozen=True)
class RepoSummary:
    """One repo as the Hub lists it."""

    repo_type: str
    repo_id: str
    sha: str | None
    pipeline_tag: str | None
    license: str | None
    downloads: int
    likes: int
    gated: bool
    last_modified: str | None


def hub_inventory(
    api: HfApi, *, author: str | None = None, limit: int | None = None
) -> list[RepoSummary]:
    """List model and dataset repos through the real client (`full` listings, paginated)."""
    out: list[RepoSummary] = []
    for m in api.list_models(author=author, full=True, cardData=True, limit=limit):
        card = m.card_data.to_dict() if m.card_data else {}
        out.append(
            RepoSummary(
                "model",
                m.id,
                m.sha,
                m.pipeline_tag,
                card.get("license"),
                m.downloads or 0,
                m.likes or 0,
                bool(m.gated),
                m.last_modified.isoformat() if m.last_modified else None,
            )
        )
    for d in api.list_datasets(author=author, full=True, limit=limit):
        card = d.card_data.to_dict() if d.card_data else {}
        out.append(
            RepoSummary(
                "dataset",
                d.id,
                d.sha,
                None,
                card.get("license"),
                d.downloads or 0,
                d.likes or 0,
                bool(d.gated),
                d.last_modified.isoformat() if d.last_modified else None,
            )
        )
    return out


def inventory_markdown(rows: list[RepoSummary]) -> str:
    """A markdown table of an inventory, for Dagster metadata and the terminal."""
    lines = [
        "| type | repo | pipeline | license | downloads | likes | gated |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.repo_type} | {r.repo_id} | {r.pipeline_tag or ''} | {r.license or '—'} "
            f"| {r.downloads} | {r.likes} | {'yes' if r.gated else ''} |"
        )
    return "\n".join(lines)
