"""HTTP calls from the tests to the servers they start: httpx's functions, with one TLS
context for all of them. `httpx.get(url)` builds a context from certifi's bundle at every
call (about 30 ms, even for an http:// URL), some 500 times a suite. As with `httpx.get`,
each call is a client of its own: no cookie and no connection carries over to the next."""

from typing import Any

import httpx

_TLS = httpx.create_ssl_context()


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.request`, with the shared TLS context."""
    return httpx.request(method, url, verify=_TLS, **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.get`, with the shared TLS context."""
    return request("GET", url, **kwargs)


def head(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.head`, with the shared TLS context."""
    return request("HEAD", url, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.post`, with the shared TLS context."""
    return request("POST", url, **kwargs)


def put(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.put`, with the shared TLS context."""
    return request("PUT", url, **kwargs)


def delete(url: str, **kwargs: Any) -> httpx.Response:
    """`httpx.delete`, with the shared TLS context."""
    return request("DELETE", url, **kwargs)
