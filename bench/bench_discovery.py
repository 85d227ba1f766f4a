"""Discovery at scale against the Hub server with N synthetic models (default 100,000).

Ours: a full discovery scan (4 pipeline tags, listing pages of 1000, filters, bulk registry
write), then a rescan with nothing changed, then a rescan plus metadata of every demo
candidate within the cache TTL.
Baseline, same run, same server: `list(HfApi.list_models(full=True))` followed by one
`model_info` per listed model.

Prints models per second, `ratio_vs_naive=` (our wall time / baseline wall time; target
≤ 0.5), `rescan_requests=` (target ≤ one per tag) and `rescan_within_ttl_requests=`.

At a million models (`--synthetic 1000000`) the naive baseline (a million `model_info`
calls) cannot finish, so the baseline is the listing alone: the same tags' pages fetched
with `HfApi.list_models`, nothing else, and the bench prints `ratio_vs_listing=`. Every run
checks that the registry recorded every model listed for the tags and every candidate
(`recorded_all=True`), and prints peak RSS.

    .venv/bin/python bench/bench_discovery.py [--synthetic 100000] [--registry URL]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from huggingface_hub import HfApi  # noqa: E402

from hub_assets.devhub.demo_catalog import build_demo  # noqa: E402
from hub_assets.devhub.process import served_catalog  # noqa: E402
from hub_assets.hub.client import HubClient, HubSettings  # noqa: E402
from hub_assets.pipeline.discover import discover  # noqa: E402
from hub_assets.registry.location import registry_at  # noqa: E402
from hub_assets.registry.store import Registry  # noqa: E402
from hub_assets.settings import DEFAULT_PIPELINE_TAGS  # noqa: E402

NAIVE_LIMIT = 200_000  # above this, the baseline is the listing alone


def hub_requests(url: str) -> int:
    return httpx.get(f"{url}/_hub_assets/requests").json().get("total", 0)


def reset_requests(url: str) -> None:
    httpx.delete(f"{url}/_hub_assets/requests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument(
        "--registry", default=None, help="A postgresql:// URL (default: a temporary file)."
    )
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.synthetic = 500
    naive = args.synthetic <= NAIVE_LIMIT
    catalog = build_demo(ROOT / "data" / "demo_hub")
    with served_catalog(catalog, synthetic=args.synthetic) as url:
        with tempfile.TemporaryDirectory() as tmp:
            settings = HubSettings(
                endpoint=url, cache_dir=Path(tmp) / "cache", requests_per_second=0
            )
            registry: Registry = (
                registry_at(args.registry) if args.registry else Registry(Path(tmp) / "r.duckdb")
            )
            client = HubClient(settings)

            t = time.perf_counter()
            full = discover(client, registry, run_id="bench-full")
            ours_s = time.perf_counter() - t
            seen = full.counts()["models_seen"]
            with registry.read() as con:
                rows = con.execute("SELECT count(*) FROM models").fetchone()[0]
                recorded = con.execute("SELECT count(*) FROM v_candidates").fetchone()[0]
            recorded_all = rows == seen and recorded == len(full.candidates)

            reset_requests(url)
            discover(client, registry, run_id="bench-rescan")
            rescan_requests = hub_requests(url)

            demo = [m for m in full.candidates if not m.startswith("synthetic-")]
            for m in demo:  # warm the metadata cache
                client.model_metadata(m)
            reset_requests(url)
            discover(client, registry, run_id="bench-rescan-ttl")
            for m in demo:
                assert client.model_metadata(m).from_cache
            ttl_requests = hub_requests(url)

        api = HfApi(endpoint=url, token=False)
        t = time.perf_counter()
        if naive:
            listed = list(api.list_models(full=True))
            for m in listed:
                api.model_info(m.id)
        else:
            listed = [
                m
                for tag in DEFAULT_PIPELINE_TAGS
                for m in api.list_models(pipeline_tag=tag, full=True, limit=None)
            ]
        base_s = time.perf_counter() - t

    print(f"synthetic_models={args.synthetic} tags={len(DEFAULT_PIPELINE_TAGS)}")
    print(f"full_scan_models={seen} full_scan_s={ours_s:.2f} models_per_s={seen / ours_s:.0f}")
    print(
        f"baseline_models={len(listed)} baseline_s={base_s:.2f} "
        f"baseline_models_per_s={len(listed) / base_s:.0f}"
    )
    print(f"ratio_vs_{'naive' if naive else 'listing'}={ours_s / base_s:.3f}")
    print(
        f"recorded_all={recorded_all} registry_models={rows} candidates={recorded} "
        f"peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
    )
    print(f"rescan_requests={rescan_requests}")
    print(
        f"rescan_within_ttl_requests={ttl_requests} (rescan + metadata of {len(demo)} "
        "demo candidates from the cache)"
    )


if __name__ == "__main__":
    main()
