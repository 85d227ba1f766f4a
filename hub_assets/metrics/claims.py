"""What a card claims about performance, and whether measurement bears it out.

`card_claims_score` judges whether claims are stated at all; `performance_claims` compares
the card's `model-index` with the revision's shadow-evaluation `Measurement`. Definitions:
docs/metrics.md and docs/evaluation.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

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


def performance_claims(ev: ModelEvidence, measurement: Measurement | None = None) -> MetricResult:
    """The card's claims judged against what the shadow evaluation measured.

    - A comparable claim above the measured interval by more than `CLAIM_MARGIN`: 0.0,
      e.g. `claimed F1 0.95, measured 0.02 [0.01, 0.03]`.
    - Otherwise, measured clearly above chance (the interval's lower bound above the chance
      baseline's score on the primary metric): 1.0, claims or not.
    - Comparable claims, but a measurement that does not clear chance: 0.0 (the claims
      describe a model no better than chance).
    - No measurement, or no comparable claim and a measurement that does not clear chance:
      the card's own claims decide (`card_claims_score`).
    """
    card = card_claims_score(ev)
    if measurement is None:
        return card
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
        return MetricResult(
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
        return MetricResult(
            1.0,
            f"measured {measured} on {measurement.dataset}, above chance {chance:.2f}{note}",
            inputs,
            details=evidence,
        )
    if claims:
        return MetricResult(
            0.0,
            f"measured {measured} on {measurement.dataset}, not above chance {chance or 0.0:.2f}: "
            "the card's claims describe a model no better than chance",
            inputs,
            details={
                **evidence,
                "gate_explanation": f"measured {measured}, chance {chance or 0.0:.2f}",
            },
        )
    return MetricResult(
        card.value,
        f"{card.reason}; measured {measured} on {measurement.dataset}, not above chance "
        f"{chance or 0.0:.2f}",
        inputs,
        details=evidence,
    )
