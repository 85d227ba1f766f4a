"""An HTTP forwarding proxy on loopback that fails chosen requests: storage faults for tests.

The real s3fs talks to the real moto server through it; a rule makes, e.g., the second
multipart `UploadPart` answer 500 every time, as a failing object store would.
"""

import http.client
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

S3_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
    b"<Message>Injected storage fault</Message></Error>"
)


class FaultProxy:
    """Forwards to `upstream`; requests matching `fail_method` + `fail_path_regex` get 500."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.fail_method: str | None = None
        self.fail_path: str | None = None
        self.failed = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                if (
                    proxy.fail_method == self.command
                    and proxy.fail_path
                    and re.search(proxy.fail_path, self.path)
                ):
                    proxy.failed += 1
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(S3_ERROR)))
                    self.end_headers()
                    self.wfile.write(S3_ERROR)
                    return
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items()}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def fail(self, method: str, path_regex: str) -> None:
        self.fail_method, self.fail_path = method, path_regex

    def heal(self) -> None:
        self.fail_method = self.fail_path = None

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
