"""The candidate sensor, evaluated with build_sensor_context + evaluate_tick."""

import dagster as dg

from hub_assets.definitions import defs
from hub_assets.defs.discovery.sensors import candidate_models_sensor
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.pipeline.discover import discover
from hub_assets.registry.store import Registry
from hub_assets.resources import PipelineResource


def tick(instance, registry: Registry, cursor=None):
    """One tick, as the daemon runs it: partitions added in the tick resolve (instance_ref)."""
    with dg.build_sensor_context(
        instance_ref=instance.get_ref(),
        cursor=cursor,
        definitions=defs,
        resources={"pipeline": PipelineResource.of(registry=registry.location)},
    ) as ctx:
        return candidate_models_sensor.evaluate_tick(ctx)


def test_new_candidates_get_partitions_and_runs_then_nothing(discovered):
    registry, outcome = discovered
    with dg.instance_for_test() as instance:
        first = tick(instance, registry)
        keys = sorted(r.partition_key for r in first.run_requests)
        assert keys == sorted(outcome.candidates)
        assert len(keys) == 17
        [add] = first.dynamic_partitions_requests
        assert add.partitions_def_name == "hf_models" and sorted(add.partition_keys) == keys
        by_key = {r.partition_key: r for r in first.run_requests}
        some = keys[0]
        assert by_key[some].run_key == f"{some}@{outcome.candidates[some]}"
        with registry.read() as con:
            last_event = con.execute("SELECT max(event_id) FROM model_status_events").fetchone()[0]
        assert first.cursor == str(last_event)

        instance.add_dynamic_partitions("hf_models", keys)
        second = tick(instance, registry, cursor=first.cursor)
        assert not second.run_requests and second.skip_message.startswith("No new candidate")


def test_a_changed_revision_requests_one_run_and_no_new_partition(mutable_hub, registry, tmp_path):
    client = HubClient(
        HubSettings(requests_per_second=0, endpoint=mutable_hub.url, cache_dir=tmp_path / "c")
    )
    discover(client, registry, run_id="r1", pipeline_tags=["text-generation"])
    with dg.instance_for_test() as instance:
        first = tick(instance, registry)
        instance.add_dynamic_partitions("hf_models", ["acme/small"])
        new = mutable_hub.catalog.commit(
            "model",
            "acme/small",
            {"x.txt": b"x"},
            authors=["b"],
            title="t",
            date="2026-05-01T00:00:00Z",
        )
        discover(client, registry, run_id="r2", pipeline_tags=["text-generation"])
        second = tick(instance, registry, cursor=first.cursor)
        assert [r.run_key for r in second.run_requests] == [f"acme/small@{new.sha}"]
        assert second.dynamic_partitions_requests == []
        assert int(second.cursor) > int(first.cursor)


def test_no_registry_yet_is_a_skip(tmp_path):
    with dg.instance_for_test() as instance:
        result = tick(instance, Registry(tmp_path / "missing.duckdb"))
    assert not result.run_requests and "No registry" in result.skip_message


def test_a_flood_of_candidates_is_requested_a_bounded_batch_per_tick(tmp_path):
    from datetime import UTC, datetime

    from hub_assets.defs.discovery.sensors import MAX_RUN_REQUESTS_PER_TICK

    extra = 150
    models = [f"flood-org/model-{i:05d}" for i in range(MAX_RUN_REQUESTS_PER_TICK + extra)]
    registry = Registry(tmp_path / "registry.duckdb")
    registry.ensure_schema()
    with registry.write() as con:
        con.executemany(
            "INSERT INTO model_status_events (model_id, status, reason, revision_sha, run_id, "
            "created_at) VALUES (?, 'candidate', 'flood', ?, 'r', ?)",
            [(m, f"{i:040x}", datetime.now(UTC)) for i, m in enumerate(models)],
        )
    with dg.instance_for_test() as instance:
        first = tick(instance, registry)
        assert len(first.run_requests) == MAX_RUN_REQUESTS_PER_TICK
        [add] = first.dynamic_partitions_requests
        assert len(add.partition_keys) == MAX_RUN_REQUESTS_PER_TICK
        instance.add_dynamic_partitions("hf_models", list(add.partition_keys))
        second = tick(instance, registry, cursor=first.cursor)
        requested = [r.partition_key for r in first.run_requests + second.run_requests]
        assert sorted(requested) == models  # every model once, none twice
        third = tick(instance, registry, cursor=second.cursor)
        assert not third.run_requests
