"""The registry: one DuckDB file, short write transactions, retried on lock; read-only readers.

DuckDB lets one process write a file at a time (and, within a process, forbids mixing
read-only and read-write connections). So every write opens, writes in one transaction and
closes; a writer that finds the file locked waits and retries; readers open read-only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from hub_assets.errors import HubAssetsError
from hub_assets.registry.migrations import LATEST, current_version, migrate

DEFAULT_REGISTRY_PATH = "data/registry.duckdb"
# How long a writer waits for another (HUB_ASSETS_REGISTRY_LOCK_TIMEOUT_S).
DEFAULT_LOCK_TIMEOUT_S = 120.0
# Another connection holds the file: another process (a lock), or this process with the
# other mode (read-only vs read-write; DuckDB keeps one attachment per file and process).
_LOCK_MARKERS = (
    "Could not set lock",
    "Conflicting lock",
    "different configuration",
    "Unique file handle conflict",
)


class RegistryError(HubAssetsError, RuntimeError):
    """The registry could not be opened or used; the message says why and what to do."""

    outcome = "error"


def _is_lock_error(e: Exception) -> bool:
    return isinstance(e, duckdb.Error) and any(m in str(e) for m in _LOCK_MARKERS)


class Registry:
    """The DuckDB registry file at `path`, its schema kept current by `migrations`."""

    def __init__(
        self,
        path: str | Path = DEFAULT_REGISTRY_PATH,
        *,
        lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S,
    ):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._schema_current = False

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

    def ensure_schema(self) -> list[int]:
        """Create or upgrade the schema; return the migrations applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect(read_only=False)
        try:
            return migrate(con)
        finally:
            con.close()

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction: committed if the block succeeds, rolled back if it raises."""
        self.ensure_schema()
        con = self._connect(read_only=False)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

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
