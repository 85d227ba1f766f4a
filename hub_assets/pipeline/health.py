"""Each judged model's health (`ok`, `stale`, `at_risk`, `revoked`) with its reason, as the
CLI, the API and `/metrics` show it: computed in the registry under the current gate."""

from __future__ import annotations

from dataclasses import dataclass

from hub_assets.registry.health import model_health
from hub_assets.registry.store import Registry


@dataclass(frozen=True)
class ModelHealth:
    """One model's health, why, and the revision it is about."""

    model_id: str
    health: str
    reason: str
    revision_sha: str | None


def health_report(
    registry: Registry, gate_version: str, max_age_days: float, model_id: str | None = None
) -> list[ModelHealth]:
    """The health of every judged model (or one), by model id."""
    with registry.read() as con:
        rows = model_health(con, gate_version, max_age_days, model_id)
    return [ModelHealth(*r) for r in rows]
