"""What a card claims about performance, and whether measurement bears it out.

`card_claims_score` judges whether claims are stated at all; `performance_claims` compares
the card's `model-index` with the revision's shadow-evaluation `Measurement`. Definitions:
docs/metrics.md and docs/evaluation.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from hub_assets.evaluation.contamination import DECLARED_OVERLAP, MEASURED_OVERLAP, describe
from hub_assets.evaluation.measurement import CLAIM_MARGIN, METRIC_LABELS, Measurement
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.trust import NUMBER, MetricResult

# -- performance claims -------------------------------------------------------------------------


def model_index_results(card_data: Mapping) -> list[dict]:
    """(task, dataset, metric, value) claims of a card's `model-index`."""
    out = []
    for entry in card_data.get("model-index") or []:
        for res in (entry or {}).get("results") or []:
            task = (res.get("task") or {}).get("type")
            ds = (res.get("dataset") or {}).get("type") or (res.get("dataset") or {}).get("name")
            for m in res.get("metrics") or []:
                if m.get("value") is not None:
                    out.append(
                        {
                            "task": task,
                            "dataset": ds,
                            "metric": m.get("type"),
                            "value": m.get("value"),
                        }
                    )
    return out


def card_claims_score(ev: ModelEvidence) -> MetricResult:
    """What the card alone claims: 1.0 structured results (`model-index` with values); 0.7
    numbers in an evaluation or results section; 0.3 evaluation mentioned without numbers;
    0.0 no claim at all."""
    claims = model_index_results(ev.card_data)
    if claims:
        return MetricResult(1.0, f"{len(claims)} result(s) in model-index", {"claims": claims})
    section = ev.section("evaluation", "results", "benchmark", "performance")
    table = section and ("|" in section and NUMBER.search(section))
    if table or (section and len(NUMBER.findall(section)) >= 2):
        return MetricResult(
            0.7, "numbers in an evaluation section, no model-index", {"section": section}
        )
    if section or re.search(r"\bevaluat|\bbenchmark", ev.card_text, re.I):
        return MetricResult(0.3, "evaluation mentioned, no results given", {"section": section})
    return MetricResult(0.0, "the card claims no evaluation results", {})


_METRIC_ALIASES = {"em": "exact_match", "exact": "exact_match", "squad_f1": "f1"}


def _metric_name(raw: object) -> str:
    name = str(raw or "").strip().lower().replace("@", "_at_").replace("-", "_")
    return _METRIC_ALIASES.get(name, name)


def comparable_claims(card_data: Mapping, measurement: Measurement) -> list[dict]:
    """The card's model-index claims on the measured dataset, for a metric we measured,
    each with the measured value and interval beside it (percentages read as fractions)."""
    out = []
    for claim in model_index_results(card_data):
        metric = _metric_name(claim["metric"])
        interval = measurement.interval(metric)
        if claim["dataset"] != measurement.dataset or interval is None:
            continue
        try:
            value = float(claim["value"])
        except (TypeError, ValueError):
            continue
        value = value / 100 if value > 1 else value
        out.append(
            {
                "metric": metric,
                "claimed": round(value, 4),
                "measured": round(measurement.scores.get(metric, 0.0), 4),
                "interval": [interval[0], interval[1]],
                "contradicted": value > interval[1] + CLAIM_MARGIN,
                "underclaimed": value < interval[0] - CLAIM_MARGIN,
            }
        )
    return out


# What the gate does with evidence from a set the model was trained on (the gate config's
# `contaminated_evidence`): `report` shows it but does not accept it as proof of
# performance (it may still refute a claim: training on a set only inflates scores);
# `use` accepts it; `fail` fails performance_claims whenever it is present.
CONTAMINATION_POLICIES = ("report", "use", "fail")


def _judge_measurement(
    ev: ModelEvidence, card: MetricResult, measurement: Measurement
) -> tuple[str, MetricResult]:
    """One measurement against the card: `refutes` (a claim above the interval, or claims
    on a model no better than chance), `proves` (clearly above chance), or `card` (the
    card's own claims decide)."""
    claims = comparable_claims(ev.card_data, measurement)
    evidence = {**measurement.summary(), "claims": claims}
    inputs = {"card": card.inputs, "measurement": evidence}
    contradicted = [c for c in claims if c["contradicted"]]
    if contradicted:
        worst = max(contradicted, key=lambda c: c["claimed"] - c["interval"][1])
        label = METRIC_LABELS.get(worst["metric"], worst["metric"])
        lo, hi = worst["interval"]
        said = (
            f"claimed {label} {worst['claimed']:.2f}, "
            f"measured {worst['measured']:.2f} [{lo:.2f}, {hi:.2f}]"
        )
        return "refutes", MetricResult(
            0.0,
            f"{said} on {measurement.dataset}",
            inputs,
            details={**evidence, "gate_explanation": said},
        )
    chance = measurement.chance(measurement.primary)
    measured = measurement.describe(measurement.primary)
    if measurement.above_chance():
        backed = [c for c in claims if not c["underclaimed"]]
        note = f"; {len(backed)} claim(s) consistent" if backed else ""
        note += "; the card under-claims" if any(c["underclaimed"] for c in claims) else ""
        return "proves", MetricResult(
            1.0,
            f"measured {measured} on {measurement.dataset}, above chance {chance:.2f}{note}",
            inputs,
            details=evidence,
        )
    if claims:
        return "refutes", MetricResult(
            0.0,
            f"measured {measured} on {measurement.dataset}, not above chance {chance or 0.0:.2f}: "
            "the card's claims describe a model no better than chance",
            inputs,
            details={
                **evidence,
                "gate_explanation": f"measured {measured}, chance {chance or 0.0:.2f}",
            },
        )
    return "card", MetricResult(
        card.value,
        f"{card.reason}; measured {measured} on {measurement.dataset}, not above chance "
        f"{chance or 0.0:.2f}",
        inputs,
        details=evidence,
    )


