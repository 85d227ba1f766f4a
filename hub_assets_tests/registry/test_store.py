"""The registry file: migrations, transactions, locking."""

import subprocess
import sys
import textwrap

import duckdb
import pytest

from hub_assets.errors import RegistryError
from hub_assets.registry import models as reg
from hub_assets.registry.migrations import LATEST, current_version, migrate
from hub_assets.registry.store import Registry


def test_migrations_upgrade_an_older_schema_and_keep_its_data(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert migrate(con, target=1) == [1]
    con.execute(
        "INSERT INTO models (model_id, sha, first_seen, last_seen) "
        "VALUES ('a/b', 'abc', now(), now())"
    )
    con.close()
    registry = Registry(path)
    with pytest.raises(RegistryError, match="schema version 1"):
        with registry.read():
            pass
    assert registry.ensure_schema() == list(range(2, LATEST + 1))
    assert registry.ensure_schema() == []  # idempotent
    with registry.read() as con:
        assert current_version(con) == LATEST
        assert con.execute("SELECT model_id, sha FROM models").fetchall() == [("a/b", "abc")]
        assert con.execute("SELECT count(*) FROM model_revisions").fetchone() == (0,)


def test_a_failed_write_leaves_nothing(registry):
    with pytest.raises(RuntimeError, match="boom"):
        with registry.write() as con:
            reg.append_status(con, "a/b", "discovered", run_id="r1")
            raise RuntimeError("boom")
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM model_status_events").fetchone() == (0,)


def test_reading_a_missing_registry_says_what_to_do(tmp_path):
    with pytest.raises(RegistryError, match="No registry at .*Run discovery first"):
        with Registry(tmp_path / "none.duckdb").read():
            pass


def test_unknown_status_is_rejected(registry):
    with pytest.raises(ValueError, match="Unknown lifecycle status 'approved'"):
        with registry.write() as con:
            reg.append_status(con, "a/b", "approved", run_id="r")


def test_threads_of_one_process_writing_at_once_get_distinct_ids(registry):
    """Threads share the file's optimistic transactions: without the in-process writer slot
    two new ingest requests read the same max(id) and one commit fails."""
    from concurrent.futures import ThreadPoolExecutor

    from hub_assets.registry import packages as reg_packages

    def add(i: int) -> int:
        with Registry(registry.path).write() as con:  # a Registry per thread, as the service
            return reg_packages.add_request(con, f"org/m{i}", "", None)

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(add, range(40)))
    assert sorted(ids) == list(range(1, 41))
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM ingest_requests").fetchone() == (40,)


WRITER = textwrap.dedent(
    """
    import sys
    from hub_assets.registry.store import Registry
    from hub_assets.registry import models as reg
    r = Registry(sys.argv[1])
    for i in range(15):
        with r.write() as con:
            reg.append_status(con, f"{sys.argv[2]}/m{i}", "discovered", run_id=sys.argv[2])
    """
)


def test_two_writer_processes_at_once_both_finish(registry):
    registry.ensure_schema()
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(registry.path), name])
        for name in ("w1", "w2")
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with registry.read() as con:
        counts = dict(
            con.execute(
                "SELECT run_id, count(*) FROM model_status_events GROUP BY run_id"
            ).fetchall()
        )
    assert counts == {"w1": 15, "w2": 15}


