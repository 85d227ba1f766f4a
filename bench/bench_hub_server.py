"""Throughput of a large file from our Hub server vs `python -m http.server`.

Ours: `hf_hub_download` (the real client: HEAD, GET, cache layout) from `hub-assets-dev serve`.
Baseline, same run, same file: a plain streaming httpx GET to disk from `python -m
http.server` serving the folder that holds the file. Both servers run as subprocesses on
loopback. Prints MB/s for each and `ratio_vs_http_server=` (ours / baseline; target ≥ 0.8), plus the
same plain GET from our server, which tells server cost from client cost.

    .venv/bin/python bench/bench_hub_server.py [--size-mb 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub_assets.devhub.catalog import Catalog  # noqa: E402
from hub_assets.devhub.process import free_port, served_catalog, wait_up  # noqa: E402

REPO = "bench/large-file"
FILE = "model.safetensors"


def make_file(path: Path, size: int) -> None:
    chunk = os.urandom(8 * 1024 * 1024)
    with path.open("wb") as f:
        written = 0
        while written < size:
            n = min(len(chunk), size - written)
            f.write(chunk[:n])
            written += n


def plain_get(url: str, out: Path, size: int) -> float:
    """Seconds for a plain streaming httpx GET of `url` to the file `out`."""
    t = time.perf_counter()
    with httpx.stream("GET", url) as r, out.open("wb") as f:
        for chunk in r.iter_bytes(1024 * 1024):
            f.write(chunk)
    elapsed = time.perf_counter() - t
    assert out.stat().st_size == size
    out.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.size_mb, args.repeat = 4, 1
    size = args.size_mb * 1024 * 1024

    work = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    try:
        src = work / "src"
        src.mkdir()
        make_file(src / FILE, size)
        Catalog(work / "catalog").commit(
            "model", REPO, {FILE: src / FILE}, authors=["bench"], title="large file"
        )
        base_port = free_port()
        base = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "http.server",
                str(base_port),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(src),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        with served_catalog(work / "catalog") as ours_url:
            base_url = f"http://127.0.0.1:{base_port}"
            wait_up(base_url)
            from huggingface_hub import hf_hub_download

            ours_times, base_times, plain_ours_times = [], [], []
            for i in range(args.repeat):
                cache = work / f"cache{i}"
                t = time.perf_counter()
                p = hf_hub_download(REPO, FILE, endpoint=ours_url, cache_dir=cache, token=False)
                ours_times.append(time.perf_counter() - t)
                assert os.path.getsize(p) == size
                shutil.rmtree(cache)

                base_times.append(plain_get(f"{base_url}/{FILE}", work / f"plain{i}", size))
                # the same plain client against our server: separates server from client cost
                plain_ours_times.append(
                    plain_get(f"{ours_url}/{REPO}/resolve/main/{FILE}", work / f"po{i}", size)
                )
        base.terminate()
        base.wait()
        mb = size / 1e6
        ours_mbps = mb / statistics.median(ours_times)
        base_mbps = mb / statistics.median(base_times)
        print(f"file_mb={mb:.0f} repeat={args.repeat}")
        print(f"hf_hub_download_from_hub_server_mbps={ours_mbps:.0f}")
        print(f"httpx_from_python_http_server_mbps={base_mbps:.0f}")
        print(f"httpx_from_hub_server_mbps={mb / statistics.median(plain_ours_times):.0f}")
        print(f"ratio_vs_http_server={ours_mbps / base_mbps:.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
