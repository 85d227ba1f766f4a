"""The gate decision: every gate metric against its threshold, explained in users' words."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hub_assets.gate.config import GateConfig
from hub_assets.metrics.table import DISPLAY_NAMES, GATE_METRICS


@dataclass(frozen=True)
class GateDecision:
    """Pass or fail, what failed, and the sentence that says so."""

    passed: bool
    failed: list[dict]  # [{metric, score, threshold}]
    thresholds: dict[str, float]
    message: str


def passes(score: float | None, threshold: float) -> bool:
    """The gate's one pass rule for a metric: a score at or above its threshold (rounded to
    4 places, so 0.49999 stored for 0.5 passes); a missing score fails."""
    return score is not None and round(score, 4) >= threshold


def decide(
    model_id: str,
    scores: Mapping[str, float],
    config: GateConfig,
    explanations: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> GateDecision:
    """Check every gate metric (`passes`: score ≥ threshold; a missing score fails).

    The message lists a failing security verdict first, then failures worst first, e.g.
    `Model does not meet quality requirements. Failed metrics: Bus Factor (0.30 < 0.50),
    Ramp-Up Time (0.40 < 0.50)`. A metric judged on measured evidence says so in
    `explanations`, and that replaces the bare numbers:
    `Performance Claims (claimed F1 0.95, measured 0.02 [0.01, 0.03])`. `notes` (e.g. which
    evidence was set aside as the model's training data) end the message, pass or fail.
    """
    explanations = explanations or {}
    thresholds = config.thresholds_for(model_id)
    failed = []
    for metric in GATE_METRICS:
        score = scores.get(metric)
        if not passes(score, thresholds[metric]):
            failed.append({"metric": metric, "score": score, "threshold": thresholds[metric]})
    noted = "".join(f" Note: {n}." for n in notes)
    if not failed:
        return GateDecision(True, [], thresholds, "Model meets all quality requirements." + noted)
    # security first (a flagged model is refused whatever else it scores), then worst
    # first: unscored, then lowest score (metric order breaks ties)
    failed.sort(
        key=lambda f: (f["metric"] != "security", f["score"] is not None, f["score"] or 0.0)
    )

    def why(f: dict) -> str:
        if f["metric"] in explanations:
            return f"({explanations[f['metric']]})"
        if f["score"] is None:
            return "(not scored)"
        return f"({f['score']:.2f} < {f['threshold']:.2f})"

    parts = [f"{DISPLAY_NAMES[f['metric']]} {why(f)}" for f in failed]
    return GateDecision(
        False,
        failed,
        thresholds,
        "Model does not meet quality requirements. Failed metrics: " + ", ".join(parts) + noted,
    )
