"""Re-judging after a gate change: 1,000 approved synthetic models (a live package, the 12
gate metrics stored, a passing verdict under gate A) judged again under gate B, which
tightens ramp_up_time so that every 10th fails and is revoked.

Prints:
- `rejudge_s=`: the whole pass (`pipeline.rejudge.rejudge_stale`: a read, a decision and a
  write per revision; target <= 300 s for 1,000), and `revoked=` against the number built;
- `hub_requests=0`: the pass is pointed at a development Hub with nothing in it, whose
  request log is read afterwards (it judges from stored scores only);
- `mirror_refuses_s=`: from the end of the pass until the mirror's store (refreshing every
  2 s, as `mirror serve` does) refuses a revoked model with the reason (target <= 60 s);
- `dry_run_s=` (`gate_diff`: the same decisions, nothing written), and
  `ratio_vs_dry_run=`.

Usage: python bench/bench_rejudge.py [--tiny]
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mirror_refusal import seconds_until_revoked  # noqa: E402
from hub_assets.devhub.server import HubServer  # noqa: E402
from hub_assets.gate.config import load_gate_config  # noqa: E402
from hub_assets.metrics.table import GATE_METRICS  # noqa: E402
from hub_assets.mirror.store import ApprovedStore  # noqa: E402
from hub_assets.packaging.store import PackageStore  # noqa: E402
from hub_assets.pipeline.gate_diff import gate_diff  # noqa: E402
from hub_assets.pipeline.rejudge import rejudge_stale  # noqa: E402
from hub_assets.registry.store import Registry  # noqa: E402

TINY = "--tiny" in sys.argv
MODELS = 40 if TINY else 1_000


def fill(registry: Registry, n: int) -> None:
    """`n` approved models; every 10th has ramp_up_time 0.7 (passes at 0.5, not at 0.8)."""
    metrics = "[" + ", ".join(f"'{m}'" for m in GATE_METRICS) + "]"
    sha = "md5('r' || i) || 'abcdefgh'"
    with registry.write() as con:
        con.execute(
            "INSERT INTO metric_values (model_id, revision_sha, metric, value, latency_ms, "
            "inputs_fingerprint, code_version, run_id, created_at, details) "
            f"SELECT 'org/m' || i, {sha}, m, "
            "CASE WHEN m = 'ramp_up_time' AND i % 10 = 0 THEN 0.7 ELSE 0.9 END, 1.0, 'f', "
            f"'b', 'bench', now(), NULL FROM range(?) t(i), unnest({metrics}) u(m)",
            [n],
        )
        con.execute(
            "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, "
            "message, thresholds, config_version, target_device, run_id, created_at) "
            f"SELECT 'org/m' || i, {sha}, true, '[]', 'ok', '{{}}', 'gate-A', 'jetson_nano', "
            "'bench', now() FROM range(?) t(i)",
            [n],
        )
        con.execute(
            "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
            "size_bytes, sha256, manifest, model_card, run_id, created_at) "
            f"SELECT 'p' || i, 'org-m' || i, '1.0.0', 'org/m' || i, {sha}, "
            "'/nowhere/p' || i || '.zip', 1, md5('z' || i), '{\"files\": []}', '', 'bench', "
            "now() FROM range(?) t(i)",
            [n],
        )
        con.execute(
            "INSERT INTO model_status_events (model_id, status, reason, revision_sha, run_id, "
            f"created_at) SELECT 'org/m' || i, 'ingested', 'bench', {sha}, 'bench', now() "
            "FROM range(?) t(i)",
            [n],
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "catalog").mkdir()
        registry = Registry(folder / "registry.duckdb")
        registry.ensure_schema()
        fill(registry, MODELS)
        before = load_gate_config()
        gate_a = dataclasses.replace(before, version="gate-A")
        gate_b = dataclasses.replace(
            before, version="gate-B", thresholds={**before.thresholds, "ramp_up_time": 0.8}
        )
        store = ApprovedStore(registry, PackageStore(str(folder / "packages")), refresh_s=2.0)
        store.refresh()

        started = time.perf_counter()
        dry = gate_diff(registry, gate_a, gate_b)
        dry_s = time.perf_counter() - started

        with HubServer(folder / "catalog") as hub:  # a Hub the pass could reach: it must not
            done = rejudge_stale(registry, gate_b, "bench")
            requests = hub.state.requests["total"]
        refused_s = seconds_until_revoked(store, done.revoked[0][0])

    print(f"models={MODELS} judged={done.judged} (gate-A -> gate-B, ramp_up_time 0.5 -> 0.8)")
    print(f"revoked={len(done.revoked)} (built: {MODELS // 10}) still_passing={done.still_passing}")
    print(f"rejudge_s={done.elapsed_s:.2f} (target <= 300 s for 1,000)")
    print(f"hub_requests={requests}")
    print(f"mirror_refuses_s={refused_s:.2f} (target <= 60 s)")
    print(f"dry_run_s={dry_s:.2f} (flips {len(dry.flips)})")
    print(f"ratio_vs_dry_run={done.elapsed_s / dry_s:.1f}")
    if len(done.revoked) != MODELS // 10 or requests:
        raise SystemExit("wrong revocations, or the pass reached the Hub")


if __name__ == "__main__":
    main()
