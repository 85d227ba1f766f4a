"""Hashing beside the I/O: digests computed on a worker thread while bytes stream by.

hashlib releases the GIL on large buffers, so a second core hashes while the first
receives or writes: a verified download, or a zip and its sha256, costs one pass over the
bytes instead of two. The queue is bounded, so memory stays a few chunks whatever the size.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Sequence
from typing import BinaryIO

_DONE = object()


class BackgroundHash:
    """Feeds every chunk to each of `hashers` on one worker thread, in order."""

    def __init__(self, hashers: Sequence[object], depth: int = 32) -> None:
        self.hashers = list(hashers)
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        updates: list[Callable[[bytes], None]] = [h.update for h in self.hashers]
        while (chunk := self._queue.get()) is not _DONE:
            try:
                for update in updates:
                    update(chunk)
            except BaseException as e:  # noqa: BLE001 - reported by finish()
                self._error = e

    def update(self, chunk: bytes) -> None:
        """Queue a chunk (bytes are immutable: the caller may go on at once)."""
        self._queue.put(bytes(chunk))

    def finish(self) -> list[object]:
        """Wait until every queued chunk is hashed; the hashers, ready to read."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self.hashers


def file_sha256(
    f: BinaryIO, chunk: int = 8 * 1024 * 1024, progress: Callable[[int], None] | None = None
) -> str:
    """The sha256 of a binary file from its start, in one sequential read; `progress` is
    told the bytes hashed so far after each chunk."""
    f.seek(0)
    h = hashlib.sha256()
    done = 0
    while data := f.read(chunk):
        h.update(data)
        done += len(data)
        if progress:
            progress(done)
    return h.hexdigest()
