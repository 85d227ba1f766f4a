"""The shared registry: the registry's tables in PostgreSQL, read and written through DuckDB.

Many processes on many machines write one registry here; DuckDB stays the SQL engine, so
every query in `registry/` runs unchanged. Why this design (docs/deployment.md):

- PostgreSQL keeps each write transaction atomic and durable, enforces the primary and
  unique keys (`(name, version)` of a package) and drops a killed writer's transaction.
- DuckDB's postgres extension reads and writes those tables with DuckDB's SQL. PyPI ships
  it for a pinned DuckDB (`duckdb-extension-postgres`); it is loaded from that wheel's file,
  never downloaded.
- Writers take one cluster-wide write slot (a PostgreSQL advisory lock) around each write
  transaction, as the single file lets one writer in at a time. The slot is taken before the
  transaction starts, so its snapshot sees every earlier write; DuckDB's upserts, which read
  then write, stay correct. Writes are short: nothing fetches, downloads or runs a model
  inside one. Readers never wait for the slot.
- Views use DuckDB functions (arg_max, JSON paths), so they live in each process's DuckDB
  over the attached tables, built from the same migrations as the file's.

Credentials: the URL names host, port, user and database only; the password comes from
libpq's own `PGPASSWORD` or `~/.pgpass`, so Dagster's resource config never shows it.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb
import psycopg

from hub_assets.errors import RegistryError
from hub_assets.registry.migrations import LATEST, latest_views, postgres_tables_sql
from hub_assets.registry.schema import MIGRATIONS
from hub_assets.registry.store import Registry, transaction
from hub_assets.settings import DEFAULT_LOCK_TIMEOUT_S, check_registry_url

T = TypeVar("T")
# The catalog name of the attached database inside DuckDB.
CATALOG = "registry"
# Advisory lock keys: the write slot, and schema migrations.
WRITE_SLOT_KEY = 0x6875625F7772  # "hub_wr"
MIGRATION_KEY = 0x6875625F6D67  # "hub_mg"
_VIEW_BODY = re.compile(r"^CREATE(?:\s+OR\s+REPLACE)?\s+VIEW\s+(\w+)\s+AS\s+(.*)$", re.I | re.S)
# What a NUL character in text (a model's output, a hostile card) becomes in PostgreSQL,
# which cannot store it: U+FFFD, the replacement character.
NUL_REPLACEMENT = "\ufffd"
# PostgreSQL's words for a unique or primary key violation, as DuckDB relays them.
_DUPLICATE_KEY = "duplicate key value violates unique constraint"


def postgres_extension_file() -> Path:
    """DuckDB's postgres extension from its PyPI wheel, under the file name DuckDB derives
    its entry point from (`postgres_scanner`). Never downloaded."""
    import duckdb_extension_postgres

    version = duckdb.__version__
    shipped = (
        Path(duckdb_extension_postgres.__file__).parent
        / "extensions"
        / f"v{version}"
        / "postgres.duckdb_extension"
    )
    if not shipped.is_file():
        raise RegistryError(
            f"duckdb-extension-postgres has no build for DuckDB {version}. Install the "
            "versions pinned in pyproject.toml (`make setup`)."
        )
    link = Path(tempfile.gettempdir()) / f"hub-assets-duckdb-{version}-{os.getuid()}"
    target = link / "postgres_scanner.duckdb_extension"
    if not (target.is_symlink() and target.resolve() == shipped.resolve()):
        link.mkdir(parents=True, exist_ok=True)
        tmp = link / f".{os.getpid()}.{threading.get_ident()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(shipped)
        os.replace(tmp, target)
    return target


class PostgresRegistry(Registry):
    """The registry's tables in the PostgreSQL database at `url`, through DuckDB."""

    shared = True

    def __init__(self, url: str, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S):
        super().__init__("", lock_timeout_s=lock_timeout_s)
        self.url = check_registry_url(url)
        self.path = None  # type: ignore[assignment]
        self._pid = -1
        # one DuckDB for reads (attached read-only: PostgreSQL refuses any write in its
        # transactions, `hub-assets sql` included) and one for writes
        self._dbs: dict[bool, duckdb.DuckDBPyConnection] = {}
        self._slot: psycopg.Connection | None = None
        self._slot_lock = threading.Lock()
        self._open_lock = threading.Lock()

    @property
    def location(self) -> str:
        return self.url

    def exists(self) -> bool:
        return self._version() > 0

    # --- connections (one DuckDB per process; a fork opens its own) ---------------------
    def _pg(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except psycopg.OperationalError as e:
            raise RegistryError(
                f"Cannot reach the shared registry {self.url}: {str(e).splitlines()[0]}. Check "
                "that PostgreSQL runs there and that PGPASSWORD or ~/.pgpass holds the password."
            ) from None

    def _duckdb(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        with self._open_lock:
            if self._pid != os.getpid():
                self._slot = None  # a forked child must not share its parent's sockets
                self._dbs = {}
                self._pid = os.getpid()
            if read_only not in self._dbs:
                db = duckdb.connect(
                    ":memory:",
                    config={
                        "autoinstall_known_extensions": False,
                        "autoload_known_extensions": False,
                    },
                )
                db.execute(f"LOAD '{postgres_extension_file()}'")
                # PostgreSQL text cannot hold NUL; a model's output or a hostile card can
                db.execute(f"SET GLOBAL pg_null_byte_replacement = '{NUL_REPLACEMENT}'")
                mode = ", READ_ONLY" if read_only else ""
                try:
                    db.execute(f"ATTACH '{self.url}' AS {CATALOG} (TYPE postgres{mode})")
                except duckdb.Error as e:
                    raise RegistryError(
                        f"Cannot attach the shared registry {self.url}: {e}"
                    ) from None
                cur = self._session(db)
                for stmt in latest_views().values():
                    name, body = _VIEW_BODY.match(stmt).groups()
                    cur.execute(f"CREATE OR REPLACE VIEW memory.main.{name} AS {body}")
                cur.close()
                self._dbs[read_only] = db
            return self._dbs[read_only]

    @staticmethod
    def _session(db: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        cur = db.cursor()
        cur.execute(f"SET search_path = '{CATALOG}.public,memory.main'")
        return cur

    # --- schema ---------------------------------------------------------------------------
    def _version(self) -> int:
        with self._pg() as pg:
            exists = pg.execute("SELECT to_regclass('public.schema_migrations')").fetchone()[0]
            if exists is None:
                return 0
            row = pg.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            return row.fetchone()[0]

    def ensure_schema(self) -> list[int]:
        """Create or upgrade the tables (under an advisory lock: many processes may start
        at once); return the migrations this call applied."""
        if self._schema_current:
            return []
        applied = []
        with self._pg() as pg:
            with pg.transaction():
                pg.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_KEY])
                pg.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                    "name VARCHAR, applied_at TIMESTAMPTZ DEFAULT now())"
                )
                have = pg.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
                have = have.fetchone()[0]
                for version, name, _ in MIGRATIONS:
                    if version <= have:
                        continue
                    pg.execute(postgres_tables_sql(version))
                    pg.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        [version, name],
                    )
                    applied.append(version)
        self._schema_current = True
        return applied

    # --- the write slot ---------------------------------------------------------------------
    @contextmanager
    def _write_slot(self) -> Iterator[None]:
        with self._slot_lock:  # threads of one process take turns first
            if self._slot is None or self._slot.closed or self._pid != os.getpid():
                self._slot = self._pg()
            ms = int(self.lock_timeout_s * 1000)
            try:
                self._slot.execute(f"SET lock_timeout = {ms}")
                self._slot.execute("SELECT pg_advisory_lock(%s)", [WRITE_SLOT_KEY])
            except psycopg.errors.LockNotAvailable:
                raise RegistryError(
                    f"The shared registry's write slot stayed taken for "
                    f"{self.lock_timeout_s:.0f}s. A writer is stuck: see pg_locks on "
                    f"{self.url}, or raise the lock timeout."
                ) from None
            except psycopg.OperationalError:
                self._slot = None  # the server went away: the next write reconnects
                raise
            try:
                yield
            finally:
                try:
                    self._slot.execute("SELECT pg_advisory_unlock(%s)", [WRITE_SLOT_KEY])
                except psycopg.Error:
                    self._slot = None  # a lost session releases its locks itself

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction inside the write slot: committed if the block succeeds,
        rolled back if it raises (or if this process dies: PostgreSQL drops it)."""
        self.ensure_schema()
        db = self._duckdb(read_only=False)
        with self._write_slot():
            cur = self._session(db)
            try:
                with transaction(cur):
                    yield cur
            except duckdb.Error as e:
                if _DUPLICATE_KEY in str(e):  # the same error as the file's
                    raise duckdb.ConstraintException(str(e)) from e
                raise
            finally:
                cur.close()

    @contextmanager
    def read_apart(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read (PostgreSQL itself refuses any write in its read-only attachment)."""
        with self.read() as con:
            yield con

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for reads (never waits for the write slot)."""
        if not self._schema_current:
            version = self._version()
            if version == 0:
                raise RegistryError(
                    f"The shared registry {self.url} has no tables yet. Run discovery first, "
                    "or `hub-assets migrate`."
                )
            if version < LATEST:
                raise RegistryError(
                    f"The shared registry {self.url} has schema version {version}, this code "
                    f"needs {LATEST}. Any write (a pipeline run) upgrades it."
                )
            self._schema_current = True
        cur = self._session(self._duckdb(read_only=True))
        try:
            yield cur
        finally:
            cur.close()

    def cached(self, key: Hashable, compute: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`compute(con)`, fresh each time: other machines write without a local stamp."""
        with self.read() as con:
            return compute(con)


