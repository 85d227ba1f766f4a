"""Health for a large registry: every judged model's health (`ok`, `stale`, `at_risk`,
`revoked`) with its reason, in one registry query, for 100,000 synthetic models built with
each case in a known share.

Prints `health_s=` (target <= 30 s for 100,000), the counts against the shares the data was
built with, `scan_s=` (a plain aggregate over the same tables: the latest gate result per
model) and `ratio_vs_scan=`.

Usage: python bench/bench_health.py [--tiny]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub_assets.registry.health import health_counts, model_health  # noqa: E402
from hub_assets.registry.store import Registry  # noqa: E402

TINY = "--tiny" in sys.argv
MODELS = 2_000 if TINY else 100_000
GATE = "gate-B"
SCANNERS = "scan-B"  # the comparability key of a security verdict made now
SCORER = "1"


def fill(registry: Registry, n: int) -> dict[str, int]:
    """`n` approved models: i % 10 == 1 judged under the old gate (stale), == 2 upstream
    moved (at_risk), == 3 revoked, == 4 scanned under old scanner rules (stale), == 5 an
    open regression (at_risk), the rest ok; each has an evaluation run. Returns the
    expected counts."""
    sha = "md5('r' || i) || 'abcdefgh'"
    with registry.write() as con:
        con.execute(
            "INSERT INTO models (model_id, sha, first_seen, last_seen) "
            f"SELECT 'org/m' || i, CASE WHEN i % 10 = 2 THEN md5('new' || i) || 'abcdefgh' "
            f"ELSE {sha} END, now(), now() FROM range(?) t(i)",
            [n],
        )
        con.execute(
            "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, "
            "message, thresholds, config_version, target_device, run_id, created_at) "
            f"SELECT 'org/m' || i, {sha}, true, '[]', 'ok', '{{}}', "
            f"CASE WHEN i % 10 = 1 THEN 'gate-A' ELSE '{GATE}' END, 'jetson_nano', 'b', now() "
            "FROM range(?) t(i)",
            [n],
        )
        con.execute(
            "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
            "size_bytes, sha256, manifest, model_card, run_id, created_at) "
            f"SELECT 'p' || i, 'org-m' || i, '1.0.0', 'org/m' || i, {sha}, '/p.zip', 1, 'x', "
            "'{}', '', 'b', now() FROM range(?) t(i)",
            [n],
        )
        con.execute(
            "INSERT INTO metric_values (model_id, revision_sha, metric, value, run_id, "
            f"created_at, basis_key) SELECT 'org/m' || i, {sha}, 'security', 1.0, 'b', now(), "
            f"CASE WHEN i % 10 = 4 THEN 'scan-A' ELSE '{SCANNERS}' END FROM range(?) t(i)",
            [n],
        )
        con.execute(
            "INSERT INTO eval_runs (eval_run_id, cache_key, model_id, revision_sha, task, "
            "dataset_repo, dataset_revision, dataset_fingerprint, generation_config, "
            "scorer_version, scores, claims, samples, failed_samples, run_id, created_at, "
            f"regression) SELECT 'e' || i, 'k' || i, 'org/m' || i, {sha}, 'qa', 'org/set', "
            f"'r', 'f', '{{}}', '{SCORER}', '{{}}', '[]', 1, 0, 'b', now(), CASE WHEN "
            'i % 10 = 5 THEN \'{"findings": ["f1 dropped"], "summary": "f1 dropped"}\' '
            'ELSE \'{"findings": [], "summary": "none"}\' END FROM range(?) t(i)',
            [n],
        )
        con.execute(
            "INSERT INTO model_status_events (model_id, status, reason, revision_sha, run_id, "
            f"created_at) SELECT 'org/m' || i, CASE WHEN i % 10 = 3 THEN 'revoked' ELSE "
            f"'ingested' END, 'b', {sha}, 'b', now() FROM range(?) t(i)",
            [n],
        )
    tenth = n // 10
    return {"ok": n - 5 * tenth, "stale": 2 * tenth, "at_risk": 2 * tenth, "revoked": tenth}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(Path(tmp) / "registry.duckdb")
        registry.ensure_schema()
        expected = fill(registry, MODELS)
        with registry.read() as con:
            started = time.perf_counter()
            rows = model_health(con, GATE, 7, scanner_key=SCANNERS, scorer_version=SCORER)
            health_s = time.perf_counter() - started
            counts = health_counts(con, GATE, 7, scanner_key=SCANNERS, scorer_version=SCORER)
            started = time.perf_counter()
            con.execute(
                "SELECT model_id, arg_max(passed, created_at) FROM gate_results GROUP BY ALL"
            ).fetchall()
            scan_s = time.perf_counter() - started
    print(f"models={MODELS} judged={len(rows)}")
    print(f"counts={counts} (built: {expected})")
    print(f"health_s={health_s:.2f} (target <= 30 s for 100,000)")
    print(f"scan_s={scan_s:.2f}")
    print(f"ratio_vs_scan={health_s / scan_s:.1f}")
    if counts != expected:
        raise SystemExit("the health counts differ from what the data was built with")


if __name__ == "__main__":
    main()
