"""Answering a file download as the Hub does: ranges, the headers clients check, and
streaming with `sendfile` (or throttled, when a fault asks)."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import quote

from hub_assets.errors import HubError
from hub_assets.hub_protocol.repos import BlobWindow, Commit, FileEntry

SEND_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileAnswer:
    """Status, headers and the byte span of a `resolve` answer."""

    status: int
    headers: dict[str, str]
    start: int = 0
    length: int = 0


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a `Range: bytes=...` header over `size` bytes (the whole file
    without one); None when it cannot be satisfied (416); ValueError when malformed."""
    if not header:
        return 0, size - 1
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    if not m or not (m.group(1) or m.group(2)):
        raise ValueError(f"Invalid Range header {header!r}")
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:
        start, end = max(size - int(m.group(2)), 0), size - 1
    return None if start >= size or start > end else (start, end)


def file_answer(commit: Commit, entry: FileEntry, range_header: str | None) -> FileAnswer:
    """The answer to GET/HEAD of a file: 200, 206 for a satisfiable range, 416 otherwise;
    with `X-Repo-Commit`, the ETag and, for LFS files, `X-Linked-Etag` / `X-Linked-Size`."""
    size = entry.size
    try:
        span = byte_range(range_header, size)
    except ValueError as e:
        raise HubError(416, None, str(e)) from None
    if span is None:
        return FileAnswer(416, {"Content-Range": f"bytes */{size}", "Content-Length": "0"})
    start, end = span
    status = 206 if range_header else 200
    length = end - start + 1 if size else 0
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(length),
        "Accept-Ranges": "bytes",
        "X-Repo-Commit": commit.sha,
        "ETag": f'"{entry.etag}"',
        "Content-Disposition": f'inline; filename="{quote(entry.path.rsplit("/", 1)[-1])}"',
    }
    if entry.lfs:
        headers["X-Linked-Etag"] = f'"{entry.sha256}"'
        headers["X-Linked-Size"] = str(size)
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return FileAnswer(status, headers, start, length)


def send_bytes(
    sock: socket.socket,
    wfile: BinaryIO,
    blob: BlobWindow,
    offset: int,
    count: int,
    rate: int | None = None,
    progress: SentBytes | None = None,
) -> None:
    """Send `count` bytes of `blob` from `offset`: zero-copy `sendfile` when its bytes are
    in a local file, else read and written in 1 MB chunks; at most `rate` bytes per second
    when throttled. `progress` counts what went out, also when the client hangs up."""
    progress = progress if progress is not None else SentBytes()
    fd = blob.local_fd()
    if rate is None and fd is not None:
        offset += blob.base
        while count > 0:
            sent = os.sendfile(sock.fileno(), fd, offset, min(count, 8 * SEND_CHUNK))
            if sent == 0:
                break
            offset += sent
            count -= sent
            progress.n += sent
        return
    blob.seek(offset)
    chunk = max(1, min(SEND_CHUNK, rate // 10 or 1)) if rate else SEND_CHUNK
    while count > 0:
        data = blob.read(min(chunk, count))
        if not data:
            break
        wfile.write(data)
        count -= len(data)
        progress.n += len(data)
        if rate:
            time.sleep(len(data) / rate)


@dataclass
class SentBytes:
    """Body bytes sent so far in one answer."""

    n: int = 0


def iter_bytes(blob: BlobWindow, offset: int, count: int) -> Iterator[bytes]:
    """`count` bytes of `blob` from `offset`, in 1 MB chunks (for servers without
    `sendfile`)."""
    blob.seek(offset)
    while count > 0:
        data = blob.read(min(SEND_CHUNK, count))
        if not data:
            break
        count -= len(data)
        yield data