def copy_file_registry(source: Registry, target: PostgresRegistry) -> dict[str, int]:
    """Copy every row of a registry file into an empty shared registry, in one
    transaction inside the write slot; return rows copied per table. Sequences continue
    after the copied ids."""
    source.ensure_schema()  # the same schema version on both sides
    target.ensure_schema()
    with psycopg.connect(target.url, autocommit=True) as pg:
        tables = [
            r[0]
            for r in pg.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'schema_migrations' ORDER BY tablename"
            )
        ]
        filled = [t for t in tables if pg.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone()]
        if filled:
            raise RegistryError(
                f"The shared registry {target.url} already has rows ({', '.join(filled)}): "
                "copy into an empty database."
            )
    copied = {}
    with target._write_slot():
        con = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        try:
            con.execute(f"LOAD '{postgres_extension_file()}'")
            con.execute(f"ATTACH '{source.path}' AS source (READ_ONLY)")
            con.execute(f"ATTACH '{target.url}' AS target (TYPE postgres)")
            with transaction(con):
                for table in tables:
                    columns = ", ".join(
                        c[0]
                        for c in con.execute(
                            "SELECT column_name FROM information_schema.columns "
                            "WHERE table_catalog = 'target' AND table_name = ? "
                            "ORDER BY ordinal_position",
                            [table],
                        ).fetchall()
                    )
                    con.execute(
                        f"INSERT INTO target.public.{table} ({columns}) "
                        f"SELECT {columns} FROM source.main.{table}"
                    )
                    copied[table] = con.execute(
                        f"SELECT count(*) FROM source.main.{table}"
                    ).fetchone()[0]
        finally:
            con.close()
    with psycopg.connect(target.url, autocommit=True) as pg:
        for table, column, default in pg.execute(
            "SELECT table_name, column_name, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'"
        ).fetchall():
            sequence = default.split("'")[1]
            pg.execute(
                f"SELECT setval('{sequence}', coalesce((SELECT max({column}) FROM {table}), 0) "
                "+ 1, false)"
            )
    return copied
