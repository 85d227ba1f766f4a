"""A proposed gate config tried on a large registry: `gate diff` against gating every
revision again one at a time (as the pipeline's gate step does), in the same run.

10,000 synthetic judged revisions (each with the 12 gate metrics stored and a recorded
verdict) are written straight into a fresh registry. Then:
- `gate_diff_s=`: the whole diff under a proposed config (bus_factor 0.5 -> 0.6), from
  stored evidence alone (target <= 10 s for 10,000 revisions);
- `regate_s_estimate=`: the pipeline's own gate step (`pipeline.gate.gate_sha`: read the
  revision's metrics, decide, write the gate result and the lifecycle event), timed on 200
  revisions and scaled to all of them;
- `ratio_vs_regate=`, and `flips=` with the number the data was built to have.

Usage: python bench/bench_gate_diff.py [--tiny]
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub_assets.gate.config import load_gate_config  # noqa: E402
from hub_assets.metrics.table import GATE_METRICS  # noqa: E402
from hub_assets.pipeline.gate import gate_sha  # noqa: E402
from hub_assets.pipeline.gate_diff import gate_diff  # noqa: E402
from hub_assets.registry.store import Registry  # noqa: E402

TINY = "--tiny" in sys.argv
REVISIONS = 500 if TINY else 10_000
SAMPLE = 50 if TINY else 200


def fill(registry: Registry, n: int) -> int:
    """`n` judged revisions; every 10th has bus_factor 0.55 (passes at 0.5, not at 0.6).
    Returns how many of them the proposed config flips."""
    metrics = "[" + ", ".join(f"'{m}'" for m in GATE_METRICS) + "]"
    with registry.write() as con:
        con.execute(
            "INSERT INTO metric_values (model_id, revision_sha, metric, value, latency_ms, "
            "inputs_fingerprint, code_version, run_id, created_at, details) "
            "SELECT 'org/m' || i, md5('r' || i) || 'abcdefgh', m, "
            "CASE WHEN m = 'bus_factor' AND i % 10 = 0 THEN 0.55 ELSE 0.9 END, 1.0, 'f', 'b', "
            f"'bench', now(), NULL FROM range(?) t(i), unnest({metrics}) u(m)",
            [n],
        )
        con.execute(
            "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, "
            "message, thresholds, config_version, target_device, run_id, created_at) "
            "SELECT 'org/m' || i, md5('r' || i) || 'abcdefgh', true, '[]', 'ok', '{}', "
            "'bench', 'jetson_nano', 'bench', now() FROM range(?) t(i)",
            [n],
        )
    return (n + 9) // 10


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-gate-diff-") as tmp:
        registry = Registry(Path(tmp) / "registry.duckdb")
        registry.ensure_schema()
        expected = fill(registry, REVISIONS)
        current = load_gate_config()
        proposed = replace(
            current, version="proposed", thresholds={**current.thresholds, "bus_factor": 0.6}
        )
        started = time.perf_counter()
        diff = gate_diff(registry, current, proposed)
        diff_s = time.perf_counter() - started
        with registry.read() as con:
            sample = con.execute(
                "SELECT model_id, revision_sha FROM gate_results ORDER BY model_id LIMIT ?",
                [SAMPLE],
            ).fetchall()
        started = time.perf_counter()
        for model_id, sha in sample:
            gate_sha(registry, model_id, sha, proposed, "regate")
        regate_s = (time.perf_counter() - started) / len(sample) * REVISIONS
    print(f"revisions={REVISIONS:,} judged={diff.judged:,}")
    print(f"flips={len(diff.flips):,} expected={expected:,}")
    print(f"gate_diff_s={diff_s:.2f} (target <= 10 s for 10,000)")
    print(f"regate_s_estimate={regate_s:.1f} ({SAMPLE} revisions timed, scaled)")
    print(f"ratio_vs_regate={regate_s / diff_s:.0f}")
    if len(diff.flips) != expected or diff.judged != REVISIONS:
        raise SystemExit("the diff did not find the flips the data was built with")


if __name__ == "__main__":
    main()
