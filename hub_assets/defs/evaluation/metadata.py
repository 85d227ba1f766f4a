"""What the evaluation assets show in the Dagster UI: their tables' schemas and the
metadata built from a shadow evaluation's outcomes (every evaluation set with its
contamination flag, the regression check's tests, the inference API's figures)."""

from __future__ import annotations

import dagster as dg

from hub_assets.evaluation.measurement import PRIMARY
from hub_assets.pipeline.evaluate import ShadowOutcome

SAMPLES_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("sample", "string"),
        dg.TableColumn("input", "string", description="from the pinned dataset"),
        dg.TableColumn("reference", "string", description="from the pinned dataset"),
        dg.TableColumn("prediction", "string", description="the model's answer or ranking"),
        dg.TableColumn("score", "float", description="the primary metric; empty: unanswered"),
    ]
)
CLAIMS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("metric", "string"),
        dg.TableColumn("claimed", "float", description="the card's model-index; empty: none"),
        dg.TableColumn("measured", "float", description="shadow evaluation, pinned dataset"),
        dg.TableColumn("ci_low", "float", description="95% bootstrap interval, low"),
        dg.TableColumn("ci_high", "float", description="95% bootstrap interval, high"),
        dg.TableColumn("verdict", "string"),
    ]
)
LEADERBOARD_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("task", "string"),
        dg.TableColumn("model_id", "string", description="(chance: ...) rows: trivial system"),
        dg.TableColumn("dataset", "string", description="the evaluation set (one row per set)"),
        dg.TableColumn(
            "comparable",
            "string",
            description="the comparability key (set revision and fingerprint, scorer, backend, "
            "generation settings): scores are ranked only against the same key",
        ),
        dg.TableColumn("rank", "int", description="rank among scores with the same key"),
        dg.TableColumn(
            "contamination",
            "string",
            description="zero_shot, or the model was trained on the set: declared_overlap "
            "(its card or an ancestor's declares it), measured_overlap (n-grams found)",
        ),
        # the verdicts first: a wide table shows them without scrolling
        dg.TableColumn("gate_passed", "bool"),
        dg.TableColumn("above_chance", "bool", description="ci_low > chance"),
        dg.TableColumn("claim", "string", description="consistent or contradicted"),
        dg.TableColumn("metric", "string", description="the task's primary metric"),
        dg.TableColumn("score", "float"),
        dg.TableColumn("ci_low", "float", description="95% bootstrap interval, low"),
        dg.TableColumn("ci_high", "float", description="95% bootstrap interval, high"),
        dg.TableColumn("chance", "float", description="the chance baseline on the same samples"),
        dg.TableColumn("claimed", "float", description="the card's claim, same metric"),
        dg.TableColumn("net_score", "float"),
        dg.TableColumn("backend", "string"),
    ]
)


def regression_check(compared: list[ShadowOutcome], findings: list[str]) -> dg.AssetCheckResult:
    """The regression check's verdict over every set compared, one row per (set, metric)."""
    return dg.AssetCheckResult(
        check_name="no_significant_regression",
        passed=not findings,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(findings)
        or "; ".join(f"{o.pin.repo_id}: {o.comparison.summary()}" for o in compared),
        metadata={
            "findings": "; ".join(findings) or "no significant drop",
            "compared_samples": sum(o.comparison.shared for o in compared),
            "alpha": compared[0].comparison.alpha,
            "tests": dg.MetadataValue.table(
                records=[
                    dg.TableRecord(
                        {
                            "dataset": o.pin.repo_id,
                            "metric": t["metric"],
                            "test": t["test"],
                            "old": round(t["old"], 4),
                            "new": round(t["new"], 4),
                            "delta": round(t["delta"], 4),
                            "p": round(t["p"], 4),
                            "p_holm": round(t["p_holm"], 4),
                            "dropped": t["dropped"],
                        }
                    )
                    for o in compared
                    for t in o.comparison.tests
                ],
                schema=REGRESSION_SCHEMA,
            ),
        },
    )


def sets_table(outcomes: list[ShadowOutcome]) -> dg.TableMetadataValue:
    """Every pinned set of the model's task: what happened, whether the model was trained
    on it, and the primary metric with its interval and the chance level."""
    rows = []
    for o in outcomes:
        m = o.measurement
        primary = PRIMARY[m.task][0] if m else ""
        low, high = (m.interval(primary) or (None, None)) if m else (None, None)
        rows.append(
            dg.TableRecord(
                {
                    "dataset": f"{o.pin.repo_id}@{o.pin.revision[:12]}" if o.pin else "",
                    "outcome": o.status if m else o.reason[:200],
                    "contamination": m.flag if m else "",
                    "metric": primary,
                    "score": round(float(m.scores.get(primary, 0.0)), 3) if m else None,
                    "ci_low": low,
                    "ci_high": high,
                    "chance": m.chance(primary) if m else None,
                }
            )
        )
    return dg.MetadataValue.table(records=rows, schema=SETS_SCHEMA)


SETS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("dataset", "string", description="a pinned set of the model's task"),
        dg.TableColumn("outcome", "string"),
        dg.TableColumn(
            "contamination",
            "string",
            description="zero_shot, declared_overlap or measured_overlap (docs/evaluation.md)",
        ),
        dg.TableColumn("metric", "string", description="the task's primary metric"),
        dg.TableColumn("score", "float"),
        dg.TableColumn("ci_low", "float", description="95% bootstrap interval, low"),
        dg.TableColumn("ci_high", "float", description="95% bootstrap interval, high"),
        dg.TableColumn("chance", "float", description="the chance baseline, same samples"),
    ]
)


REGRESSION_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("dataset", "string"),
        dg.TableColumn("metric", "string"),
        dg.TableColumn("test", "string", description="mcnemar (binary) or paired_bootstrap"),
        dg.TableColumn("old", "float", description="previous evaluation, shared samples"),
        dg.TableColumn("new", "float", description="this evaluation, shared samples"),
        dg.TableColumn("delta", "float"),
        dg.TableColumn("p", "float", description="one-sided, for a drop"),
        dg.TableColumn("p_holm", "float", description="Holm-adjusted across the task's metrics"),
        dg.TableColumn("dropped", "bool", description="delta < 0 and p_holm < alpha"),
    ]
)


def api_metadata(api: dict) -> dict:
    """The inference API's figures as plottable numbers (empty for a local evaluation)."""
    if not api:
        return {}
    out: dict = {
        f"api_{k}": dg.MetadataValue.int(int(api[k]))
        for k in ("requests", "answered", "misses", "rate_limited", "errors", "bypassed")
    }
    out["api_breaker_trips"] = dg.MetadataValue.int(int(api.get("breaker_trips", 0)))
    for k in ("p50_ms", "p95_ms"):
        if api.get(k) is not None:
            out[f"api_{k}"] = dg.MetadataValue.float(float(api[k]))
    out["api_within_budget"] = bool(api.get("within_budget"))
    out["api_url"] = dg.MetadataValue.url(api["url"]) if api.get("url") else ""
    return out
