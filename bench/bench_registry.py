"""Registry writes from many processes: the shared registry (PostgreSQL through DuckDB, one
write slot) against the single DuckDB file (one writer at a time, retried on its lock).

Each of W writer processes commits T write transactions, each what a per-model stage
writes: a model upsert, a lifecycle event, a metric value with its lineage and a package.
Both registries get the same work in the same run; a real PostgreSQL (Debian's server, on
a loopback port) holds the shared one.

Prints `shared_writes_per_s=`, `file_writes_per_s=`, `ratio_vs_file=` (shared over file
throughput) and the shared registry's per-write latency, the wait for the slot included
(p50, p95).

Then one process's reads of the file: `Registry.read()` (the file attached to the
process's DuckDB) against a `duckdb.connect(read_only=True)` per read, the same query on
the same file; prints both per-read times and `read_ratio_vs_connect=` (lower is faster).

    .venv/bin/python bench/bench_registry.py [--writers 8] [--transactions 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub_assets.registry.location import registry_at  # noqa: E402
from hub_assets_tests.local_servers import LocalPostgres  # noqa: E402

WRITER = textwrap.dedent(
    """
    import sys, time, json
    from hub_assets.registry import metrics as reg_metrics, models as reg
    from hub_assets.registry import packages as reg_packages
    from hub_assets.registry.location import registry_at

    location, worker, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    registry = registry_at(location)
    registry.ensure_schema()
    with registry.read():
        pass  # the libraries imported and the registry attached before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    latencies = []
    for i in range(rounds):
        model, run_id = f"w{worker}/m{i}", f"run-{worker}-{i}"
        t = time.perf_counter()
        with registry.write() as con:
            reg.upsert_models(con, [{"model_id": model, "sha": "s" * 40}], run_id)
            reg.append_status(con, model, "candidate", run_id=run_id)
            reg_metrics.write_metrics(con, model, "s" * 40, [{
                "metric": "net_score", "value": 0.5, "latency_ms": 1.0,
                "inputs_fingerprint": "fp", "code_version": "v1", "details": None}], run_id)
            reg_packages.insert_package(
                con, package_id=f"{worker}-{i}", name=model.replace("/", "-"),
                version="1.0.0", model_id=model, revision_sha="s" * 40, uri="/p",
                size_bytes=1, sha256="0" * 64, manifest={}, model_card="", net_score=0.5,
                description="", run_id=run_id)
        latencies.append(time.perf_counter() - t)
    print(json.dumps(latencies))
    """
)


def run_writers(location: str, writers: int, rounds: int) -> tuple[float, list[float]]:
    """Wall seconds for all writers, once all are ready; every write's latency."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, location, str(w), str(rounds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(writers)
    ]
    registry_at(location).ensure_schema()
    for p in procs:  # imports and attaching done in every writer
        if p.stdout.readline().strip() != "ready":
            raise SystemExit(f"writer {p.args[3]} failed before its first write")
    t = time.perf_counter()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    latencies: list[float] = []
    for p in procs:
        out, _ = p.communicate(timeout=1800)
        assert p.returncode == 0
        latencies += json.loads(out.strip().splitlines()[-1])
    return time.perf_counter() - t, latencies


def time_reads(path: Path, reads: int) -> tuple[float, float]:
    """Seconds per read of the packages' count: through `Registry.read()`, then with a
    DuckDB connection opened per read (what every read did before attachments)."""
    import duckdb

    from hub_assets.registry.store import Registry

    registry = Registry(path)
    query = "SELECT count(*) FROM packages"
    results = []
    t = time.perf_counter()
    for _ in range(reads):
        with registry.read() as con:
            results.append(con.execute(query).fetchone()[0])
    attached = (time.perf_counter() - t) / reads
    t = time.perf_counter()
    for _ in range(reads):
        con = duckdb.connect(str(path), read_only=True)
        results.append(con.execute(query).fetchone()[0])
        con.close()
    connected = (time.perf_counter() - t) / reads
    assert len(set(results)) == 1, "both ways read the same count"
    return attached, connected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--transactions", type=int, default=50)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.writers, args.transactions = 2, 5
    total = args.writers * args.transactions
    server = LocalPostgres().start()
    try:
        url = server.create_database("bench_registry")
        shared_s, shared_lat = run_writers(url, args.writers, args.transactions)
        with tempfile.TemporaryDirectory() as tmp:
            file_s, _ = run_writers(str(Path(tmp) / "r.duckdb"), args.writers, args.transactions)
            attached_s, connected_s = time_reads(Path(tmp) / "r.duckdb", 20 if args.tiny else 500)
        with registry_at(url).read() as con:
            rows = con.execute("SELECT count(*) FROM packages").fetchone()[0]
    finally:
        server.stop()
    assert rows == total, f"{rows} packages, expected {total}"
    q = statistics.quantiles(shared_lat, n=20)
    print(f"writers={args.writers} transactions_each={args.transactions} rows_checked={rows}")
    print(f"shared_writes_per_s={total / shared_s:.1f} shared_s={shared_s:.2f}")
    print(f"file_writes_per_s={total / file_s:.1f} file_s={file_s:.2f}")
    print(f"ratio_vs_file={(total / shared_s) / (total / file_s):.2f}")
    print(f"shared_write_p50_ms={q[9] * 1000:.1f} shared_write_p95_ms={q[18] * 1000:.1f}")
    print(f"file_read_ms={attached_s * 1000:.2f} connect_per_read_ms={connected_s * 1000:.2f}")
    print(f"read_ratio_vs_connect={attached_s / connected_s:.3f}")


if __name__ == "__main__":
    main()
