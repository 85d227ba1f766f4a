"""Serving the Hub protocol: a threaded HTTP server over a `ProtocolState`."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from http.server import ThreadingHTTPServer
from typing import Any

from hub_assets.hub_protocol.routing import HubProtocolHandler, ProtocolState


class ConnectionTrackingServer(ThreadingHTTPServer):
    """A threading HTTP server that can cut its keep-alive connections when it stops."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self.open_connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Cut keep-alive connections too, so a stopped server looks down to every client."""
        with self._conn_lock:
            conns = list(self.open_connections)
            self.open_connections.clear()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            except OSError:
                pass


class ProtocolServer:
    """The Hub's HTTP API over a store, in a background thread or in the foreground."""

    def __init__(self, state: ProtocolState, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        handler = type("Handler", (HubProtocolHandler,), {"state": state})
        self._httpd = ConnectionTrackingServer((host, port), handler)
        self._thread: threading.Thread | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        """The base URL clients use as their endpoint."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> Counter:
        """Requests served so far, by `METHOD route` and `total`."""
        return self.state.requests

    def reset_requests(self) -> None:
        """Start counting requests from zero."""
        with self.state.lock:
            self.state.requests.clear()

    def start(self) -> ProtocolServer:
        """Serve in a background thread and return self."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until stopped."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and cut open connections (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_all_connections()

    def __enter__(self) -> ProtocolServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
