"""The registry: one DuckDB file, short write transactions, retried on lock; read-only readers.

DuckDB lets one process write a file at a time (and, within a process, forbids mixing
read-only and read-write connections). So every write opens, writes in one transaction and
closes; a writer that finds the file locked waits and retries; readers open read-only.

`registry.location.registry_at` also opens the shared registry (`postgresql://…`,
`registry/postgres.py`): the same tables in PostgreSQL, read and written through the same
DuckDB SQL.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from hub_assets.errors import RegistryError
from hub_assets.registry.migrations import LATEST, current_version, migrate
from hub_assets.settings import DEFAULT_LOCK_TIMEOUT_S, DEFAULT_REGISTRY_PATH

T = TypeVar("T")
# Threads of one process share a DuckDB file and its optimistic transactions, so two of
# them writing at once would both see the same max(id). Each file has one in-process writer
# slot (another process cannot open the file for writing at all while one holds it).
_FILE_WRITE_SLOTS: dict[str, threading.RLock] = {}
_FILE_WRITE_SLOTS_LOCK = threading.Lock()
# Results `Registry.cached` keeps (least recently used dropped first), and for how long at
# most: file times tick coarsely, so two writes within one tick could leave the same stamp.
CACHED_RESULTS = 512
CACHED_MAX_AGE_S = 2.0
# Another connection holds the file: another process (a lock), or this process with the
# other mode (read-only vs read-write; DuckDB keeps one attachment per file and process).
_LOCK_MARKERS = (
    "Could not set lock",
    "Conflicting lock",
    "different configuration",
    "Unique file handle conflict",
)


def _is_lock_error(e: Exception) -> bool:
    return isinstance(e, duckdb.Error) and any(m in str(e) for m in _LOCK_MARKERS)


def next_id(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    """The next integer id of `table` inside a write transaction (writers are serialised in
    both registries, so max + 1 is unique); for inserts that must know their new id."""
    return con.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}").fetchone()[0]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """`con` inside one transaction: committed if the block succeeds, rolled back if not."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


class Registry:
    """The DuckDB registry file at `path`, its schema kept current by `migrations`."""

    shared = False

    def __init__(
        self,
        path: str | Path = DEFAULT_REGISTRY_PATH,
        *,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._schema_current = False
        self._results: OrderedDict[Hashable, tuple[tuple, object, float]] = OrderedDict()
        self._results_lock = threading.Lock()

    def _connect(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_timeout_s
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as e:  # IOException, ConnectionException, resource in use
                if not _is_lock_error(e):
                    raise RegistryError(f"Cannot open the registry {self.path}: {e}") from e
                if time.monotonic() >= deadline:
                    raise RegistryError(
                        f"The registry {self.path} stayed locked by another writer for "
                        f"{self.lock_timeout_s:.0f}s. Wait for the running job to finish, "
                        "or raise the lock timeout."
                    ) from e
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 1.0)

    @property
    def location(self) -> str:
        """Where the registry is, for messages (a path, or a URL without secrets)."""
        return str(self.path)

    def exists(self) -> bool:
        """Whether there is a registry to read yet."""
        return self.path.exists()

    def ensure_schema(self) -> list[int]:
        """Create or upgrade the schema; return the migrations applied."""
        if self._schema_current and self.path.exists():
            return []  # a schema never goes back: checked once per Registry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write_slot():
            con = self._connect(read_only=False)
            try:
                applied = migrate(con)
            finally:
                con.close()
        self._schema_current = True
        return applied

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: committed if the block succeeds, rolled back if it raises."""
        with self._write_slot():
            self.ensure_schema()
            con = self._connect(read_only=False)
            try:
                with transaction(con):
                    yield con
            finally:
                con.close()

    def _write_slot(self) -> threading.RLock:
        """The in-process writer slot of this file, shared by every Registry on it."""
        key = os.path.realpath(self.path)
        with _FILE_WRITE_SLOTS_LOCK:
            return _FILE_WRITE_SLOTS.setdefault(key, threading.RLock())

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (the file must exist)."""
        if not self.path.exists():
            raise RegistryError(
                f"No registry at {self.path}. Run discovery first (`make demo`, or materialize "
                "hub_candidates), or set HUB_ASSETS_REGISTRY to the right file."
            )
        con = self._connect(read_only=True)
        try:
            # A schema never goes back: once current, the check costs nothing again.
            version = LATEST if self._schema_current else current_version(con)
            self._schema_current = version >= LATEST
            if version < LATEST:
                raise RegistryError(
                    f"The registry {self.path} has schema version {version}, this code needs "
                    f"{LATEST}. Any write (a pipeline run) upgrades it."
                )
            yield con
        finally:
            con.close()

    def _stamp(self) -> tuple:
        """What changes whenever a write commits: the database file and its WAL (size,
        mtime, inode). DuckDB appends a commit to the WAL and checkpoints into the file."""
        out = []
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                st = os.stat(p)
                out.append((st.st_size, st.st_mtime_ns, st.st_ino))
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def cached(self, key: Hashable, compute: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`compute(con)` on a read-only connection, or the result it gave for `key` while
        the registry files have not changed since. Opening a connection costs ~16 ms, so
        the service answers repeated reads from here; any write invalidates them all, and
        none is older than CACHED_MAX_AGE_S. Callers must not mutate the result."""
        stamp, now = self._stamp(), time.monotonic()
        with self._results_lock:
            hit = self._results.get(key)
            if hit is not None and hit[0] == stamp and now - hit[2] < CACHED_MAX_AGE_S:
                self._results.move_to_end(key)
                return hit[1]  # type: ignore[return-value]
        with self.read() as con:
            value = compute(con)
        if self._stamp() == stamp:  # nothing was written meanwhile
            with self._results_lock:
                self._results[key] = (stamp, value, now)
                self._results.move_to_end(key)
                while len(self._results) > CACHED_RESULTS:
                    self._results.popitem(last=False)
        return value
