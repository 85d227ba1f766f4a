"""Every trust metric, defined once: name, display name, code version, net-score weight,
whether the gate judges it, and its place in the NDJSON record. Everything else reads this.

Change a formula: bump its `code_version`, and every model is rescored on that metric.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricSpec:
    """One trust metric's facts."""

    name: str
    display: str
    code_version: str
    weight: float  # in net_score (the weights sum to 1)
    gate: bool  # judged by the quality gate against a threshold
    ndjson_order: int  # position in the `hub-assets score` line


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("license", "License", "1", 0.15, True, 4),
    MetricSpec("size_score", "Size Score", "2", 0.10, True, 5),
    MetricSpec("ramp_up_time", "Ramp-Up Time", "1", 0.10, True, 1),
    MetricSpec("bus_factor", "Bus Factor", "1", 0.10, True, 2),
    MetricSpec("performance_claims", "Performance Claims", "2", 0.10, True, 3),
    MetricSpec("dataset_and_code_score", "Dataset/Code Score", "1", 0.10, True, 6),
    MetricSpec("dataset_quality", "Dataset Quality", "1", 0.05, True, 7),
    MetricSpec("code_quality", "Code Quality", "1", 0.05, True, 8),
    MetricSpec("reproducibility", "Reproducibility", "3", 0.10, True, 9),
    MetricSpec("security", "Security", "2", 0.10, True, 10),
    MetricSpec("tree_score", "Tree Score", "2", 0.05, False, 11),
    # judged by the gate, not weighed in net_score (docs/metrics.md: licence obligations)
    MetricSpec("licence_obligations", "Licence Obligations", "1", 0.0, True, 12),
    MetricSpec("net_score", "Net Score", "1", 0.0, False, 0),
)
BY_NAME = {m.name: m for m in METRICS}

GATE_METRICS = tuple(m.name for m in METRICS if m.gate)
ALL_METRICS = tuple(m.name for m in METRICS)
CODE_VERSIONS = {m.name: m.code_version for m in METRICS}
NET_WEIGHTS = {m.name: m.weight for m in METRICS if m.name != "net_score"}
DISPLAY_NAMES = {m.name: m.display for m in METRICS}
NDJSON_ORDER = tuple(m.name for m in sorted(METRICS, key=lambda m: m.ndjson_order))