HOLDER = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("locked", flush=True)
    time.sleep(5)
    """
)


def test_a_writer_gives_up_with_a_clear_error_when_the_lock_stays_held(registry):
    registry.ensure_schema()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(registry.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        impatient = Registry(registry.path, lock_timeout_s=0.5)
        with pytest.raises(RegistryError, match="stayed locked by another writer"):
            with impatient.write():
                pass
    finally:
        holder.kill()
        holder.wait()


def test_a_file_that_is_no_registry_is_refused_at_once_naming_it(tmp_path):
    """Not another process's lock: no waiting out the lock timeout, and the message names
    the file, for reads, writes and typed SQL alike."""
    import time

    junk = tmp_path / "registry.duckdb"
    junk.write_bytes(b"not a DuckDB database, but a file of the same name" * 100)
    patient = Registry(junk, lock_timeout_s=30)
    started = time.monotonic()
    for opening in (patient.read, patient.write):
        with pytest.raises(RegistryError, match=f"Cannot open the registry {junk}"):
            with opening():
                pass
    with pytest.raises(RegistryError, match=f"Cannot open the registry {junk}"):
        patient._connect_apart()  # typed SQL's own DuckDB, past the read that checks first
    assert time.monotonic() - started < 5


def test_cached_reads_are_dropped_by_any_write(tmp_path):
    """`Registry.cached` answers from memory only while no write has committed, from this
    process or another connection."""
    from hub_assets.registry.models import append_status
    from hub_assets.registry.store import Registry

    registry = Registry(tmp_path / "r.duckdb")
    registry.ensure_schema()
    calls = []

    def count(con):
        calls.append(1)
        return con.execute("SELECT count(*) FROM model_status_events").fetchone()[0]

    assert registry.cached("n", count) == 0
    assert registry.cached("n", count) == 0 and len(calls) == 1  # from memory
    other = Registry(registry.path)  # another writer, as Dagster would be
    with other.write() as con:
        append_status(con, "org/m", "discovered", run_id="r")
    assert registry.cached("n", count) == 1 and len(calls) == 2
    assert registry.cached("n", count) == 1 and len(calls) == 2


def test_the_latest_gate_result_is_one_definition_the_newest_decision(tmp_path):
    """`latest_gate_result`, the approval evidence and `v_gate` read one view, and it is
    the newest decision whole: an override of an older decision does not leak into it."""
    import time as _time

    from hub_assets.registry.evidence import revision_evidence
    from hub_assets.registry.metrics import latest_gate_result, write_gate_result
    from hub_assets.registry.store import Registry

    registry = Registry(tmp_path / "registry.duckdb")
    registry.ensure_schema()
    common = {"model_id": "org/m", "sha": "a" * 40, "thresholds": {"license": 0.5}}
    with registry.write() as con:
        write_gate_result(
            con,
            **common,
            passed=True,
            failed=[],
            message="accepted by override",
            config_version="1",
            target_device="cpu",
            run_id="r1",
            override={"by": "alice", "why": "reviewed"},
        )
    _time.sleep(0.01)
    with registry.write() as con:
        write_gate_result(
            con,
            **common,
            passed=False,
            failed=[{"metric": "license"}],
            message="no",
            config_version="2",
            target_device="cpu",
            run_id="r2",
        )
    with registry.read() as con:
        latest = latest_gate_result(con, "org/m", "a" * 40)
        gate = revision_evidence(con, "org/m", "a" * 40)["gate"]
    assert latest == {
        "passed": False,
        "message": "no",
        "failed_metrics": [{"metric": "license"}],
        "config_version": "2",
    }
    assert gate["run_id"] == "r2" and gate["override"] is None and gate["config_version"] == "2"


def test_threads_reading_and_writing_at_once_all_finish(registry):
    """Threads of one process share the file's attachment: readers together, a reader inside
    its own read or write at once (even while a writer waits), a writer after the readers."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    registry.ensure_schema()
    waiting = threading.Event()

    def work(i: int) -> int:
        if i % 3 == 0:
            with registry.write() as con:
                reg.append_status(con, f"org/m{i}", "discovered", run_id="t")
                with registry.read() as inner:  # a read inside its own write
                    inner.execute("SELECT count(*) FROM model_status_events").fetchone()
            return 1
        with registry.read() as con:
            waiting.wait(0.01)
            with registry.read() as inner:  # nested: never waits on a queued writer
                inner.execute("SELECT count(*) FROM models").fetchone()
        return 0

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(work, range(60))) == 20
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM model_status_events").fetchone() == (20,)


FREE = textwrap.dedent(
    """
    import sys, duckdb
    try:
        duckdb.connect(sys.argv[1]).close()
        print("opened")
    except duckdb.Error as e:
        print("locked" if "lock" in str(e).lower() else repr(e))
    """
)


def test_the_file_is_free_for_another_process_once_the_last_use_ends(registry):
    """An attachment holds the file's lock while some thread uses it, and not a moment
    longer: the process's DuckDB outlives it, its lock does not."""
    registry.ensure_schema()

    def other_process() -> str:
        return subprocess.run(
            [sys.executable, "-c", FREE, str(registry.path)], capture_output=True, text=True
        ).stdout.strip()

    with registry.read():
        assert other_process() == "locked"
    assert other_process() == "opened"
    with registry.write():
        assert other_process() == "locked"
    assert other_process() == "opened"


def test_a_forked_child_opens_the_registry_on_its_own(registry):
    """A fork (a worker pool's child) gets a DuckDB of its own, not its parent's."""
    import os

    with registry.write() as con:
        reg.append_status(con, "org/parent", "discovered", run_id="p")
    pid = os.fork()
    if pid == 0:  # the child: write, read, exit without running the parent's clean-up
        try:
            with registry.write() as con:
                reg.append_status(con, "org/child", "discovered", run_id="c")
            with registry.read() as con:
                n = con.execute("SELECT count(*) FROM model_status_events").fetchone()[0]
            os._exit(0 if n == 2 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM model_status_events").fetchone() == (2,)


def test_two_registries_at_once_each_report_their_own_schema(tmp_path):
    """Both attached to the process's DuckDB at once: each reads its own version."""
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    migrate(con, target=1)
    con.close()
    current = Registry(tmp_path / "current.duckdb")
    current.ensure_schema()
    with current.read() as con:
        assert current_version(con) == LATEST
        with pytest.raises(RegistryError, match="schema version 1"):
            with Registry(old).read():
                pass
