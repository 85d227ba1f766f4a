"""Changing the gate as an audited act: a proposed config is validated, tried on the stored
evidence (`gate_diff`), and recorded in the registry with who applied it and why; from then
on it is the gate every decision uses (`Pipeline.gate_config`). Nothing is re-measured."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from hub_assets.errors import GateConfigError
from hub_assets.gate.config import GateConfig, parse_gate_config
from hub_assets.pipeline.gate_diff import GateDiff, gate_diff
from hub_assets.registry.gate_configs import (
    AppliedGateConfig,
    applied_history,
    current_applied,
    record_applied,
)
from hub_assets.registry.identity import record_audit
from hub_assets.registry.store import Registry


@dataclass(frozen=True)
class GateChange:
    """A proposed gate config and what it would flip; `applied` once recorded."""

    proposed: GateConfig
    diff: GateDiff
    applied: int | None = None  # the gate_configs row


def applied_gate(registry: Registry) -> AppliedGateConfig | None:
    """The gate config applied last through the registry, if any (None on a registry
    that does not exist yet)."""
    if not registry.exists():
        return None
    registry.ensure_schema()
    # every decision and every model page asks: answered from the registry's result cache
    # until the next write
    return registry.cached(("applied_gate",), current_applied)


def gate_history(registry: Registry, limit: int = 50) -> list[AppliedGateConfig]:
    """Every gate config applied through the registry, newest first."""
    registry.ensure_schema()
    with registry.read() as con:
        return applied_history(con, limit)


def apply_gate_config(
    registry: Registry,
    current: GateConfig,
    text: str,
    source: str,
    devices: Iterable[str],
    *,
    by: str,
    reason: str,
    confirm: bool,
) -> GateChange:
    """Validate `text` as a gate config, diff it against `current` on the stored evidence,
    and (with `confirm`) record it as the gate with who and why, audited. A config must
    carry a new `version`: each gate result records the version it was decided under."""
    if not by.strip() or not reason.strip():
        raise GateConfigError("Applying a gate config needs who (--user) and why (--reason).")
    proposed = parse_gate_config(text, source, devices)
    if proposed.version == current.version:
        raise GateConfigError(
            f"The proposed gate config has the current version {current.version!r}: bump "
            "`version` (each gate result records the version it was decided under)."
        )
    diff = gate_diff(registry, current, proposed)
    if not confirm:
        return GateChange(proposed, diff)
    summary = (
        f"{current.version} -> {proposed.version}: {len(diff.flips)} of {diff.judged} "
        f"verdicts flip ({diff.newly_failing} would fail, {diff.newly_passing} would pass); "
        f"reason: {reason}"
    )
    with registry.write() as con:
        config_id = record_applied(
            con,
            version=proposed.version,
            config_yaml=text,
            sha256=hashlib.sha256(text.encode()).hexdigest(),
            previous=current.version,
            applied_by=by,
            reason=reason,
            flips=len(diff.flips),
            newly_failing=diff.newly_failing,
            newly_passing=diff.newly_passing,
        )
        record_audit(
            con,
            username=by,
            action="gate_apply",
            target=proposed.version,
            outcome="ok",
            detail=summary[:1000],
        )
    return GateChange(proposed, diff, config_id)