def _with_sets(result: MetricResult, sets: list[dict], policy: str, note: str = "") -> MetricResult:
    """The result with every evaluation set's role beside it (and a note on its reason);
    the policy is one of its inputs, so a changed policy is never answered from storage."""
    details = {**(result.details or {}), "evaluation_sets": sets}
    inputs = {**(result.inputs or {}), "evaluation_sets": sets, "policy": policy}
    return MetricResult(result.value, result.reason + note, inputs, details=details)


def performance_claims(
    ev: ModelEvidence,
    measurements: Measurement | Sequence[Measurement] | None = None,
    policy: str = "report",
) -> MetricResult:
    """The card's claims judged against what the shadow evaluations measured, each set's
    contamination weighed by `policy` (`CONTAMINATION_POLICIES`).

    - A comparable claim above a measured interval by more than `CLAIM_MARGIN`, or claims
      on a model no better than chance: 0.0, e.g. `claimed F1 0.95, measured 0.02 [0.01,
      0.03]`. Any set may refute, contaminated or not.
    - Otherwise, measured clearly above chance (the interval's lower bound above the chance
      baseline's score on the primary metric) on a set accepted as proof: 1.0. Under
      `report` a set the model was trained on (`declared_overlap`, `measured_overlap`) is
      not accepted; if only such sets were measured: 0.0, "no uncontaminated evidence".
    - Under `fail`, any contaminated set: 0.0.
    - No measurement, or none that clears chance and no comparable claim: the card's own
      claims decide (`card_claims_score`).
    """
    card = card_claims_score(ev)
    if isinstance(measurements, Measurement):
        measurements = [measurements]
    ms = list(measurements or [])
    if not ms:
        return card
    judged = [(m, *_judge_measurement(ev, card, m)) for m in ms]
    dirty = {m.eval_run_id for m in ms if m.flag in (DECLARED_OVERLAP, MEASURED_OVERLAP)}
    usable = [j for j in judged if policy == "use" or j[0].eval_run_id not in dirty]

    def sets(chosen: Measurement | None) -> list[dict]:
        return [
            {
                "dataset": m.dataset,
                "dataset_revision": m.dataset_revision,
                "contamination": m.flag,
                "contamination_detail": describe(m.contamination),
                "measured": m.describe(m.primary),
                "above_chance": m.above_chance(),
                "role": "refutes"
                if kind == "refutes"
                else "evidence"
                if m is chosen
                else "set aside (contaminated)"
                if m.eval_run_id in dirty and policy != "use"
                else "not needed",
            }
            for m, kind, _ in judged
        ]

    if policy == "fail" and dirty:
        m = next(m for m in ms if m.eval_run_id in dirty)
        said = f"contaminated evidence (policy fail): {describe(m.contamination)}"
        details = {**m.summary(), "gate_explanation": said}
        return _with_sets(MetricResult(0.0, said, {"card": card.inputs}, details), sets(m), policy)
    refuting = [j for j in judged if j[1] == "refutes"]
    if refuting:
        m, _, result = refuting[0]
        return _with_sets(result, sets(m), policy)
    aside = [m.dataset for m, _, _ in judged if m.eval_run_id in dirty and policy != "use"]
    note = f"; set aside (trained on): {', '.join(aside)}" if aside else ""
    proving = [j for j in usable if j[1] == "proves"] or usable[:1]
    if proving:
        m, _, result = proving[0]
        chosen = _with_sets(result, sets(m), policy, note)
        if aside:  # the gate's message says which evidence it set aside, pass or fail
            chosen.details["gate_note"] = (
                f"performance judged on {m.dataset} ({m.flag}); set aside as training data: "
                + ", ".join(aside)
            )
        return chosen
    m = ms[0]
    said = (
        f"no uncontaminated evidence: measured {m.describe(m.primary)} on {m.dataset}, "
        f"set aside ({describe(m.contamination)})"
    )
    details = {**m.summary(), "gate_explanation": said}
    return _with_sets(MetricResult(0.0, said, {"card": card.inputs}, details), sets(None), policy)
