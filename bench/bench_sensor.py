"""The candidate sensor's tick with 10,000 partitions, against a tick with 100 (same run).

A registry gets N candidate events (N new models), the Dagster instance N dynamic
partitions already added (the steady state of a large registry); then
`candidate_models_sensor` is evaluated with `build_sensor_context`: a first tick that
handles every event since the cursor (N run requests), and a second tick with nothing new.
The baseline is the same with 100 models.

Prints the tick times and `ratio_first_tick_per_model=` (time per handled event at N /
time per event at 100: near 1 means the tick scales linearly) and `idle_tick_ms=` (the
tick with nothing new at N; it should stay flat).

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
from hub_assets.defs.discovery.sensors import candidate_models_sensor  # noqa: E402
from hub_assets.registry.store import Registry  # noqa: E402
from hub_assets.resources import RegistryResource  # noqa: E402


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


def ticks(n: int) -> tuple[float, float, int]:
    """(first tick s, idle tick s, run requests of the first tick) with `n` partitions."""
    with tempfile.TemporaryDirectory() as tmp:
        registry = registry_with(n, Path(tmp))
        resources = {"registry": RegistryResource(path=str(registry.path))}
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(
                "hf_models", [f"bench-org/model-{i:06d}" for i in range(n)]
            )
            with dg.build_sensor_context(
                instance_ref=instance.get_ref(), definitions=defs, resources=resources
            ) as ctx:
                started = time.perf_counter()
                first = candidate_models_sensor.evaluate_tick(ctx)
                first_s = time.perf_counter() - started
            with dg.build_sensor_context(
                instance_ref=instance.get_ref(),
                definitions=defs,
                resources=resources,
                cursor=first.cursor,
            ) as ctx:
                started = time.perf_counter()
                idle = candidate_models_sensor.evaluate_tick(ctx)
                idle_s = time.perf_counter() - started
            assert not idle.run_requests
    return first_s, idle_s, len(first.run_requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=10_000)
    args = parser.parse_args()
    base_first, base_idle, base_runs = ticks(100)
    first, idle, runs = ticks(args.partitions)
    assert runs == args.partitions and base_runs == 100
    print(
        f"baseline: 100 partitions, first tick {base_first * 1000:.0f} ms, "
        f"idle {base_idle * 1000:.0f} ms"
    )
    print(
        f"ours: {args.partitions:,} partitions, first tick {first * 1000:.0f} ms "
        f"({runs:,} run requests), idle {idle * 1000:.0f} ms"
    )
    print(f"ratio_first_tick_per_model={(first / runs) / (base_first / base_runs):.2f}")
    print(f"idle_tick_ms={idle * 1000:.0f}")


if __name__ == "__main__":
    main()
