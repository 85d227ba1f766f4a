"""What discovery keeps of a model from a Hub listing entry."""

from __future__ import annotations

from datetime import UTC, datetime

from huggingface_hub.hf_api import ModelInfo


def iso(dt: datetime | None) -> str | None:
    """A datetime as UTC ISO text (None stays None)."""
    return dt.astimezone(UTC).isoformat() if dt else None


def listing_record(m: ModelInfo) -> dict:
    """The fields discovery keeps from a `full` listing entry (JSON-serialisable)."""
    card = m.card_data.to_dict() if m.card_data else {}
    tags = list(m.tags or [])
    license_ = card.get("license") or next(
        (t.split(":", 1)[1] for t in tags if t.startswith("license:")), None
    )
    siblings = [s.rfilename for s in (m.siblings or [])]
    return {
        "model_id": m.id,
        "author": m.author or (m.id.split("/")[0] if "/" in m.id else None),
        "sha": m.sha,
        "last_modified": iso(m.last_modified),
        "created_at": iso(m.created_at),
        "pipeline_tag": m.pipeline_tag,
        "library_name": m.library_name,
        "license": str(license_) if license_ else None,
        "downloads": m.downloads or 0,
        "likes": m.likes or 0,
        "tags": tags,
        "gated": str(m.gated) if m.gated else None,
        "has_safetensors": "safetensors" in tags
        or any(s.endswith(".safetensors") for s in siblings),
        "has_gguf": "gguf" in tags or any(s.endswith(".gguf") for s in siblings),
    }
