"""The curated mirror's throughput, against baselines measured in the same run.

A generated model with a ≥ 256 MB `model.safetensors` is put on a development Hub, gated
and packaged into a local package store by the product's own code, then served three
ways, each in a child process of its own:
- the mirror (`hub-assets mirror serve`), reading the file inside the package zip;
- the development Hub server (`hub-assets-dev serve`), reading the plain blob;
- a static file server (`python -m http.server`) serving the package zip itself.

Prints, for a plain streaming GET (median of `--rounds`, bytes discarded) and for
`hf_hub_download` (into a fresh cache each time), the MB/s of each, then
`ratio_vs_hub_server=` (mirror GET / Hub server GET; target ≥ 0.9),
`hf_hub_download_ratio_vs_hub_server=`, `ratio_vs_static=` (mirror GET / static zip GET),
and `metadata_rps=`: `GET /api/models/{id}` (what `model_info` sends) from 8 concurrent
keep-alive clients, each a process of its own, beside `metadata_rps_hub_server=`, the same
load on the development Hub server. Target ≥ 2,000 requests/s; on a machine where the
clients share the server's cores, the clients' share is printed too (`cpu_count=`).

The mirror runs as deployed, with its access log on (every request written to the
registry). A second mirror with `HUB_ASSETS_MIRROR_ACCESS_LOG=false` takes the same
metadata load: `access_log_rps_ratio=` (on / off; target ≥ 0.9); `access_log_rows=` is
what the first one wrote (at least `metadata_requests_sent=`, plus the downloads).

Last, what a consumer runs on what it pulled: `hub-assets verify-cache`'s hashing against
`sha256sum` on files of the same size (`verify_ratio_vs_sha256sum=`, bench_verify_cache.py's
measurement; target ≥ 0.9).

    .venv/bin/python bench/bench_mirror.py [--size-mb 300] [--rounds 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from hub_assets.devhub.catalog import Catalog  # noqa: E402
from hub_assets.devhub.process import free_port, served_catalog, wait_up  # noqa: E402

REPO = "bench/big-model"
BIN = Path(sys.executable).parent


def make_catalog(root: Path, size_mb: int) -> None:
    """A model whose weights are one U8 tensor of `size_mb` MB (a real safetensors file)."""
    n = size_mb * 1024 * 1024
    header = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
    header += b" " * (-len(header) % 8)
    weights = root.parent / "model.safetensors"
    with weights.open("wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        chunk = os.urandom(1024 * 1024)
        for _ in range(size_mb):
            f.write(chunk)
    card = b"---\nlicense: mit\nlibrary_name: transformers\npipeline_tag: fill-mask\n---\n# big\n"
    Catalog(root).commit(
        "model",
        REPO,
        {"README.md": card, "config.json": b'{"model_type": "bert"}', "model.safetensors": weights},
        authors=["bench"],
        title="weights",
        date="2026-01-01T00:00:00Z",
        meta={"downloads": 10, "likes": 1, "library_name": "transformers"},
    )
    weights.unlink()


def build_registry(endpoint: str, work: Path) -> tuple[Path, Path]:
    """Discovery, a passed gate decision, and the real packaging of the model."""
    from hub_assets.hub.client import HubClient, HubSettings
    from hub_assets.packaging.store import PackageStore
    from hub_assets.pipeline.discover import discover
    from hub_assets.pipeline.ingest import ingest_model
    from hub_assets.registry import metrics as reg_metrics
    from hub_assets.registry.models import save_revision
    from hub_assets.registry.store import Registry

    registry = Registry(work / "registry.duckdb")
    client = HubClient(
        HubSettings(endpoint=endpoint, cache_dir=work / "cache", requests_per_second=0)
    )
    discover(client, registry, run_id="bench", pipeline_tags=["fill-mask"])
    fetched = client.model_metadata(REPO)
    with registry.write() as con:
        sha = save_revision(
            con, REPO, fetched.data, from_cache=False, fetched_at=fetched.fetched_at, run_id="b"
        )
        reg_metrics.write_gate_result(
            con,
            model_id=REPO,
            sha=sha,
            passed=True,
            failed=[],
            message="All checks passed (bench)",
            thresholds={},
            config_version="bench",
            target_device="desktop_pc",
            run_id="bench",
        )
    store = work / "packages"
    ingest_model(client, registry, PackageStore(str(store)), REPO, run_id="b", work_dir=work)
    return registry.path, store


def get_mb_s(urls: dict[str, str], rounds: int) -> dict[str, float]:
    """Median MB/s of a plain streaming GET (bytes discarded) of each URL, the servers
    taking turns within each round (one warm-up round first, not counted)."""
    speeds: dict[str, list[float]] = {name: [] for name in urls}
    with httpx.Client(timeout=120) as client:
        for round_ in range(rounds + 1):
            for name, url in urls.items():
                t, n = time.perf_counter(), 0
                with client.stream("GET", url) as r:
                    r.raise_for_status()
                    for chunk in r.iter_raw(1024 * 1024):
                        n += len(chunk)
                if round_:
                    speeds[name].append(n / 1e6 / (time.perf_counter() - t))
    return {name: statistics.median(v) for name, v in speeds.items()}


def hf_download_mb_s(endpoint: str, work: Path, rounds: int, size: int) -> float:
    """Median MB/s of `hf_hub_download` into a fresh cache (a child process each time, as a
    user runs it)."""
    speeds = []
    for i in range(rounds):
        cache = work / f"hf-{endpoint.rsplit(':', 1)[1]}-{i}"
        code = (
            "import sys; from huggingface_hub import hf_hub_download; "
            f"hf_hub_download({REPO!r}, 'model.safetensors', endpoint={endpoint!r}, "
            f"cache_dir={str(cache)!r}, token=False)"
        )
        env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        # the interpreter's start is the same for both servers; the bytes dominate
        speeds.append(size / 1e6 / (time.perf_counter() - t))
    return statistics.median(speeds)


def _client(host: str, port: int, path: str, seconds: float, out: multiprocessing.Queue) -> None:
    conn = http.client.HTTPConnection(host, port)
    n, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit(f"status {r.status}")
        n += 1
    out.put(n)


def metadata_rps(url: str, seconds: float, clients: int = 8) -> float:
    """Requests/s of `GET /api/models/{id}` from `clients` keep-alive clients, one per
    process."""
    host, port = url.removeprefix("http://").split(":")
    out: multiprocessing.Queue = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(
            target=_client, args=(host, int(port), f"/api/models/{REPO}", seconds, out)
        )
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    total = sum(out.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    SENT[url] = total
    return total / seconds


# Metadata requests sent to each URL (for the access log's row count).
SENT: dict[str, int] = {}


def start_mirror(env: dict, port: int) -> subprocess.Popen:
    """`hub-assets mirror serve` on `port` in a process of its own."""
    return subprocess.Popen(
        [str(BIN / "hub-assets"), "mirror", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def access_log_rows(registry: Path) -> int:
    """Rows in the registry's access log."""
    import duckdb

    con = duckdb.connect(str(registry), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM mirror_requests").fetchone()[0]
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8, help="metadata client processes")
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.size_mb, args.rounds, args.seconds, args.clients = 4, 1, 0.5, 2
    with tempfile.TemporaryDirectory(prefix="bench-mirror-") as tmp:
        work = Path(tmp)
        make_catalog(work / "catalog", args.size_mb)
        with served_catalog(work / "catalog") as hub:
            registry, store = build_registry(hub, work)
            zip_rel = next(store.rglob("package.zip")).relative_to(store)
            size = args.size_mb * 1024 * 1024
            env = {
                **os.environ,
                "HUB_ASSETS_REGISTRY": str(registry),
                "HUB_ASSETS_PACKAGE_STORE": str(store),
            }
            mport, sport, unlogged_port = free_port(), free_port(), free_port()
            mirror = start_mirror(env, mport)
            unlogged = start_mirror({**env, "HUB_ASSETS_MIRROR_ACCESS_LOG": "false"}, unlogged_port)
            static = subprocess.Popen(
                [sys.executable, "-m", "http.server", str(sport), "--bind", "127.0.0.1"],
                cwd=store,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            mirror_url, static_url = f"http://127.0.0.1:{mport}", f"http://127.0.0.1:{sport}"
            unlogged_url = f"http://127.0.0.1:{unlogged_port}"
            try:
                wait_up(f"{mirror_url}/api/models", mirror)
                wait_up(f"{unlogged_url}/api/models", unlogged)
                wait_up(static_url, static)
                file_path = f"/{REPO}/resolve/main/model.safetensors"
                results = get_mb_s(
                    {
                        "mirror_get_mb_s": mirror_url + file_path,
                        "hub_server_get_mb_s": hub + file_path,
                        "static_zip_get_mb_s": f"{static_url}/{zip_rel}",
                    },
                    args.rounds,
                )
                results |= {
                    "mirror_hf_hub_download_mb_s": hf_download_mb_s(
                        mirror_url, work, args.rounds, size
                    ),
                    "hub_server_hf_hub_download_mb_s": hf_download_mb_s(
                        hub, work, args.rounds, size
                    ),
                    "metadata_rps": metadata_rps(mirror_url, args.seconds, args.clients),
                    "metadata_rps_access_log_off": metadata_rps(
                        unlogged_url, args.seconds, args.clients
                    ),
                    "metadata_rps_hub_server": metadata_rps(hub, args.seconds, args.clients),
                }
            finally:
                for proc in (mirror, unlogged, static):
                    proc.terminate()  # the mirror writes its queued access log, then exits
                    proc.wait(60)
            logged = access_log_rows(registry)
    for k, v in results.items():
        print(f"{k}={v:,.1f}")
    print(f"ratio_vs_hub_server={results['mirror_get_mb_s'] / results['hub_server_get_mb_s']:.2f}")
    print(
        "hf_hub_download_ratio_vs_hub_server="
        f"{results['mirror_hf_hub_download_mb_s'] / results['hub_server_hf_hub_download_mb_s']:.2f}"
    )
    print(f"ratio_vs_static={results['mirror_get_mb_s'] / results['static_zip_get_mb_s']:.2f}")
    print(
        "access_log_rps_ratio="
        f"{results['metadata_rps'] / results['metadata_rps_access_log_off']:.2f}"
    )
    print(f"access_log_rows={logged} metadata_requests_sent={SENT[mirror_url]}")
    print(
        f"cpu_count={os.cpu_count()} ({args.clients} client processes share them with the server)"
    )
    # what a consumer runs on the files it pulled: `verify-cache` against sha256sum
    from bench_verify_cache import hashing_speed

    hashing_speed(args.size_mb, args.rounds)


if __name__ == "__main__":
    main()
