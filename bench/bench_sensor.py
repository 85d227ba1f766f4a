"""The candidate sensor's ticks with 10,000 partitions, against ticks with 100 (same run).

A registry gets N candidate events (N new models), the Dagster instance N dynamic
partitions already added (the steady state of a large registry); then
`candidate_models_sensor` is evaluated with `build_sensor_context`, tick after tick with
the cursor it returns, until every event is handled (at most MAX_RUN_REQUESTS_PER_TICK run
requests a tick), and once more with nothing new. The baseline is the same with 100 models.

Prints the tick times, `ratio_tick_per_model=` (time per handled event at N / time per
event at 100: near 1 means the ticks scale linearly), `max_tick_ms=` (the slowest tick at
N: bounded by the per-tick cap, not by N) and `idle_tick_ms=` (nothing new at N: flat).

    .venv/bin/python bench/bench_sensor.py [--partitions 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dagster as dg  # noqa: E402

from hub_assets.definitions import defs  # noqa: E402
from hub_assets.defs.discovery.sensors import (  # noqa: E402
    MAX_RUN_REQUESTS_PER_TICK,
    candidate_models_sensor,
)
from hub_assets.registry.store import Registry  # noqa: E402
from hub_assets.resources import PipelineResource  # noqa: E402


def registry_with(n: int, folder: Path) -> Registry:
    """A registry with `n` candidate models, one candidate event each."""
    registry = Registry(folder / "registry.duckdb")
    registry.ensure_schema()
    now = datetime.now(UTC)
    with registry.write() as con:
        con.executemany(
            "INSERT INTO model_status_events (model_id, status, reason, revision_sha, run_id, "
            "created_at) VALUES (?, 'candidate', 'bench', ?, 'bench', ?)",
            [(f"bench-org/model-{i:06d}", f"{i:040x}", now) for i in range(n)],
        )
    return registry


def ticks(n: int) -> tuple[list[float], float, int]:
    """(seconds of each tick until all is handled, idle tick s, run requests in all)."""
    with tempfile.TemporaryDirectory() as tmp:
        registry = registry_with(n, Path(tmp))
        resources = {"pipeline": PipelineResource.of(registry=registry.location)}
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(
                "hf_models", [f"bench-org/model-{i:06d}" for i in range(n)]
            )
            cursor, times, requested = None, [], 0
            while True:
                with dg.build_sensor_context(
                    instance_ref=instance.get_ref(),
                    definitions=defs,
                    resources=resources,
                    cursor=cursor,
                ) as ctx:
                    started = time.perf_counter()
                    result = candidate_models_sensor.evaluate_tick(ctx)
                    elapsed = time.perf_counter() - started
                if not result.run_requests:
                    return times, elapsed, requested
                times.append(elapsed)
                requested += len(result.run_requests)
                cursor = result.cursor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=10_000)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.partitions = 100
    base, base_idle, base_runs = ticks(100)
    times, idle, runs = ticks(args.partitions)
    assert runs == args.partitions and base_runs == 100
    print(
        f"baseline: 100 partitions, {len(base)} tick(s) {sum(base) * 1000:.0f} ms, "
        f"idle {base_idle * 1000:.0f} ms"
    )
    print(
        f"ours: {args.partitions:,} partitions, {len(times)} ticks of at most "
        f"{MAX_RUN_REQUESTS_PER_TICK:,} run requests, {sum(times) * 1000:.0f} ms in all, "
        f"idle {idle * 1000:.0f} ms"
    )
    print(f"ratio_tick_per_model={(sum(times) / runs) / (sum(base) / base_runs):.2f}")
    print(f"max_tick_ms={max(times) * 1000:.0f}")
    print(f"idle_tick_ms={idle * 1000:.0f}")


if __name__ == "__main__":
    main()
