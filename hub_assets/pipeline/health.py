"""Each judged model's health (`ok`, `stale`, `at_risk`, `revoked`) with its reason, as the
CLI, the API and `/metrics` show it: computed in the registry under the current gate."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from hub_assets.evaluation.datasets import pins_from
from hub_assets.evaluation.measurement import SCORER_VERSION
from hub_assets.gate.config import GateConfig
from hub_assets.metrics.scanners import SCANNERS
from hub_assets.pipeline.rejudge import scanner_key
from hub_assets.registry.health import health_counts, model_health
from hub_assets.registry.store import Registry
from hub_assets.settings import Settings


@dataclass(frozen=True)
class HealthPolicy:
    """How old evidence may be: the latest evaluation (`HUB_ASSETS_EVIDENCE_MAX_AGE_DAYS`),
    and a verdict made under earlier scanners after an upgrade (`HUB_ASSETS_SCAN_GRACE_HOURS`)."""

    max_age_days: float
    scan_grace_hours: float
    # the evaluation sets pinned now (`repo@revision`); None: a moved pin is not checked
    pins: tuple[str, ...] | None = None

    @classmethod
    def of(cls, settings: Settings) -> HealthPolicy:
        """The policy the settings give (with their pinned evaluation sets)."""
        pins = pins_from(settings.qa_dataset, settings.retrieval_dataset)
        return cls(
            settings.evidence_max_age_days,
            settings.scan_grace_hours,
            tuple(f"{p.repo_id}@{p.revision}" for p in pins),
        )


@dataclass(frozen=True)
class ModelHealth:
    """One model's health, why, and the revision it is about."""

    model_id: str
    health: str
    reason: str
    revision_sha: str | None


def health_report(
    registry: Registry, gate: GateConfig, policy: HealthPolicy, model_id: str | None = None
) -> list[ModelHealth]:
    """The health of every judged model (or one) under `gate`, the installed scanners and
    the current scorer, by model id."""
    with registry.read() as con:
        return health_on(con, gate, policy, model_id)


def _current(gate: GateConfig, policy: HealthPolicy) -> dict:
    """What health is judged against now (the keyword arguments of the registry's reads)."""
    return {
        "scanner_key": scanner_key(gate),
        "scorer_version": SCORER_VERSION,
        "scanners": SCANNERS,
        "scan_grace_hours": policy.scan_grace_hours,
        "pinned": policy.pins,
    }


def health_on(
    con: duckdb.DuckDBPyConnection,
    gate: GateConfig,
    policy: HealthPolicy,
    model_id: str | None = None,
) -> list[ModelHealth]:
    """`health_report` on the caller's connection (the service's cached one)."""
    rows = model_health(con, gate.version, policy.max_age_days, model_id, **_current(gate, policy))
    return [ModelHealth(*r) for r in rows]


def health_totals(
    con: duckdb.DuckDBPyConnection, gate: GateConfig, policy: HealthPolicy
) -> dict[str, int]:
    """How many judged models have each health under `gate` and the installed scanners, on
    the caller's connection (the service's cached one)."""
    return health_counts(con, gate.version, policy.max_age_days, **_current(gate, policy))
