"""The development Hub as a child process on a loopback port: the one way the CLI's demo,
the benches and the tests start `hub-assets-dev serve` in another process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from hub_assets.errors import HubAssetsError


class ServerStartError(HubAssetsError, RuntimeError):
    """The development Hub's process exited or did not answer in time."""

    outcome = "error"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen | None = None, timeout_s: float = 60.0) -> None:
    """Wait until `url` answers at all; fail early when `proc` has exited. One client for
    every poll: `httpx.get` would build a TLS context from certifi's bundle at each (30 ms)."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise ServerStartError(f"The server exited with code {proc.returncode}.")
            try:
                client.get(url)
                return
            except httpx.TransportError:
                time.sleep(0.1)
    raise ServerStartError(f"Nothing answered at {url} within {timeout_s:.0f}s.")


@contextmanager
def served_catalog(
    catalog: str | Path,
    *,
    port: int | None = None,
    synthetic: int = 0,
    tokens: Sequence[str] = (),
    env: dict[str, str] | None = None,
    quiet: bool = True,
) -> Iterator[str]:
    """`hub-assets-dev serve` over `catalog` in a child process; yields its URL and stops
    it on exit. `tokens` may read gated repos; `env` replaces the child's environment."""
    port = port or free_port()
    child_env = dict(env) if env is not None else None
    if tokens:
        child_env = {**(child_env or _inherited()), "HUB_ASSETS_HUB_TOKENS": ",".join(tokens)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub_assets.devhub.cli", "serve", "--catalog", str(catalog)]
        + ["--port", str(port), "--synthetic", str(synthetic)],
        env=child_env,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{url}/api/models?limit=1", proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _inherited() -> dict[str, str]:
    from hub_assets.environment import child_environment

    return child_environment()
