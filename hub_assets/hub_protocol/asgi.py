"""The Hub protocol as an ASGI app, to mount in an ASGI server (the registry service mounts
the mirror at `/hub`). Answers are computed in a worker thread (they read the registry and
the store); file bodies stream in 1 MB chunks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from hub_assets.errors import HubError
from hub_assets.hub_protocol.files import SentBytes, iter_bytes
from hub_assets.hub_protocol.routing import (
    HubProtocol,
    ProtocolRequest,
    ProtocolResponse,
    error_response,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
MAX_BODY = 1024 * 1024  # paths-info bodies are small


class ProtocolApp:
    """An ASGI app answering the Hub protocol with `protocol`."""

    def __init__(self, protocol: HubProtocol) -> None:
        self.protocol = protocol

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body, too_large = b"", False
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                too_large = True
                body = b""
            if not message.get("more_body"):
                break
        req = _request(scope, body)
        if too_large:
            await _send(send, req, error_response(HubError(413, None, "Body too large.")))
            return
        self.protocol.count(req)
        response = await anyio.to_thread.run_sync(self.protocol.answer, req)
        sent = SentBytes()
        try:
            response = await _send(send, req, response, self.protocol, sent)
        finally:
            client = scope.get("client")
            self.protocol.log_access(req, response, sent.n, client[0] if client else None)


def _request(scope: Scope, body: bytes) -> ProtocolRequest:
    root = scope.get("root_path", "")
    raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    if root and raw.startswith(root):
        raw = raw[len(root) :]
    query = scope.get("query_string", b"").decode("latin-1")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
    base = f"{scope.get('scheme', 'http')}://{host}{root}"
    target = f"{raw or '/'}?{query}" if query else (raw or "/")
    return ProtocolRequest.parse(scope["method"], target, headers, body, base)


async def _send(
    send: Send,
    req: ProtocolRequest,
    r: ProtocolResponse,
    protocol: HubProtocol | None = None,
    sent: SentBytes | None = None,
) -> ProtocolResponse:
    """Write `r` out; the response that went out (a store that refuses the file turns it
    into the refusal), with the body bytes counted in `sent`."""
    sent = sent if sent is not None else SentBytes()
    streamed = r.entry is not None and req.method != "HEAD" and r.length > 0
    if streamed and protocol is not None:
        try:  # before any header goes out, so a store that refuses still gets an answer
            blob = await anyio.to_thread.run_sync(protocol.state.store.open_blob, r.entry)
        except HubError as e:
            refused = error_response(e)
            refused.served = r.served
            return await _send(send, req, refused, None, sent)
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in r.headers.items()]
    await send({"type": "http.response.start", "status": r.status, "headers": headers})
    if not streamed or protocol is None:
        body = b"" if req.method == "HEAD" or r.entry is not None else r.body
        await send({"type": "http.response.body", "body": body, "more_body": False})
        sent.n += len(body)
        return r
    try:
        chunks = iter_bytes(blob, r.start, r.length)
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent.n += len(chunk)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        blob.close()
    return r
