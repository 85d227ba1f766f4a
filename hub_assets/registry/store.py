"""The registry: one DuckDB file, short write transactions, retried on lock; read-only readers.

DuckDB lets one process write a file at a time (and, within a process, forbids mixing
read-only and read-write attachments of one file). So every write attaches the file, writes
in one transaction and detaches it; a writer that finds the file locked waits and retries;
readers attach it read-only.

Each process keeps one in-memory DuckDB and ATTACHes a registry file to it for as long as
some thread of the process reads or writes it, DETACHing it (which frees the file for other
processes, as closing a connection did) when the last one ends. Opening a DuckDB costs
~12 ms of CPU (the new database registers every built-in function), and a read through a
new connection ~19 ms against ~7 ms through an attachment (bench/bench_registry.py): a
service request, a pipeline stage and a test each opened dozens.

`registry.location.registry_at` also opens the shared registry (`postgresql://…`,
`registry/postgres.py`): the same tables in PostgreSQL, read and written through the same
DuckDB SQL.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


class _LockRetry:
    """Opening a file another process holds, again and again until the lock timeout: the
    wait between tries doubles from 50 ms to 1 s, jittered so that waiters spread out."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.deadline = time.monotonic() + registry.lock_timeout_s
        self.delay = 0.05

    def wait_after(self, e: duckdb.Error) -> float:
        """The seconds to wait before trying again after `e`; raises RegistryError when `e`
        is not another process's lock, or when the lock timeout has passed."""
        if not _is_lock_error(e):
            raise RegistryError(f"Cannot open the registry {self.registry.path}: {e}") from e
        if time.monotonic() >= self.deadline:
            raise self.registry._locked() from e
        wait = self.delay * (1 + random.random())
        self.delay = min(self.delay * 2, 1.0)
        return wait


@dataclass
class _Attached:
    """A registry file attached to this process's DuckDB, and who is using it."""

    alias: str
    read_only: bool
    users: int = 0
    writers: int = 0
    threads: dict[int, int] = field(default_factory=dict)  # thread ident -> its uses


