"""The shared registry: the registry's tables in a real PostgreSQL, through DuckDB.

Many writer processes, some repeating the same rows, one killed with SIGKILL mid-write:
no row lost, no row half-written, `(name, version)` unique, every metric keeps its lineage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import psycopg
import pytest

from hub_assets.errors import RegistryError
from hub_assets.pipeline.discover import discover
from hub_assets.registry import metrics as reg_metrics
from hub_assets.registry import models as reg
from hub_assets.registry import packages as reg_packages
from hub_assets.registry.location import registry_at
from hub_assets.registry.migrations import LATEST, latest_views
from hub_assets.registry.postgres import PostgresRegistry
from hub_assets_tests.conftest import record_pass

pytestmark = pytest.mark.xdist_group("postgres")


def test_the_url_picks_the_shared_registry_and_a_password_in_it_is_refused(postgres_server):
    assert isinstance(registry_at(postgres_server.url("x")), PostgresRegistry)
    with pytest.raises(RegistryError, match="must not carry a password.*PGPASSWORD"):
        registry_at("postgresql://hub:s3cret@127.0.0.1:5432/registry")
    with pytest.raises(RegistryError, match="names no database"):
        registry_at("postgresql://hub@127.0.0.1:5432")
    with pytest.raises(RegistryError, match="not a PostgreSQL URL"):
        registry_at("postgresql://hub@h/db' AS x (TYPE duckdb)")


def test_an_unreachable_server_is_a_clear_error(tmp_path):
    from hub_assets_tests.local_servers import free_port

    registry = registry_at(f"postgresql://hub@127.0.0.1:{free_port()}/registry")
    with pytest.raises(RegistryError, match="Cannot reach the shared registry.*PostgreSQL runs"):
        with registry.write():
            pass


def test_schema_tables_in_postgres_and_views_in_duckdb(shared_registry):
    with pytest.raises(RegistryError, match="has no tables yet"):
        with shared_registry.read():
            pass
    assert shared_registry.ensure_schema() == list(range(1, LATEST + 1))
    with psycopg.connect(shared_registry.url) as pg:
        tables = {r[0] for r in pg.execute("SELECT tablename FROM pg_tables")}
        assert {"models", "metric_values", "packages", "hardware_fit"} <= tables
        assert pg.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == LATEST
    with shared_registry.read() as con:
        for view in latest_views():
            con.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
    # a second process (a new object) finds the schema current and changes nothing
    assert registry_at(shared_registry.url).ensure_schema() == []


def test_the_pipeline_writes_the_same_registry_as_the_file(hub_client, registry, shared_registry):
    """Discovery (bulk upserts, status events, scans) then the same reads, on both."""
    for target in (registry, shared_registry):
        discover(hub_client, target, run_id="run-1")
        discover(hub_client, target, run_id="run-2")  # upserts: nothing new, nothing doubled
    summaries = []
    for target in (registry, shared_registry):
        with target.read() as con:
            summaries.append(
                (
                    reg.registry_summary(con),
                    sorted(reg.candidates(con).items()),
                    con.execute("SELECT count(*), count(DISTINCT model_id) FROM models").fetchone(),
                )
            )
    assert summaries[0] == summaries[1]
    assert summaries[1][2][0] == summaries[1][2][1] > 10


def test_a_duplicate_key_is_the_same_constraint_error_and_leaves_nothing(shared_registry):
    with pytest.raises(duckdb.ConstraintException, match="duplicate key"):
        with shared_registry.write() as con:
            reg.append_status(con, "a/b", "discovered", run_id="r1")
            for _ in range(2):
                con.execute(
                    "INSERT INTO eval_datasets "
                    "VALUES ('d', 'r', 'qa', 'f', '{}', '/f', NULL, now())"
                )
    with shared_registry.read() as con:
        assert con.execute("SELECT count(*) FROM model_status_events").fetchone() == (0,)


def test_ids_the_service_hands_out_stay_unique(shared_registry):
    with shared_registry.write() as con:
        ids = [reg_packages.add_request(con, f"a/m{i}", "1.0.0", None) for i in range(3)]
    assert ids == [1, 2, 3]


WRITER = textwrap.dedent(
    """
    import sys, duckdb
    from hub_assets.registry import metrics as reg_metrics, models as reg
    from hub_assets.registry import packages as reg_packages
    from hub_assets.registry.location import registry_at

    url, worker, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    registry = registry_at(url)
    duplicates = 0
    for i in range(rounds):
        # half the writers score the same models as another, half their own
        model = f"shared/m{i}" if worker % 2 else f"own{worker}/m{i}"
        run_id = f"run-{worker}-{i}"
        try:
            with registry.write() as con:
                reg.upsert_models(con, [{"model_id": model, "sha": "s" * 40}], run_id)
                reg.append_status(con, model, "candidate", run_id=run_id)
                reg_metrics.write_metrics(con, model, "s" * 40, [{
                    "metric": "net_score", "value": 0.5, "latency_ms": 1.0,
                    "inputs_fingerprint": f"fp-{model}", "code_version": "v1",
                    "details": {"worker": worker}}], run_id)
                reg_packages.insert_package(
                    con, package_id=f"{worker}-{i}", name=model.replace("/", "-"),
                    version="1.0.0", model_id=model, revision_sha="s" * 40,
                    uri=f"file:///p/{worker}-{i}", size_bytes=1, sha256="0" * 64, manifest={},
                    model_card="card", net_score=0.5, description="", run_id=run_id)
        except duckdb.ConstraintException:
            duplicates += 1  # another writer packaged this (name, version) first
    print(duplicates)
    """
)


@pytest.mark.slow
def test_eight_concurrent_writers_lose_nothing(shared_registry):
    shared_registry.ensure_schema()
    rounds = 12
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, shared_registry.url, str(w), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(8)
    ]
    duplicates = 0
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        duplicates += int(out.strip())
    with shared_registry.read() as con:
        one = con.execute
        # 4 writers with their own models, 4 repeating the same `rounds` models
        assert one("SELECT count(*) FROM models").fetchone() == (4 * rounds + rounds,)
        # a duplicate (name, version) rolled its whole transaction back: no metric, no event
        committed = 8 * rounds - duplicates
        assert duplicates == 3 * rounds
        assert one("SELECT count(*) FROM packages").fetchone() == (committed,)
        assert one("SELECT count(*) FROM metric_values").fetchone() == (committed,)
        assert one("SELECT count(*) FROM model_status_events").fetchone() == (committed,)
        assert one(
            "SELECT count(*) FROM (SELECT name, version FROM packages GROUP BY ALL "
            "HAVING count(*) > 1)"
        ).fetchone() == (0,)
        # lineage: every metric value names its run, inputs and code, and its run wrote it
        assert one(
            "SELECT count(*) FROM metric_values v LEFT JOIN packages p USING (run_id) "
            "WHERE p.run_id IS NULL OR v.inputs_fingerprint IS NULL OR v.code_version IS NULL"
        ).fetchone() == (0,)


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time, pathlib
    from hub_assets.registry import metrics as reg_metrics, models as reg
    from hub_assets.registry.location import registry_at

    registry = registry_at(sys.argv[1])
    with registry.write() as con:
        reg.upsert_models(con, [{"model_id": "killed/m", "sha": "s" * 40}], "run-killed")
        reg_metrics.write_metrics(con, "killed/m", "s" * 40, [{
            "metric": "net_score", "value": 0.5, "latency_ms": 1.0,
            "inputs_fingerprint": "fp", "code_version": "v1", "details": None}], "run-killed")
        pathlib.Path(sys.argv[2]).write_text("mid-write")
        time.sleep(600)
    """
)


