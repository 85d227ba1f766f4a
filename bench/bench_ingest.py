"""Ingestion of a generated ≥ 1 GB model, against two baselines measured in the same run.

Ours (in a child process, so its peak RSS is its own): the revision's verified snapshot
(hashed while streaming), then the zip streamed straight into the package store (a local
folder here). Baselines, same run, same server:
- `snapshot_download` to a folder, `zip -0 -r` of it, copy into the store;
- the physical limit: the same files fetched once by a plain streaming GET to disk, with no
  other work;
- the limit with a package store on the same disk: that single pass plus one plain copy of
  the files (the verified snapshot and the package are two copies of the bytes, so a local
  store writes them twice; without reflinks, the second write is physical).
Then the whole per-model pipeline's reads of model files — security scan, reproducibility
run, shadow evaluation, packaging — in one process on a fresh store, counting the bytes the
Hub served. Last, our download is killed at half way and run again.

Prints `ratio_vs_baseline=` (ours / snapshot_download+zip; target ≤ 0.7),
`ratio_vs_single_pass=` (ours / a plain GET; target ≤ 1.5), `ratio_vs_two_writes=` (ours /
(a plain GET + a plain copy)), `hub_bytes_per_model_byte=`
(the whole pipeline; target 1.0), `peak_rss_mb=` (ours; target < 256) and
`resume_refetch_pct=` (bytes from before the kill fetched again; target ≤ 10).

    .venv/bin/python bench/bench_ingest.py [--size-mb 1100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub_assets.devhub.catalog import Catalog  # noqa: E402
from hub_assets.devhub.process import served_catalog  # noqa: E402

REPO = "bench/big-model"

OURS = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from hub_assets.hub.client import HubClient, HubSettings
    from hub_assets.hub.snapshots import SnapshotStore
    from hub_assets.packaging.package import PackageSpec, build_manifest, model_card, write_package
    from hub_assets.packaging.store import PackageStore

    endpoint, work, store_dir = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    only_download = sys.argv[4] == "1"
    t = time.perf_counter()
    client = HubClient(
        HubSettings(endpoint=endpoint, cache_dir=work / "cache", requests_per_second=0)
    )
    data = client.model_metadata("bench/big-model").data
    sha = data["info"]["sha"]
    snapshots = SnapshotStore(work / "dl")
    with snapshots.use(client, "bench/big-model", sha, data["info"]["siblings"]) as snap:
        files = snap.files
    resumed = sum(f.resumed_from for f in files)
    downloaded = time.perf_counter() - t
    if not only_download:
        spec = PackageSpec(name="bench--big-model", version="1.0.0", model_id="bench/big-model",
                           revision=sha, source=endpoint, description="bench")
        manifest = build_manifest(spec, files)
        store = PackageStore(store_dir)
        store.upload(spec.name, spec.version,
                     lambda out: write_package(out, files, manifest, model_card(spec, manifest)))
    wall = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "rss_mb": rss_mb, "resumed": resumed, "download": downloaded}))
    """
)


def run_ours(endpoint: str, work: Path, store: Path, only_download: bool = False) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            OURS,
            endpoint,
            str(work),
            str(store),
            "1" if only_download else "0",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def single_pass(endpoint: str, dest: Path) -> float:
    """The physical limit: each file of the revision, one plain streaming GET to disk."""
    import httpx
    from huggingface_hub import HfApi

    dest.mkdir(parents=True)
    t = time.perf_counter()
    info = HfApi(endpoint=endpoint, token=False).model_info(REPO, files_metadata=True)
    with httpx.Client(timeout=60) as http:
        for s in info.siblings:
            url = f"{endpoint}/{REPO}/resolve/{info.sha}/{s.rfilename}"
            with http.stream("GET", url) as r, (dest / s.rfilename).open("wb") as out:
                for chunk in r.iter_raw():
                    out.write(chunk)
    return time.perf_counter() - t


