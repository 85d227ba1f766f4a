"""The gate applied to a model's current revision and recorded: the per-model pipeline's
last judgment before packaging."""

from __future__ import annotations

from dataclasses import dataclass

from hub_assets.gate.config import GateConfig
from hub_assets.gate.decision import GateDecision, decide
from hub_assets.gate.evidence import GateEvidence, gate_evidence
from hub_assets.metrics.table import GATE_METRICS
from hub_assets.registry import metrics as reg_metrics
from hub_assets.registry.models import append_status, settled_revision
from hub_assets.registry.packages import revision_package
from hub_assets.registry.store import Registry
from hub_assets.states import ModelStatus


@dataclass
class GatedRevision:
    """The decision on one revision, with the stored scores and explanations it judged."""

    sha: str
    decision: GateDecision
    scores: dict[str, float]
    reasons: dict[str, str]  # each gate metric's stored reason ("not scored" if none)
    explanations: dict[str, str]  # measured evidence behind a metric, where there is some
    details: dict[str, dict]  # each scored metric's stored details (the evidence page)

    @property
    def evidence(self) -> GateEvidence:
        """The decision with its evidence, as a reviewer reads it."""
        return gate_evidence(self.decision, self.scores, self.details)


def gate_revision(
    registry: Registry, model_id: str, config: GateConfig, run_id: str
) -> GatedRevision:
    """Judge the current revision's stored gate metrics against `config` and record the
    result (gate_results, and gate_passed / gate_failed in the lifecycle) in one write."""
    with registry.read() as con:
        sha, _ = reg_metrics.require_current_revision(con, model_id)
    return gate_sha(registry, model_id, sha, config, run_id)


def gate_sha(
    registry: Registry, model_id: str, sha: str, config: GateConfig, run_id: str
) -> GatedRevision:
    """`gate_revision` for a given revision of the model (any one with stored metrics)."""
    with registry.read() as con:
        stored = reg_metrics.revision_metrics(con, model_id, sha)
    scores = {m: stored[m].value for m in GATE_METRICS if m in stored}
    explanations = {
        m: stored[m].details["gate_explanation"]
        for m in scores
        if (stored[m].details or {}).get("gate_explanation")
    }
    notes = [n for m in scores if (n := (stored[m].details or {}).get("gate_note"))]
    decision = decide(model_id, scores, config, explanations, notes)
    with registry.write() as con:
        before = reg_metrics.latest_gate_result(con, model_id, sha)
        # an approved revision (packaged, live, its last verdict a pass) that fails now
        revoked = (
            not decision.passed
            and before is not None
            and before["passed"]
            and revision_package(con, model_id, sha) is not None
        )
        reg_metrics.write_gate_result(
            con,
            model_id=model_id,
            sha=sha,
            passed=decision.passed,
            failed=decision.failed,
            message=decision.message,
            thresholds=decision.thresholds,
            config_version=config.version,
            target_device=config.target_device,
            run_id=run_id,
            override=config.override_of(model_id),
            basis=config.basis(),
        )
        # a packaged, promoted, retired or rejected revision that passes again keeps its
        # status (re-judging changes no status unless the verdict does)
        if not (decision.passed and settled_revision(con, model_id, sha)):
            append_status(
                con,
                model_id,
                "gate_passed" if decision.passed else "gate_failed",
                run_id=run_id,
                revision_sha=sha,
                reason=decision.message,
            )
        if revoked:
            append_status(
                con,
                model_id,
                ModelStatus.REVOKED,
                run_id=run_id,
                revision_sha=sha,
                reason=(
                    f"it fails gate {config.version}, which it passed under gate "
                    f"{before['config_version']}: {decision.message}"
                    if before["config_version"] != config.version
                    else f"its scores changed and it fails gate {config.version}: "
                    f"{decision.message}"
                ),
            )
    reasons = {
        m: (stored[m].details or {}).get("reason", "") if m in stored else "not scored"
        for m in GATE_METRICS
    }
    details = {m: dict(stored[m].details or {}) for m in scores}
    return GatedRevision(sha, decision, scores, reasons, explanations, details)