class _Attachments:
    """This process's in-memory DuckDB and the registry files attached to it."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.db: duckdb.DuckDBPyConnection | None = None
        self.files: dict[str, _Attached] = {}
        self.writers_waiting: dict[str, int] = {}

    def database(self) -> duckdb.DuckDBPyConnection:
        if self.db is None:
            self.db = duckdb.connect(
                ":memory:",
                config={"autoinstall_known_extensions": False, "autoload_known_extensions": False},
            )
        return self.db


_ATTACHMENTS = _Attachments()


def _after_fork_in_child() -> None:
    # the parent's DuckDB (its threads, its locks) is not the child's: start afresh
    global _ATTACHMENTS
    _ATTACHMENTS = _Attachments()


os.register_at_fork(after_in_child=_after_fork_in_child)


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

    @contextmanager
    def _connect(self, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose default database is this file, attached to the process's
        DuckDB (read-only unless `read_only` is False); detached when its last user ends.

        Threads share an attachment of the same mode, and readers join a writer's (within
        the process, a read-write attachment reads the same rows). The other mode waits
        until every user of the attachment has ended; new readers wait while a writer does.
        Another process holding the file is a lock: retried until `lock_timeout_s`."""
        key = os.path.realpath(self.path)
        alias = "registry_" + hashlib.sha256(key.encode()).hexdigest()[:16]
        retry = _LockRetry(self)
        state, me = _ATTACHMENTS, threading.get_ident()
        with state.changed:
            if not read_only:
                state.writers_waiting[key] = state.writers_waiting.get(key, 0) + 1
            try:
                while True:
                    entry = state.files.get(key)
                    if entry is not None and (
                        (entry.read_only and read_only and not state.writers_waiting.get(key))
                        or (not entry.read_only and (entry.writers or not read_only))
                        # a thread reading inside its own read (or write) never waits
                        or (read_only and me in entry.threads)
                    ):
                        break
                    if entry is None:
                        try:
                            entry = self._attach(state.database(), key, alias, read_only)
                        except duckdb.Error as e:
                            # another process holds the file: let go of the lock meanwhile
                            state.changed.wait(retry.wait_after(e))
                            continue
                        state.files[key] = entry
                        break
                    left = retry.deadline - time.monotonic()
                    if left <= 0:
                        raise self._locked()
                    state.changed.wait(min(left, 1.0))  # the other mode ends first
                entry.users += 1
                entry.writers += not read_only
                entry.threads[me] = entry.threads.get(me, 0) + 1
                con = state.database().cursor()
            finally:
                if not read_only:
                    state.writers_waiting[key] -= 1
        try:
            con.execute(f"USE {alias}")
            yield con
        finally:
            con.close()
            with state.changed:
                entry.users -= 1
                entry.writers -= not read_only
                entry.threads[me] -= 1
                if not entry.threads[me]:
                    del entry.threads[me]
                if entry.users == 0:
                    del state.files[key]
                    try:
                        state.database().execute(f"DETACH {alias}")
                    finally:
                        state.changed.notify_all()

    def _attach(
        self, db: duckdb.DuckDBPyConnection, key: str, alias: str, read_only: bool
    ) -> _Attached:
        quoted = key.replace("'", "''")
        db.execute(f"ATTACH '{quoted}' AS {alias}" + (" (READ_ONLY)" if read_only else ""))
        return _Attached(alias, read_only)

    def _locked(self) -> RegistryError:
        return RegistryError(
            f"The registry {self.path} stayed locked by another writer for "
            f"{self.lock_timeout_s:.0f}s. Wait for the running job to finish, "
            "or raise the lock timeout."
        )

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
        if self.path.exists():  # most often current: a read says so without locking writers
            with self._connect(read_only=True) as con:
                self._schema_current = current_version(con) >= LATEST
            if self._schema_current:
                return []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._write_slot(), self._connect(read_only=False) as con:
            applied = migrate(con)
        self._schema_current = True
        return applied

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: committed if the block succeeds, rolled back if it raises."""
        with self._write_slot():
            self.ensure_schema()
            with self._connect(read_only=False) as con, transaction(con):
                yield con

    def _write_slot(self) -> threading.RLock:
        """The in-process writer slot of this file, shared by every Registry on it."""
        key = os.path.realpath(self.path)
        with _FILE_WRITE_SLOTS_LOCK:
            return _FILE_WRITE_SLOTS.setdefault(key, threading.RLock())

    def _must_exist(self) -> None:
        if not self.path.exists():
            raise RegistryError(
                f"No registry at {self.path}. Run discovery first (`make demo`, or materialize "
                "hub_candidates), or set HUB_ASSETS_REGISTRY to the right file."
            )

    @contextmanager
    def read_apart(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only DuckDB of its own on the file, for SQL a person typed (`hub-assets
        sql`): it can write nowhere (not even to this process's in-memory database, nor
        ATTACH another file), and DuckDB's messages name the file."""
        with self.read():  # there, current, and no write of this process under way
            pass
        con = self._connect_apart()
        try:
            yield con
        finally:
            con.close()

    def _connect_apart(self) -> duckdb.DuckDBPyConnection:
        retry = _LockRetry(self)
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=True)
            except duckdb.Error as e:
                time.sleep(retry.wait_after(e))

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (the file must exist)."""
        self._must_exist()
        with self._connect(read_only=True) as con:
            # A schema never goes back: once current, the check costs nothing again.
            version = LATEST if self._schema_current else current_version(con)
            self._schema_current = version >= LATEST
            if version < LATEST:
                raise RegistryError(
                    f"The registry {self.path} has schema version {version}, this code needs "
                    f"{LATEST}. Any write (a pipeline run) upgrades it."
                )
            yield con

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
        the registry files have not changed since. A read costs an attachment and a query, so
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
