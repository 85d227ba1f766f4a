"""Offline verification of a consumer's files against a lockfile, and the guard's cost.

1. `verify-cache` speed: the same files hashed by `check_snapshot` (what `hub-assets
   verify-cache` runs) and by `sha256sum` (one core, the baseline), in the same run; prints
   `verify_ratio_vs_sha256sum=` (sha256sum's time over ours: ≥ 0.9 is the target) and the
   CLI's own wall time, start-up included.
2. The guard on a real load: all-MiniLM-L6-v2 fetched from the demo Hub into a fresh cache,
   then loaded N times with `SentenceTransformer(folder)` and N times through
   `guard.load(SentenceTransformer, ...)`. The guard's first load hashes every file
   (`guard_first_load_ratio=`); later loads hash only files changed since this user
   verified them (`guard_overhead_ratio=`, guarded median over plain median: ≤ 1.05 is
   the target).

    .venv/bin/python bench/bench_verify_cache.py [--mb 1024] [--runs 15] [--tiny]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub_assets.devhub.demo_catalog import MINILM, build_demo  # noqa: E402
from hub_assets.hub.locked_files import check_snapshot, file_digest  # noqa: E402

REVISION = "0" * 40


def lock_of(model_id: str, folder: Path) -> dict:
    """A lock naming every file under `folder` with its size and sha256."""
    files = [
        {"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    ]
    for f in files:
        f["sha256"] = file_digest(folder / f["path"])
    return {"format": 1, "models": {model_id: {"revision": REVISION, "files": files}}}


def hashing_speed(mb: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        folder = Path(tmp) / "acme" / "big"
        folder.mkdir(parents=True)
        chunk = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB, not all zeros
        per_file = max(1, mb // 8)
        for i in range(8):
            with (folder / f"model-{i:05d}.safetensors").open("wb") as f:
                for _ in range(per_file):
                    f.write(chunk)
        lock = lock_of("acme/big", folder)
        entry = lock["models"]["acme/big"]
        total = sum(f["size"] for f in entry["files"])
        paths = [str(folder / f["path"]) for f in entry["files"]]
        subprocess.run(["sha256sum", *paths], check=True, capture_output=True)  # page cache
        ours, theirs = [], []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(["sha256sum", *paths], check=True, capture_output=True)
            theirs.append(time.perf_counter() - t)
            t = time.perf_counter()
            check = check_snapshot("acme/big", entry, folder)
            ours.append(time.perf_counter() - t)
            assert check.ok, check.problems()
        (Path(tmp) / "models.lock").write_text(json.dumps(lock))
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hub_assets.cli", "verify-cache"]
            + ["--lock", str(Path(tmp) / "models.lock"), "--local-dir", str(Path(tmp))],
            check=True,
            capture_output=True,
            env={**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
        )
        cli_s = time.perf_counter() - t
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    print(f"files: 8, {total / 2**20:,.0f} MiB in the page cache")
    print(f"sha256sum: {theirs_s:.3f} s ({total / 2**20 / theirs_s:,.0f} MiB/s)")
    print(f"check_snapshot: {ours_s:.3f} s ({total / 2**20 / ours_s:,.0f} MiB/s)")
    print(f"hub-assets verify-cache (a fresh process, start-up included): {cli_s:.2f} s")
    print(f"verify_ratio_vs_sha256sum={theirs_s / ours_s:.2f}")


def guard_cost(runs: int) -> None:
    from huggingface_hub import snapshot_download
    from sentence_transformers import SentenceTransformer

    from hub_assets import guard
    from hub_assets.devhub.process import served_catalog

    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        cache = Path(tmp) / "hub"
        with served_catalog(build_demo(ROOT / "data" / "demo_hub")) as url:
            folder = Path(snapshot_download(MINILM, endpoint=url, cache_dir=cache))
        lock = lock_of(MINILM, folder)
        revision = folder.name
        lock["models"][MINILM]["revision"] = revision
        size = sum(f["size"] for f in lock["models"][MINILM]["files"])
        verified = Path(tmp) / "verified"
        SentenceTransformer(str(folder), device="cpu")  # imports and page cache, once

        def guarded_load() -> float:
            t = time.perf_counter()
            guard.load(
                SentenceTransformer,
                MINILM,
                lock=lock,
                cache_dir=cache,
                device="cpu",
                verified_dir=verified,
            )
            return time.perf_counter() - t

        first = guarded_load()  # every file hashed: nothing verified yet
        plain, guarded = [], []
        for _ in range(runs):
            t = time.perf_counter()
            SentenceTransformer(str(folder), device="cpu", local_files_only=True)
            plain.append(time.perf_counter() - t)
            guarded.append(guarded_load())  # unchanged files: their record, no hashing
    plain_s, guarded_s = statistics.median(plain), statistics.median(guarded)
    print(f"{MINILM}: {size / 2**20:.0f} MiB in {len(lock['models'][MINILM]['files'])} files")
    print(f"load: {plain_s:.3f} s (median of {runs}, files in the page cache)")
    print(f"through the guard, first (every byte hashed): {first:.3f} s")
    print(f"through the guard, files verified before: {guarded_s:.3f} s (median of {runs})")
    print(f"guard_first_load_ratio={first / plain_s:.3f}")
    print(f"guard_overhead_ratio={guarded_s / plain_s:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="MiB hashed in part 1")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tiny", action="store_true", help="8 MiB, 2 runs: the suite's check")
    args = parser.parse_args()
    if args.tiny:
        args.mb, args.runs = 8, 2
    hashing_speed(args.mb, args.runs)
    guard_cost(args.runs)


if __name__ == "__main__":
    main()
