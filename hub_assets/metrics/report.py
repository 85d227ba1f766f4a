"""The familiar one-line-per-model score record (NDJSON), for `hub-assets score`."""

from __future__ import annotations

from collections.abc import Mapping

from hub_assets.metrics.scoring import ScoredMetric
from hub_assets.metrics.table import NDJSON_ORDER


def score_record(model_id: str, scored: Mapping[str, ScoredMetric]) -> dict:
    """`name`, `category`, each metric with its `*_latency` in ms; size_score per device."""
    out: dict = {"name": model_id, "category": "MODEL"}
    for metric in NDJSON_ORDER:
        s = scored[metric]
        if metric == "size_score":
            out[metric] = dict((s.details or {}).get("per_device") or {})
        else:
            out[metric] = round(s.value, 2)
        out[f"{metric}_latency"] = int(round(s.latency_ms))
    return out
