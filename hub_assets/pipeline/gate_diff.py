"""A proposed gate config tried on the whole registry before it is applied: every judged
revision re-decided from its stored gate metrics alone (no model runs, nothing is
fetched), each flip listed with the metrics that flip it and who pulled that revision
through the mirror."""

from __future__ import annotations

from dataclasses import dataclass, field

from hub_assets.gate.config import GateConfig
from hub_assets.gate.decision import decide, passes
from hub_assets.metrics.table import GATE_METRICS
from hub_assets.registry.metrics import judged_revisions
from hub_assets.registry.mirror_usage import mirror_pullers
from hub_assets.registry.packages import lockfiles_pinning
from hub_assets.registry.store import Registry


@dataclass(frozen=True)
class Flip:
    """One revision whose verdict the proposed config changes."""

    model_id: str
    sha: str
    was_passed: bool
    now_passed: bool
    # each metric whose pass or fail changes: (metric, score, threshold now, proposed)
    metrics: list[tuple[str, float | None, float, float]]
    mirror_users: list[str] = field(default_factory=list)  # who pulled this revision
    lockfiles: list[str] = field(default_factory=list)  # the recorded locks that pin it


@dataclass(frozen=True)
class GateDiff:
    """The flips of a proposed config, of `judged` revisions."""

    judged: int
    flips: list[Flip]

    @property
    def newly_failing(self) -> int:
        """Revisions that pass now and would fail."""
        return sum(1 for f in self.flips if f.was_passed and not f.now_passed)

    @property
    def newly_passing(self) -> int:
        """Revisions that fail now and would pass."""
        return sum(1 for f in self.flips if f.now_passed and not f.was_passed)


def gate_diff(registry: Registry, current: GateConfig, proposed: GateConfig) -> GateDiff:
    """Re-decide every judged revision under `proposed`, from stored scores only, as a full
    re-gate (`pipeline.gate.gate_revision`) would decide it; compare with its recorded
    verdict."""
    with registry.read() as con:
        revisions = judged_revisions(con, GATE_METRICS)
        flips = []
        for model_id, sha, was, scores in revisions:
            now = decide(model_id, scores, proposed).passed
            if now == was:
                continue
            old_t, new_t = current.thresholds_for(model_id), proposed.thresholds_for(model_id)
            changed = [
                (m, scores.get(m), old_t[m], new_t[m])
                for m in GATE_METRICS
                if passes(scores.get(m), old_t[m]) != passes(scores.get(m), new_t[m])
            ]
            flips.append(Flip(model_id, sha, was, now, changed))
        flipped = [(f.model_id, f.sha) for f in flips]
        users, locks = mirror_pullers(con, flipped), lockfiles_pinning(con, flipped)
    return GateDiff(
        len(revisions),
        [
            Flip(
                f.model_id,
                f.sha,
                f.was_passed,
                f.now_passed,
                f.metrics,
                users.get((f.model_id, f.sha), []),
                locks.get((f.model_id, f.sha), []),
            )
            for f in flips
        ],
    )
