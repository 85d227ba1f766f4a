"""Gate configs applied through the registry: each one kept as applied (its YAML, who, why,
what it flipped), the newest being the gate every decision uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from hub_assets.registry.models import now
from hub_assets.registry.store import next_id


@dataclass(frozen=True)
class AppliedGateConfig:
    """One applied gate config."""

    config_id: int
    version: str
    config_yaml: str
    sha256: str
    previous: str | None
    applied_by: str
    reason: str
    flips: int
    newly_failing: int
    newly_passing: int
    applied_at: datetime


_COLUMNS = (
    "config_id, version, config_yaml, sha256, previous, applied_by, reason, flips, "
    "newly_failing, newly_passing, applied_at"
)


def record_applied(
    con: duckdb.DuckDBPyConnection,
    *,
    version: str,
    config_yaml: str,
    sha256: str,
    previous: str | None,
    applied_by: str,
    reason: str,
    flips: int,
    newly_failing: int,
    newly_passing: int,
) -> int:
    """Record a gate config as applied; its id."""
    config_id = next_id(con, "gate_configs", "config_id")
    con.execute(
        f"INSERT INTO gate_configs ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            config_id,
            version,
            config_yaml,
            sha256,
            previous,
            applied_by,
            reason,
            flips,
            newly_failing,
            newly_passing,
            now(),
        ],
    )
    return config_id


def current_applied(con: duckdb.DuckDBPyConnection) -> AppliedGateConfig | None:
    """The gate config applied last, if any was."""
    row = con.execute(
        f"SELECT {_COLUMNS} FROM gate_configs ORDER BY config_id DESC LIMIT 1"
    ).fetchone()
    return AppliedGateConfig(*row) if row else None


def applied_history(con: duckdb.DuckDBPyConnection, limit: int) -> list[AppliedGateConfig]:
    """The applied gate configs, newest first."""
    rows = con.execute(
        f"SELECT {_COLUMNS} FROM gate_configs ORDER BY config_id DESC LIMIT ?", [limit]
    ).fetchall()
    return [AppliedGateConfig(*r) for r in rows]
