"""The Dagster resource the tests materialize assets with: the one `PipelineResource`,
pointed at a test Hub, registry and temporary folders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub_assets.registry.store import Registry
from hub_assets.resources import PipelineResource


def pipeline_resources(
    hub_url: str | None, registry: Registry | None, tmp_path: Path, **overrides: Any
) -> dict[str, PipelineResource]:
    """`{"pipeline": ...}` over the Hub at `hub_url`, the registry and folders under
    `tmp_path` (its Hub metadata cache, work folder, evaluation cache, packages), with
    `overrides` (setting name → value) on top; None leaves a setting as the environment has
    it."""
    given: dict[str, Any] = {
        "hub_endpoint": hub_url,
        "hub_rate_limit": 0,
        "registry": registry.location if registry is not None else None,
        "cache_dir": str(tmp_path / "cache"),
        "work_dir": str(tmp_path / "work"),
        "eval_cache_dir": str(tmp_path / "eval"),
        "package_store": str(tmp_path / "packages"),
    }
    return {"pipeline": PipelineResource.of(**{**given, **overrides})}
