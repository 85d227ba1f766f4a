"""A stand-in for everything beyond loopback: an HTTP(S) proxy that records each request a
process tries to make to an outside host, and refuses it. A test points `HTTPS_PROXY` and
`HTTP_PROXY` at it with `NO_PROXY` naming loopback, so the suite's own servers are reached
directly and any outside lookup (telemetry, download counts, update checks) is caught here
instead of leaving the machine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class OutsideWorld:
    """Records `METHOD target` of every request it is asked to carry, and answers 403."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        world = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms stall

            def log_message(self, *args: object) -> None:
                pass

            def _refuse(self) -> None:
                world.requests.append(f"{self.command} {self.path}")
                self.send_response(403)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()

            do_CONNECT = do_GET = do_HEAD = do_POST = do_PUT = _refuse

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def outside_world_watched(mp: pytest.MonkeyPatch) -> Iterator[OutsideWorld]:
    """This process and its children send every non-loopback request to an `OutsideWorld`."""
    world = OutsideWorld()
    try:
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
            mp.setenv(name, world.url)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        mp.setenv("no_proxy", "127.0.0.1,localhost")
        yield world
    finally:
        world.stop()
