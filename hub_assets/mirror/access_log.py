"""The mirror's access log: every request, kept in the registry's `mirror_requests`.

A request only appends its record to a bounded in-memory queue; a writer thread moves the
queue into the registry every `flush_s` seconds in one transaction, so the data path never
waits on the registry. Stopping the mirror writes what is queued. A registry that cannot
be written keeps the records queued (up to `capacity`) and logs why; records past the
capacity are counted as dropped and logged, never blocking a download."""

from __future__ import annotations

import logging
import threading
from collections import deque

from hub_assets.hub_protocol.exchange import AccessRecord
from hub_assets.registry.mirror_usage import record_mirror_requests
from hub_assets.registry.store import Registry

log = logging.getLogger("hub_assets.mirror.access")


class RegistryAccessLog:
    """An `AccessLog` that writes to the registry off the request's path."""

    def __init__(self, registry: Registry, *, flush_s: float = 1.0, capacity: int = 200_000):
        self.registry, self.flush_s, self.capacity = registry, flush_s, capacity
        self.dropped = 0
        self._queue: deque[AccessRecord] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="mirror-access-log", daemon=True)
        self._thread.start()

    def record(self, rec: AccessRecord) -> None:
        """Queue one request's record (O(1), never blocks)."""
        if len(self._queue) >= self.capacity:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.error(
                    "The access log is full (%d records unwritten): %d dropped so far",
                    self.capacity,
                    self.dropped,
                )
            return
        self._queue.append(rec)

    def flush(self) -> int:
        """Write every queued record now; the number written."""
        with self._write_lock:
            batch: list[AccessRecord] = []
            while self._queue:
                batch.append(self._queue.popleft())
            if not batch:
                return 0
            try:
                with self.registry.write() as con:
                    record_mirror_requests(con, [_row(r) for r in batch])
            except Exception as e:  # noqa: BLE001 - whatever failed, the records are kept
                # kept for the next try, oldest first; what no longer fits is dropped
                keep = batch[: max(0, self.capacity - len(self._queue))]
                self._queue.extendleft(reversed(keep))
                self.dropped += len(batch) - len(keep)
                log.warning("Access log not written yet (%d queued): %s", len(self._queue), e)
                return 0
            return len(batch)

    def close(self) -> None:
        """Stop the writer and write what is queued (idempotent)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never let the writer die: the next tick tries again
                log.exception("Access log write failed")


# What a request names is the caller's text: kept to this many characters.
MAX_TEXT = 512


def _row(r: AccessRecord) -> tuple:
    return (
        r.at,
        _cut(r.caller),
        _cut(r.method),
        _cut(r.route),
        _cut(r.repo_id),
        _cut(r.revision),
        _cut(r.sha),
        _cut(r.path),
        r.status,
        r.bytes,
        _cut(r.refusal),
        _cut(r.client),
    )


def _cut(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"
