"""Which registry a location names: a DuckDB file, or the shared PostgreSQL registry."""

from __future__ import annotations

from pathlib import Path

from hub_assets.extras import require_extra
from hub_assets.registry.store import Registry
from hub_assets.settings import DEFAULT_LOCK_TIMEOUT_S, POSTGRES_SCHEMES


def registry_at(
    location: str | Path, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Registry:
    """The registry at `location`: a DuckDB file path, or a `postgresql://` URL for the
    registry many machines share. Which one is configuration (HUB_ASSETS_REGISTRY), not code."""
    if str(location).startswith(POSTGRES_SCHEMES):
        # psycopg and the attachment: only for the shared registry
        require_extra("scale", "psycopg", "The shared registry (a postgresql:// URL)")
        require_extra("scale", "duckdb_extension_postgres", "The shared registry")
        from hub_assets.registry.postgres import PostgresRegistry

        return PostgresRegistry(str(location), lock_timeout_s=lock_timeout_s)
    return Registry(location, lock_timeout_s=lock_timeout_s)
