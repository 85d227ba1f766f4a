"""The evidence behind one gate decision, in the shape a reviewer reads it: each gate
metric's score, threshold, verdict and reason; the measurement against the card's claims
with its 95% interval; the licence chain; each scanned file's verdict per scanner. Built
from what the registry stored, so the UI, the API and the CLI show the same facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from hub_assets.gate.decision import GateDecision
from hub_assets.metrics.table import DISPLAY_NAMES, GATE_METRICS
from hub_assets.states import Verdict

# Scores are shown to two decimals (thresholds are set to two); intervals to three.
SCORE_DIGITS = 2
MEASURE_DIGITS = 3


@dataclass(frozen=True)
class MetricVerdict:
    """One gate metric judged: its score (None: not scored), threshold, pass or fail, why."""

    metric: str
    display: str
    score: float | None
    threshold: float
    passed: bool
    why: str


@dataclass(frozen=True)
class GateEvidence:
    """What a reviewer needs to sign (or dispute) one gate decision."""

    verdict: str  # "passed", or "rejected: <failed metrics>"
    passed: bool
    metrics: list[MetricVerdict]
    measurement: dict | None  # the performance evidence (metric, measured, interval, ...)
    claims: list[dict] = field(default_factory=list)  # claimed vs measured, per metric
    licence_chain: str | None = None
    scanned_files: list[dict] = field(default_factory=list)  # {file, scanner, verdict, detail}
    eval_run_id: str | None = None
    # every evaluation set of the task: its contamination flag and its role in the verdict
    # (evidence, refutes, set aside (contaminated), not needed)
    evaluation_sets: list[dict] = field(default_factory=list)


def verdict_words(decision: GateDecision) -> str:
    """The verdict in a few words: `passed`, or `rejected: ` and the failed metrics."""
    if decision.passed:
        return Verdict.PASSED.value
    return "rejected: " + ", ".join(DISPLAY_NAMES[f["metric"]] for f in decision.failed)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def gate_evidence(
    decision: GateDecision,
    scores: Mapping[str, float],
    details: Mapping[str, Mapping],
) -> GateEvidence:
    """The decision and the stored metric details (`revision_metrics(...).details`) as the
    evidence page: every gate metric (passed ones too), rounded for reading."""
    failed = {f["metric"] for f in decision.failed}
    rows = []
    for metric in GATE_METRICS:
        info = details.get(metric) or {}
        why = info.get("gate_explanation") or info.get("reason") or "not scored"
        rows.append(
            MetricVerdict(
                metric,
                DISPLAY_NAMES[metric],
                _rounded(scores.get(metric), SCORE_DIGITS),
                decision.thresholds[metric],
                metric not in failed,
                why,
            )
        )
    perf = details.get("performance_claims") or {}
    measurement = None
    if "measured" in perf:
        measurement = {
            "task": perf.get("task"),
            "metric": perf.get("metric"),
            "measured": _rounded(perf["measured"], MEASURE_DIGITS),
            "ci_low": _rounded((perf.get("interval") or [None, None])[0], MEASURE_DIGITS),
            "ci_high": _rounded((perf.get("interval") or [None, None])[1], MEASURE_DIGITS),
            "chance": _rounded(perf.get("baseline_score"), MEASURE_DIGITS),
            "dataset": f"{perf.get('dataset')}@{str(perf.get('dataset_revision', ''))[:12]}",
            "samples": perf.get("samples"),
            "contamination": perf.get("contamination", "not_checked"),
        }
    claims = [
        {
            "metric": c.get("metric"),
            "claimed": _rounded(c.get("claimed"), MEASURE_DIGITS),
            "measured": _rounded(c.get("measured"), MEASURE_DIGITS),
            "ci_low": _rounded((c.get("interval") or [None, None])[0], MEASURE_DIGITS),
            "ci_high": _rounded((c.get("interval") or [None, None])[1], MEASURE_DIGITS),
            "verdict": "contradicted" if c.get("contradicted") else "consistent",
        }
        for c in perf.get("claims") or []
    ]
    security = details.get("security") or {}
    scanned = [
        {
            "file": v.get("path", ""),
            "scanner": v.get("scanner", ""),
            "verdict": v.get("verdict", ""),
            "detail": str(v.get("detail", ""))[:200],
        }
        for v in [*security.get("verdicts", []), *security.get("format_checks", [])]
    ]
    chain = (details.get("licence_obligations") or {}).get("chain")
    return GateEvidence(
        verdict=verdict_words(decision),
        passed=decision.passed,
        metrics=rows,
        measurement=measurement,
        claims=claims,
        licence_chain=chain,
        scanned_files=scanned,
        eval_run_id=perf.get("eval_run_id"),
        evaluation_sets=[
            {
                k: e.get(k)
                for k in ("dataset", "contamination", "contamination_detail", "measured", "role")
            }
            for e in perf.get("evaluation_sets") or []
        ],
    )