def pipeline_hub_bytes(endpoint: str, work: Path) -> float:
    """Hub bytes served for the model's files over the whole per-model pipeline's reads
    (scan, reproducibility run, evaluation snapshot, packaging), per byte of the model."""
    from dataclasses import replace
    from datetime import UTC, datetime

    import httpx

    from hub_assets.hub.client import HubClient, HubSettings
    from hub_assets.hub.snapshots import LOADABLE_PATTERNS, SnapshotStore
    from hub_assets.metrics.evidence import ModelEvidence
    from hub_assets.metrics.reproducibility import reproducibility
    from hub_assets.metrics.scoring import ScoringContext, judge_security
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.settings import load_settings

    defaults = Pipeline.from_settings(load_settings())

    client = HubClient(
        HubSettings(endpoint=endpoint, cache_dir=work / "cache", requests_per_second=0)
    )
    data = client.model_metadata(REPO).data
    ev = ModelEvidence.from_metadata(REPO, data)
    sizes = {s["path"]: s["size"] for s in data["info"]["siblings"]}
    before = httpx.get(f"{endpoint}/_hub_assets/requests").json()
    store = SnapshotStore(work / "snapshots")
    # the security verdict first (it marks the snapshot the loaders require)
    judge_security(ev, ScoringContext(client, work, datetime.now(UTC), snapshots=store))
    reproducibility(client, ev, store, replace(defaults.limits, max_weight_bytes=10**12))
    with store.use(client, REPO, ev.sha, data["info"]["siblings"], LOADABLE_PATTERNS):
        pass  # what shadow evaluation reads
    with store.use(client, REPO, ev.sha, data["info"]["siblings"]):
        pass  # what packaging reads
    after = httpx.get(f"{endpoint}/_hub_assets/requests").json()
    served = sum(
        (after.get(f"GET file {REPO}:{p}", 0) - before.get(f"GET file {REPO}:{p}", 0)) * size
        for p, size in sizes.items()
    )
    return served / sum(sizes.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=1100)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.size_mb = 4
    size = args.size_mb * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        src = work / "src"
        src.mkdir()
        chunk = os.urandom(16 * 1024 * 1024)
        with (src / "model.safetensors").open("wb") as f:
            for _ in range(-(-size // len(chunk))):
                f.write(chunk)
        size = (src / "model.safetensors").stat().st_size
        (src / "config.json").write_text('{"model_type": "gpt2"}')
        Catalog(work / "catalog").commit(
            "model",
            REPO,
            {p.name: p for p in src.iterdir()},
            authors=["bench"],
            title="big",
            meta={"pipeline_tag": "text-generation"},
        )
        shutil.rmtree(src)
        with served_catalog(work / "catalog") as endpoint:
            os.sync()  # each timed phase starts with no earlier writes still being flushed
            single = single_pass(endpoint, work / "plain")
            os.sync()
            # The second physical write a package store on this disk costs: the same bytes
            # copied once more (a kernel copy, no hashing).
            t = time.perf_counter()
            (work / "plain-copy").mkdir()
            for f in (work / "plain").iterdir():
                shutil.copyfile(f, work / "plain-copy" / f.name)
            copy_s = time.perf_counter() - t  # like the other phases: flushed, not timed
            os.sync()
            ours = run_ours(endpoint, work / "ours", work / "store-ours")
            zip_size = (
                (work / "store-ours" / "bench--big-model" / "1.0.0" / "package.zip").stat().st_size
            )
            hub_bytes = pipeline_hub_bytes(endpoint, work / "pipeline")

            from huggingface_hub import snapshot_download

            os.sync()
            t = time.perf_counter()
            local = snapshot_download(REPO, endpoint=endpoint, local_dir=work / "snap", token=False)
            subprocess.run(
                ["zip", "-0", "-r", "-q", str(work / "base.zip"), "."], cwd=local, check=True
            )
            (work / "store-base").mkdir()
            shutil.copy(work / "base.zip", work / "store-base" / "package.zip")
            base_wall = time.perf_counter() - t

            # kill our download at half way, then resume
            dl = work / "resume" / "dl"
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    OURS,
                    endpoint,
                    str(work / "resume"),
                    str(work / "store-r"),
                    "1",
                ],
                stdout=subprocess.DEVNULL,
            )
            partial = next(dl.glob("*/model.safetensors.partial"), dl / "none")
            while proc.poll() is None:
                partial = next(dl.glob("*/model.safetensors.partial"), partial)
                if partial.exists() and partial.stat().st_size >= size // 2:
                    proc.kill()
                    break
                time.sleep(0.01)
            proc.wait()
            at_kill = partial.stat().st_size
            resumed = run_ours(endpoint, work / "resume", work / "store-r", only_download=True)
            refetched = at_kill - resumed["resumed"]
        print(f"model_mb={size / 1e6:.0f} package_mb={zip_size / 1e6:.0f}")
        print(
            f"ours_s={ours['wall']:.2f} (download {ours['download']:.2f}) "
            f"baseline_s={base_wall:.2f}"
        )
        print(f"ratio_vs_baseline={ours['wall'] / base_wall:.2f}")
        print(
            f"single_pass_s={single:.2f} "
            f"download_ratio_vs_single_pass={ours['download'] / single:.2f} "
            f"ratio_vs_single_pass={ours['wall'] / single:.2f}"
        )
        print(
            f"two_writes_s={single + copy_s:.2f} (single pass + one plain copy) "
            f"ratio_vs_two_writes={ours['wall'] / (single + copy_s):.2f}"
        )
        print(f"hub_bytes_per_model_byte={hub_bytes:.3f}")
        print(f"peak_rss_mb={ours['rss_mb']:.0f}")
        print(f"killed_at_mb={at_kill / 1e6:.0f} resumed_from_mb={resumed['resumed'] / 1e6:.0f}")
        print(f"resume_refetch_pct={100 * refetched / at_kill:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