def test_a_writer_killed_mid_write_leaves_nothing_and_a_retry_completes(shared_registry, tmp_path):
    shared_registry.ensure_schema()
    flag = tmp_path / "flag"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, shared_registry.url, str(flag)])
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # PostgreSQL drops the dead session: its transaction and its write slot
    started = time.monotonic()
    with shared_registry.write() as con:
        assert con.execute("SELECT count(*) FROM models").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM metric_values").fetchone() == (0,)
    assert time.monotonic() - started < 30
    retry = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_WRITER.replace("time.sleep(600)", "pass"),
            shared_registry.url,
            str(flag),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert retry.returncode == 0, retry.stderr[-2000:]
    with shared_registry.read() as con:
        assert reg_metrics.revision_metrics(con, "killed/m", "s" * 40)["net_score"].run_id == (
            "run-killed"
        )
        assert con.execute("SELECT count(*) FROM models").fetchone() == (1,)


def test_reads_cannot_write(shared_registry):
    shared_registry.ensure_schema()
    with shared_registry.read() as con:
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("DELETE FROM models")
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CALL postgres_execute('registry', 'DELETE FROM models')")


def test_migrate_moves_a_registry_file_into_the_shared_registry(discovered, shared_registry):
    """`hub-assets migrate --from FILE`: every row, and ids continue after the copied ones."""
    from click.testing import CliRunner

    from hub_assets.cli import main

    registry, _ = discovered
    env = {"HUB_ASSETS_REGISTRY": shared_registry.url}
    result = CliRunner().invoke(main, ["migrate", "--from", str(registry.path)], env=env)
    assert result.exit_code == 0, result.output
    assert "Copied" in result.output and "model_status_events" in result.output
    queries = [
        "SELECT * FROM models ORDER BY model_id",
        "SELECT * FROM model_status_events ORDER BY event_id",
        "SELECT * FROM v_candidates ORDER BY model_id",
        "SELECT * FROM discovery_scans ORDER BY scan_id",
    ]
    for query in queries:
        with registry.read() as a, shared_registry.read() as b:
            assert a.execute(query).fetchall() == b.execute(query).fetchall(), query
    with shared_registry.write() as con:  # the sequence goes on after the copied ids
        reg.append_status(con, "a/new", "discovered", run_id="r-after")
    with shared_registry.read() as con:
        ids = [r[0] for r in con.execute("SELECT event_id FROM model_status_events").fetchall()]
    assert len(ids) == len(set(ids))
    again = CliRunner().invoke(main, ["migrate", "--from", str(registry.path)], env=env)
    assert again.exit_code == 2 and "already has rows" in again.output
    current = CliRunner().invoke(main, ["migrate"], env=env)
    assert current.exit_code == 0 and "schema already current" in current.output
    # the operator's read-only SQL, as on the file
    query = "SELECT count(*) AS n FROM v_candidates"
    shared = CliRunner().invoke(main, ["sql", query, "--format", "json"], env=env)
    local = CliRunner().invoke(
        main, ["sql", query, "--format", "json", "--registry", str(registry.path)]
    )
    assert shared.exit_code == 0 and shared.output == local.output != "[]\n"
    refused = CliRunner().invoke(main, ["sql", "DELETE FROM models"], env=env)
    assert refused.exit_code == 2 and "read-only" in refused.output


