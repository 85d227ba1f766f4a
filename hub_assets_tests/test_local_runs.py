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
