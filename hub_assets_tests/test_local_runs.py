"""The in-process stand-in for the daemon frees what killed runs left behind."""

import dagster as dg

from hub_assets.local_runs import release_abandoned_runs


def test_slots_of_gone_runs_are_freed(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("registry", 1)
        claim = storage.claim_concurrency_slot("registry", "gone-run-id", "model_metadata")
        assert claim.is_claimed
        blocked = storage.claim_concurrency_slot("registry", "new-run-id", "hub_candidates")
        assert not blocked.is_claimed
        assert release_abandoned_runs(instance) == ["gone-run-id"]
        assert storage.get_concurrency_info("registry").claimed_slots == []


def test_a_runner_that_cannot_start_fails_its_request_instead_of_hanging(
    registry, tmp_path, monkeypatch
):
    """Without a daemon the request runs on a thread here; when that runner itself fails
    (here: no Dagster home to open), the request ends failed with the error, at once,
    rather than leaving `ingest --wait` waiting out its whole timeout."""
    import time

    from hub_assets.local_runs import see_request_through
    from hub_assets.registry import packages as reg_packages

    with registry.write() as con:
        request_id = reg_packages.add_request(con, "acme/model", "", None)
    with dg.instance_for_test() as instance:
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        started = time.monotonic()
        row = see_request_through(instance, registry, request_id, timeout_s=120)
    assert time.monotonic() - started < 30
    assert row["status"] == "failed" and row["outcome"] == "error"
    assert "DAGSTER_HOME" in row["message"]
