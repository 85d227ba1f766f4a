"""Each metric is defined once, and every view of the metrics agrees with that table."""

from hub_assets.gate.config import load_gate_config
from hub_assets.metrics.table import (
    ALL_METRICS,
    DISPLAY_NAMES,
    GATE_METRICS,
    METRICS,
    NDJSON_ORDER,
    NET_WEIGHTS,
)


def test_the_table_is_consistent():
    assert len({m.name for m in METRICS}) == len(METRICS)
    assert abs(sum(NET_WEIGHTS.values()) - 1.0) < 1e-9
    assert set(NDJSON_ORDER) == set(ALL_METRICS) and NDJSON_ORDER[0] == "net_score"
    assert set(DISPLAY_NAMES) == set(ALL_METRICS)
    assert "tree_score" not in GATE_METRICS and "performance_claims" in GATE_METRICS


def test_the_shipped_gate_config_judges_exactly_the_gate_metrics():
    assert set(load_gate_config().thresholds) == set(GATE_METRICS)
