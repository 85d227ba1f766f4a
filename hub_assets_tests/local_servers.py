"""Real servers on loopback for the tests: PostgreSQL and Redis from the Debian packages,
in a temporary folder (the shared-registry tests and `make test-scale`; `make setup`
installs them), a webhook receiver, and an ASGI app on uvicorn."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SERVER_USER = "postgres"  # PostgreSQL refuses to run as root; Debian's package makes this user


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen | None, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s}s")


def postgres_bin() -> Path:
    """The newest installed PostgreSQL server's bin folder (Debian layout)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise RuntimeError("No PostgreSQL server installed: run `make setup` (it installs it).")
    return Path(found[-1]).parent


class LocalPostgres:
    """A PostgreSQL cluster in a temporary folder, trusting loopback connections."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="hub-assets-pg-"))
        self.data = self.folder / "data"
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_root:  # the server's own user runs the server
            cmd = ["runuser", "-u", SERVER_USER, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> LocalPostgres:
        if self.as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.folder, user.pw_uid, user.pw_gid)
        bin_ = postgres_bin()
        self._run(bin_ / "initdb", "-D", self.data, "-A", "trust", "-U", "hub", "--no-sync")
        opts = (
            f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._run(
            bin_ / "pg_ctl", "-D", self.data, "-o", opts, "-l", self.folder / "log", "-w", "start"
        )
        _wait_port(self.port, None, "PostgreSQL")
        return self

    def url(self, database: str = "postgres") -> str:
        """A libpq URL for `database` (no password: the cluster trusts loopback)."""
        return f"postgresql://hub@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(postgres_bin() / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class LocalRedis:
    """A Redis server on loopback with nothing persisted (a Celery broker)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> LocalRedis:
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(exe).exists():
            raise RuntimeError("No redis-server installed: run `make setup` (it installs it).")
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proc, "Redis")
        return self

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class WebhookReceiver:
    """A webhook receiver on a fixed loopback port that can go down and come back: it
    records each whole POST's headers and body and answers 204 (a body cut short by a
    sender killed mid-request is not a delivery, as for any receiver)."""

    def __init__(self, port: int) -> None:
        self.port, self.got, self.server = port, [], None
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        got, lock = self.got, self.lock

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers["content-length"])
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was delivered
                    self.close_connection = True
                    return
                with lock:
                    got.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[int]:
        """The event ids received, in arrival order (duplicates included)."""
        with self.lock:
            return [int(h["webhook-id"].removeprefix("evt_")) for h, _ in self.got]


@contextmanager
def running_app(app, port: int | None = None) -> Iterator[str]:
    """An ASGI app on uvicorn on loopback (a free port unless given), until the block
    ends; yields its URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
