"""Serving the Hub protocol from a threaded HTTP server: file bodies go out with
`sendfile` (zero-copy) when the store's bytes are local, and faults, when the state has a
`FaultSource`, make the clients' error paths testable."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from hub_assets.errors import HubError
from hub_assets.hub_protocol.files import SentBytes, send_bytes
from hub_assets.hub_protocol.routing import (
    ADMIN_PREFIX,
    HubProtocol,
    ProtocolRequest,
    ProtocolResponse,
    ProtocolState,
    error_response,
    json_response,
)
from hub_assets.hub_protocol.uploads import LFS_PREFIX


class _Body(io.RawIOBase):
    """A request body as a stream: `Content-Length` bytes, or a chunked body decoded."""

    def __init__(self, rfile: Any, headers: Any) -> None:
        super().__init__()
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.left = 0 if self.chunked else int(headers.get("Content-Length") or 0)
        self.done = not self.chunked and self.left == 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.done:
            return 0
        if self.chunked and self.left == 0:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                self.left = int(size_line, 16)
            except ValueError:
                raise HubError(400, None, "Malformed chunked body.") from None
            if self.left == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                self.done = True
                return 0
        data = self.rfile.read(min(len(b), self.left))
        if not data:
            raise HubError(400, None, "The body ended early.")
        b[: len(data)] = data
        self.left -= len(data)
        if self.left == 0:
            if self.chunked:
                self.rfile.readline(16)  # the CRLF after a chunk
            else:
                self.done = True
        return len(data)

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (all when n < 0), fewer only at the end of the body."""
        out = bytearray()
        while n < 0 or len(out) < n:
            chunk = super().read(1024 * 1024 if n < 0 else min(1024 * 1024, n - len(out)))
            if not chunk:
                break
            out += chunk
        return bytes(out)


class HubProtocolHandler(BaseHTTPRequestHandler):
    """Carries requests to `protocol.answer` and writes its responses; one instance per
    connection."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK stall every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    server_version = "hub-assets-hub/1"
    protocol: HubProtocol  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: request counts are kept in state.requests

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        state = self.protocol.state
        req: ProtocolRequest | None = None
        response: ProtocolResponse | None = None
        sent = SentBytes()
        try:
            stream = _Body(self.rfile, self.headers)
            upload = method == "PUT" and self.path.startswith(LFS_PREFIX)
            # bodies over the state's limit are refused before they are read (by their
            # length) or as they arrive (chunked); LFS uploads stream to disk instead
            limit = state.max_body
            declared = self.headers.get("Content-Length") or ""
            too_long = declared.isdigit() and int(declared) > limit
            body = b"" if upload or too_long else stream.read(limit + 1)
            if too_long or len(body) > limit:
                self.close_connection = True
                raise HubError(413, None, f"Request bodies are limited to {limit:,} bytes.")
            host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
            req = ProtocolRequest.parse(
                method, self.path, self.headers, body, f"http://{host}", stream if upload else None
            )
            if req.path.startswith(ADMIN_PREFIX):
                if state.faults is None:
                    raise HubError(404, None, f"Not found: {req.path}")
                status, data = state.faults.admin(method, req.path, body)
                return self._write(method, json_response(data, status=status))
            self.protocol.count(req)
            fault = (
                state.faults.take(method, unquote(req.path), req.file_path())
                if state.faults is not None
                else None
            )
            if fault and fault.kind == "slow" and fault.delay_s:
                time.sleep(fault.delay_s)
            if fault and fault.kind == "status":
                headers = dict(fault.headers or {})
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                raise HubError(fault.status, fault.error_code, "Injected fault", headers)
            if fault and fault.kind == "drop" and req.file_path() is None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            response = self.protocol.answer(req)
            if upload and not stream.done:
                self.close_connection = True  # the unread rest of a refused upload
            self._write(method, response, fault, sent)
        except HubError as e:
            refused = error_response(e)
            if response is not None:  # the store refused the file: same request, same caller
                refused.served = response.served
            response = refused
            self._write(method, response, None, sent)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        if req is not None and response is not None:
            self.protocol.log_access(req, response, sent.n, self.client_address[0])

    def _write(
        self, method: str, r: ProtocolResponse, fault: Any = None, sent: SentBytes | None = None
    ) -> None:
        sent = sent if sent is not None else SentBytes()
        streamed = r.entry is not None and method != "HEAD" and r.length > 0
        # opened before any header goes out, so a store that refuses still gets an answer
        blob = self.protocol.state.store.open_blob(r.entry) if streamed else None
        try:
            self.send_response(r.status)
            for k, v in r.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if method == "HEAD" or (r.entry is not None and blob is None):
                return
            if blob is None:
                self.wfile.write(r.body)
                sent.n += len(r.body)
                return
            limit = r.length
            if fault and fault.kind == "drop":
                limit = min(limit, fault.after_bytes)
            rate = fault.bytes_per_s if fault and fault.kind == "slow" else None
            send_bytes(self.connection, self.wfile, blob, r.start, limit, rate, sent)
            if limit < r.length:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if blob is not None:
                blob.close()


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
        handler = type("Handler", (HubProtocolHandler,), {"protocol": HubProtocol(state)})
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
        if self.state.access_log is not None:
            self.state.access_log.close()

    def __enter__(self) -> ProtocolServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
