"""The registry service under read load, with 10,000 packages in the registry.

A real uvicorn on loopback, driven by httpx with keep-alive. For `GET /packages?limit=100`,
`GET /models/{id}` and `GET /metrics` it prints p50 and p95 latency of one client, then p50,
p95 and requests/s of 4 concurrent clients. Then the packages and model routes again under
4 clients while another connection writes twice a second (each write invalidates the
service's cached reads: `Registry.cached`), so cold reads show. Last,
`ratio_vs_duckdb_query=`: the API's median time over the median time of the same registry
read run directly in DuckDB (`list_packages`, a connection each), measured in the same run.
Targets: p95 < 50 ms, ratio ≤ 3.

    .venv/bin/python bench/bench_api.py [--packages 10000] [--requests 400]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import uvicorn  # noqa: E402

from hub_assets.packaging.store import PackageStore  # noqa: E402
from hub_assets.registry import packages as reg_packages  # noqa: E402
from hub_assets.registry.models import append_status  # noqa: E402
from hub_assets.registry.store import Registry  # noqa: E402
from hub_assets.service.app import create_app  # noqa: E402
from hub_assets.settings import Settings  # noqa: E402

MODEL = "bench-org/model-00042"


def fill(registry: Registry, n: int) -> None:
    """n packages over n/10 models, each model with a status history."""
    import pandas as pd

    registry.ensure_schema()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(n):
        model = f"bench-org/model-{i // 10:05d}"
        rows.append(
            {
                "package_id": str(uuid.UUID(int=i + 1)),
                "name": model.replace("/", "--"),
                "version": f"1.{i % 10}.0",
                "model_id": model,
                "revision_sha": f"{i:040x}",
                "uri": f"data/packages/{model.replace('/', '--')}/1.{i % 10}.0/package.zip",
                "size_bytes": 1_000_000 + i,
                "sha256": f"{i:064x}",
                "manifest": json.dumps({"metrics": {"license": 1.0}}),
                "model_card": "card",
                "net_score": (i % 100) / 100,
                "description": None,
                "run_id": "bench",
                "created_at": start + timedelta(minutes=i),
            }
        )
    frame = pd.DataFrame(rows)
    with registry.write() as con:
        con.register("batch", frame)
        con.execute(
            "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
            "size_bytes, sha256, manifest, model_card, net_score, description, run_id, "
            "created_at) SELECT * FROM batch"
        )
        con.unregister("batch")
        con.execute(
            "INSERT INTO models (model_id, first_seen, last_seen, sha) SELECT DISTINCT "
            "model_id, now(), now(), max(revision_sha) FROM packages GROUP BY model_id"
        )
        for status in ("discovered", "candidate", "ingested"):
            append_status(con, MODEL, status, run_id="bench", revision_sha=f"{420:040x}")


def timed(client: httpx.Client, url: str, headers: dict, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(url, headers=headers)
        out.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
    return out


def load(url: str, headers: dict, total: int, threads: int = 4) -> tuple[list[float], float]:
    """`total` requests from `threads` keep-alive clients: latencies and requests/s."""
    clients = [httpx.Client() for _ in range(threads)]
    t = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda c: timed(c, url, headers, total // threads), clients))
    wall = time.perf_counter() - t
    for c in clients:
        c.close()
    latencies = [x for p in parts for x in p]
    return latencies, len(latencies) / wall


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.packages, args.requests = 200, 20
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    registry = Registry(work / "registry.duckdb")
    fill(registry, args.packages)
    settings = Settings(
        registry=str(work / "registry.duckdb"), package_store=str(work / "packages")
    )
    app = create_app(settings, registry, PackageStore(str(work / "packages")))
    app.state.identity.add_user("bench", ["read"], "bench password 123")
    token = app.state.identity.create_token("bench", "bench", None).token
    headers = {"Authorization": f"Bearer {token}"}
    port = 18000 + (hash(work) % 1000)
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="error"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"

    direct = []
    for _ in range(100):
        t = time.perf_counter()
        with registry.read() as con:
            reg_packages.list_packages(con, limit=100)
        direct.append(time.perf_counter() - t)
    duckdb_ms = statistics.median(direct) * 1000

    print(f"packages={args.packages} requests_per_route={args.requests} threads=4")
    results = {}
    for name, path in (
        ("packages", "/packages?limit=100"),
        ("model", f"/models/{MODEL}"),
        ("metrics", "/metrics"),
    ):
        timed(httpx.Client(), base + path, headers, 10)  # warm-up
        one = timed(httpx.Client(), base + path, headers, args.requests // 2)
        latencies, rps = load(base + path, headers, args.requests)
        results[name] = latencies
        print(
            f"{name}: p50_ms={pct(one, 50):.1f} p95_ms={pct(one, 95):.1f} (one client) "
            f"p50_ms_4_clients={pct(latencies, 50):.1f} p95_ms_4_clients={pct(latencies, 95):.1f} "
            f"requests_per_s_4_clients={rps:.0f}"
        )
    # The same load while another connection writes twice a second (an audit row each
    # time): every write invalidates the service's cached reads, so this shows cold reads.
    from hub_assets.registry.identity import record_audit

    stop = threading.Event()
    writes = [0]

    def writer() -> None:
        other = Registry(registry.path)
        while not stop.is_set():
            with other.write() as con:
                record_audit(con, username="bench", action="bench", target=None,
                             outcome="ok", request_id="bench", detail=None)  # fmt: skip
            writes[0] += 1
            stop.wait(0.5)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    for name, path in (("packages", "/packages?limit=100"), ("model", f"/models/{MODEL}")):
        latencies, rps = load(base + path, headers, args.requests)
        print(
            f"{name}_with_writes: p50_ms_4_clients={pct(latencies, 50):.1f} "
            f"p95_ms_4_clients={pct(latencies, 95):.1f} requests_per_s_4_clients={rps:.0f}"
        )
    stop.set()
    thread.join()
    print(f"writes_during_load={writes[0]}")
    single = timed(httpx.Client(), base + "/packages?limit=100", headers, 100)
    print(f"duckdb_list_packages_ms={duckdb_ms:.1f} api_single_client_ms={pct(single, 50):.1f}")
    print(f"ratio_vs_duckdb_query={statistics.median(single) * 1000 / duckdb_ms:.2f}")
    server.should_exit = True


if __name__ == "__main__":
    main()