def test_upserts_replace_json_and_list_columns(shared_registry):
    """DuckDB writes an upsert's update through a staging table: every column type of the
    registry must survive it (JSON, lists, timestamps)."""
    from hub_assets.registry import evaluations as reg_eval

    shared_registry.ensure_schema()
    for fingerprint in ("f1", "f2"):
        with shared_registry.write() as con:
            reg_eval.record_dataset(
                con,
                repo_id="d/qa",
                revision="r1",
                task="qa",
                fingerprint=fingerprint,
                rows={"validation": 3},
                folder="/tmp/d",
                run_id="run",
            )
            reg.upsert_models(
                con, [{"model_id": "a/b", "sha": fingerprint * 20, "tags": ["x", fingerprint]}], "r"
            )
    with shared_registry.read() as con:
        assert con.execute(
            "SELECT fingerprint, row_counts->>'validation' FROM eval_datasets"
        ).fetchall() == [("f2", "3")]
        assert con.execute("SELECT tags FROM models").fetchall() == [(["x", "f2"],)]


def test_text_with_nul_characters_is_stored_with_replacement_characters(shared_registry):
    """PostgreSQL text cannot hold NUL, which a model's output or a hostile card may carry:
    it is stored as U+FFFD, and the write succeeds."""
    from hub_assets.registry.postgres import NUL_REPLACEMENT

    shared_registry.ensure_schema()
    with shared_registry.write() as con:
        reg.append_status(con, "a/b", "discovered", run_id="r", reason="bad\x00card")
    with shared_registry.read() as con:
        reason = con.execute("SELECT reason FROM model_status_events").fetchone()[0]
    assert reason == f"bad{NUL_REPLACEMENT}card"


