"""The project's Hub server as a child process on a free loopback port, for the benches."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout_s: float = 30.0) -> None:
    """Wait until `url` answers at all."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answers at {url}")


@contextmanager
def hub_server(catalog: Path, synthetic: int = 0) -> Iterator[str]:
    """`hub-assets hub serve` over `catalog` in a child process; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub_assets.cli",
            "hub",
            "serve",
            "--catalog",
            str(catalog),
            "--port",
            str(port),
            "--synthetic",
            str(synthetic),
        ],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{url}/api/models?limit=1")
        yield url
    finally:
        proc.terminate()
        proc.wait()
