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


def _children(name: str) -> list[int]:
    """The pids of this process's children called `name` (from /proc)."""
    import os
    from pathlib import Path

    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue  # gone meanwhile
        if fields.get("PPid") == str(os.getpid()) and fields.get("Name") == name:
            found.append(int(status.parent.name))
    return found


def test_a_run_in_a_background_process_leaves_nothing_that_ignores_sigterm(
    hub_server, registry, tmp_path
):
    """Started in the background (SIGINT ignored) or with SIGTERM ignored, `ingest --wait`
    still stops the `tail` processes Dagster starts to copy each step's log, and leaves the
    process's handlers as it found them, bar an ignored SIGTERM. Before, each step waited
    30 s on a `tail` that ignored SIGTERM, and the `tail`s outlived the process, holding its
    caller's pipes open."""
    import signal
    import time

    from click.testing import CliRunner

    from hub_assets.cli import main
    from hub_assets_tests.conftest import pipeline_env

    before = set(_children("tail"))
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with pipeline_env(hub_server.url, registry, tmp_path):
            started = time.monotonic()
            missing = CliRunner().invoke(main, ["ingest", "nobody/nothing", "--wait"])
            took = time.monotonic() - started
            assert missing.exit_code == 3, missing.output
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
            with dg.DagsterInstance.get() as instance:
                (run,) = instance.get_runs()
                assert instance.all_logs(run.run_id)  # its steps ran and were logged
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert took < 25, f"the run took {took:.0f} s: a step waited on its log's tail"
    assert set(_children("tail")) <= before