def test_the_mirror_access_log_writes_the_shared_registry(shared_registry):
    """The access log's batch (an Arrow table) goes into PostgreSQL as into the file, and
    `usage` reads it back the same."""
    from hub_assets.hub_protocol.exchange import AccessRecord
    from hub_assets.mirror.access_log import RegistryAccessLog
    from hub_assets.pipeline.usage import usage_report

    shared_registry.ensure_schema()
    log = RegistryAccessLog(shared_registry, flush_s=3600)
    for n, (who, path, status, refusal) in enumerate(
        [
            ("alice", "config.json", 200, None),
            ("alice", "model.safetensors", 200, None),
            (None, "config.json", 403, "gate_failed"),
        ]
    ):
        log.record(
            AccessRecord(
                at=1_800_000_000.0 + n,
                caller=who,
                method="GET",
                route="resolve",
                repo_id="org/m",
                revision="main",
                sha="a" * 40 if status == 200 else None,
                path=path,
                status=status,
                bytes=100 if status == 200 else 0,
                refusal=refusal,
                client="127.0.0.1",
            )
        )
    log.close()
    report = usage_report(shared_registry)
    [pulled] = report["downloads"]
    assert (pulled["caller"], pulled["files"], pulled["bytes"]) == ("alice", 2, 200)
    assert pulled["last_at"] == "2027-01-15T08:00:01Z"
    [refused] = report["refusals"]
    assert (refused["caller"], refused["refusal"]) == ("anonymous", "gate_failed")


def test_keys_scanners_and_deletions_on_postgres(hub_client, shared_registry):
    """The comparability keys, the scanners' first use and an upstream deletion are
    written and read the same way on PostgreSQL (health reads every one of them)."""
    from hub_assets.gate.config import load_gate_config
    from hub_assets.registry.health import model_health

    discover(hub_client, shared_registry, run_id="run-1")
    gate = load_gate_config()
    with shared_registry.read() as con:
        model, sha = con.execute("SELECT model_id, sha FROM models ORDER BY model_id").fetchone()
    with shared_registry.write() as con:
        reg_metrics.write_metrics(
            con,
            model,
            sha,
            [
                {
                    "metric": "security",
                    "value": 1.0,
                    "latency_ms": 1.0,
                    "inputs_fingerprint": "f",
                    "code_version": "security/v1",
                    "details": {},
                    "basis": {"scanners": {"picklescan": {"version": "1"}}},
                }
            ],
            "run-1",
        )
        record_pass(con, model, sha, "run-1")
        reg_metrics.note_scanner_key(con, "current", {"kind": "security"})
        reg_metrics.note_scanner_key(con, "current", {"kind": "again"})  # kept once
        assert reg.mark_upstream_deleted(con, model)
    with shared_registry.read() as con:
        assert con.execute("SELECT count(*) FROM scanner_keys").fetchone()[0] == 1
        [(_, health, why, _)] = model_health(con, gate.version, 7, model, scanner_key="current")
    assert health == "at_risk" and why.startswith("upstream repo deleted on the Hub")
