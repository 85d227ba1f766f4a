"""Registry reads and writes for packages and ad-hoc ingest requests."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import duckdb

from hub_assets.errors import EXIT_CODES, InvalidFilterError
from hub_assets.registry.metrics import current_revision, latest_gate_result
from hub_assets.registry.models import now
from hub_assets.registry.store import Registry, next_id
from hub_assets.states import RequestStatus

REQUEST_STATUSES = tuple(s.value for s in RequestStatus)  # states.py names them
# The Dagster run tag that links a run to its `ingest_requests` row.
REQUEST_TAG = "hub_assets/ingest_request"
OUTCOMES = tuple(EXIT_CODES)  # every outcome, defined once in hub_assets.errors


@dataclass(frozen=True)
class PackageRow:
    """A stored package."""

    package_id: str
    name: str
    version: str
    model_id: str
    revision_sha: str
    uri: str
    size_bytes: int
    sha256: str
    net_score: float | None
    manifest: dict


def find_package_by_id(con: duckdb.DuckDBPyConnection, package_id: str) -> PackageRow | None:
    """The package with this id, if any."""
    row = con.execute(
        "SELECT name, version FROM packages WHERE package_id = ?", [package_id]
    ).fetchone()
    return find_package(con, row[0], row[1]) if row else None


def find_package(con: duckdb.DuckDBPyConnection, name: str, version: str) -> PackageRow | None:
    row = con.execute(
        "SELECT package_id, name, version, model_id, revision_sha, uri, size_bytes, sha256, "
        "net_score, manifest FROM packages WHERE name = ? AND version = ?",
        [name, version],
    ).fetchone()
    return PackageRow(*row[:9], json.loads(row[9])) if row else None


def revision_package(
    con: duckdb.DuckDBPyConnection, model_id: str, revision_sha: str
) -> PackageRow | None:
    """The newest live package of this revision (None: never packaged, or all retired)."""
    row = con.execute(
        "SELECT name, version FROM packages WHERE model_id = ? AND revision_sha = ? "
        "AND retired_at IS NULL "
        "ORDER BY created_at DESC LIMIT 1",
        [model_id, revision_sha],
    ).fetchone()
    return find_package(con, row[0], row[1]) if row else None


def claim_package(
    con: duckdb.DuckDBPyConnection,
    *,
    name: str,
    version: str,
    model_id: str,
    revision_sha: str,
    run_id: str,
    stale_after_s: float,
) -> tuple[str, str] | None:
    """Claim (name, version) for `run_id` before its bytes are written, inside the write
    transaction that found no such package. None: claimed (or already this run's, or taken
    over from a claim older than `stale_after_s`, whose writer died). Otherwise the other
    run's (run_id, claimed_at) that holds it."""
    held = con.execute(
        "SELECT run_id, claimed_at FROM package_claims WHERE name = ? AND version = ?",
        [name, version],
    ).fetchone()
    ts = now()
    if held is not None and held[0] != run_id:
        age = (ts - held[1]).total_seconds()
        if age < stale_after_s:
            return held[0], held[1].isoformat(timespec="seconds")
    con.execute("DELETE FROM package_claims WHERE name = ? AND version = ?", [name, version])
    con.execute(
        "INSERT INTO package_claims (name, version, model_id, revision_sha, run_id, claimed_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [name, version, model_id, revision_sha, run_id, ts],
    )
    return None


def renew_package_claim(
    con: duckdb.DuckDBPyConnection, name: str, version: str, run_id: str
) -> bool:
    """Renew `run_id`'s claim on (name, version); False if it is no longer this run's (it
    went stale and another run took it over)."""
    held = con.execute(
        "SELECT run_id FROM package_claims WHERE name = ? AND version = ?", [name, version]
    ).fetchone()
    if held is None or held[0] != run_id:
        return False
    con.execute(
        "UPDATE package_claims SET claimed_at = ? WHERE name = ? AND version = ?",
        [now(), name, version],
    )
    return True


def release_package_claim(
    con: duckdb.DuckDBPyConnection, name: str, version: str, run_id: str
) -> None:
    """Drop `run_id`'s claim on (name, version): its package is recorded, or it failed."""
    con.execute(
        "DELETE FROM package_claims WHERE name = ? AND version = ? AND run_id = ?",
        [name, version, run_id],
    )


def insert_package(
    con: duckdb.DuckDBPyConnection,
    *,
    package_id: str,
    name: str,
    version: str,
    model_id: str,
    revision_sha: str,
    uri: str,
    size_bytes: int,
    sha256: str,
    manifest: dict,
    model_card: str,
    net_score: float | None,
    description: str,
    run_id: str,
) -> None:
    """Record a package; (name, version) is unique, so a duplicate raises."""
    con.execute(
        "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
        "size_bytes, sha256, manifest, model_card, net_score, description, run_id, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            package_id,
            name,
            version,
            model_id,
            revision_sha,
            uri,
            size_bytes,
            sha256,
            json.dumps(manifest),
            model_card,
            net_score,
            description,
            run_id,
            now(),
        ],
    )


def add_request(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    version: str,
    description: str | None,
    requested_by: str | None = None,
) -> int:
    """Record an ad-hoc ingest request (pending) and who asked; return its id."""
    ts = now()
    request_id = next_id(con, "ingest_requests", "request_id")
    con.execute(
        "INSERT INTO ingest_requests (request_id, model_id, version, description, status, "
        "requested_at, updated_at, requested_by) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
        [request_id, model_id, version, description, ts, ts, requested_by],
    )
    return request_id


def open_request_for(con: duckdb.DuckDBPyConnection, model_id: str) -> int | None:
    """The oldest pending or running ingest request of a model, if any."""
    row = con.execute(
        "SELECT min(request_id) FROM ingest_requests WHERE model_id = ? "
        "AND status IN ('pending', 'running')",
        [model_id],
    ).fetchone()
    return row[0] if row else None


def revision_judged(con: duckdb.DuckDBPyConnection, model_id: str, revision_sha: str) -> bool:
    """Whether a revision already has a verdict: a gate result, or a lifecycle event that
    settled it (filtered out, for one)."""
    return bool(
        con.execute(
            "SELECT EXISTS (SELECT 1 FROM gate_results WHERE model_id = $m AND "
            "revision_sha = $s) OR EXISTS (SELECT 1 FROM model_status_events WHERE "
            "model_id = $m AND revision_sha = $s AND status IN ('filtered_out', "
            "'gate_failed', 'gate_passed'))",
            {"m": model_id, "s": revision_sha},
        ).fetchone()[0]
    )


def requesters_of(con: duckdb.DuckDBPyConnection, model_id: str, revision_sha: str) -> set[str]:
    """Who asked for the ingestion that packaged this revision (any of its packages)."""
    rows = con.execute(
        "SELECT DISTINCT r.requested_by FROM ingest_requests r "
        "JOIN packages p ON p.package_id = r.package_id "
        "WHERE r.model_id = ? AND p.revision_sha = ? AND r.requested_by IS NOT NULL",
        [model_id, revision_sha],
    ).fetchall()
    return {r[0] for r in rows}


def update_request(
    con: duckdb.DuckDBPyConnection,
    request_id: int,
    *,
    status: str,
    outcome: str | None = None,
    message: str | None = None,
    package_id: str | None = None,
    run_id: str | None = None,
) -> None:
    """Move a request along: running, then succeeded or failed with an outcome."""
    if status not in REQUEST_STATUSES:
        raise ValueError(f"Unknown request status {status!r}")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"Unknown ingest outcome {outcome!r}")
    con.execute(
        "UPDATE ingest_requests SET status = ?, outcome = coalesce(?, outcome), "
        "message = coalesce(?, message), package_id = coalesce(?, package_id), "
        "run_id = coalesce(?, run_id), updated_at = ? WHERE request_id = ?",
        [status, outcome, message, package_id, run_id, now(), request_id],
    )


def get_request(con: duckdb.DuckDBPyConnection, request_id: int) -> dict | None:
    cur = con.execute("SELECT * FROM ingest_requests WHERE request_id = ?", [request_id])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None


def pending_requests(con: duckdb.DuckDBPyConnection, after: int) -> list[dict]:
    cur = con.execute(
        "SELECT request_id, model_id, version, description FROM ingest_requests "
        "WHERE request_id > ? AND status = 'pending' ORDER BY request_id",
        [after],
    )
    return [
        dict(zip(["request_id", "model_id", "version", "description"], r, strict=True))
        for r in cur.fetchall()
    ]


def _semver(v: str) -> tuple[int, int, int]:
    core = v.split("-", 1)[0].split("+", 1)[0]
    major, minor, patch = (int(x) for x in core.split("."))
    return major, minor, patch


def auto_version(con: duckdb.DuckDBPyConnection, name: str, revision_sha: str) -> str:
    """The version a package of this revision gets when none is asked for: the version it
    already has, else 1.0.0 for a model's first package, else the highest minor + 1."""
    rows = con.execute(
        "SELECT version, revision_sha FROM packages WHERE name = ?", [name]
    ).fetchall()
    for version, sha in rows:
        if sha == revision_sha:
            return version
    if not rows:
        return "1.0.0"
    major, minor, _ = max(_semver(v) for v, _ in rows)
    return f"{major}.{minor + 1}.0"


def record_failed_request(
    registry: Registry, request_id: int, run_id: str, error: str, outcome: str = "error"
) -> str:
    """Store the failure's outcome and message on the request (a failed gate, found in the
    registry, takes precedence), and return the message."""
    with registry.read() as con:
        request = get_request(con, request_id)
        if request is None or request["status"] in ("succeeded",):
            return request["message"] if request else error
        if request["status"] == "failed" and request["outcome"]:
            return request["message"]  # the asset already said why
        model_id = request["model_id"]
        current = current_revision(con, model_id)
        gate = latest_gate_result(con, model_id, current[0]) if current else None
    if gate is not None and not gate["passed"]:
        outcome, message = "gate_failed", gate["message"]
    else:
        message = error
    with registry.write() as con:
        update_request(
            con, request_id, status="failed", outcome=outcome, message=message, run_id=run_id
        )
    return message


PACKAGE_COLUMNS = (
    "package_id, name, version, model_id, revision_sha, uri, size_bytes, sha256, net_score, "
    "description, created_at, retired_at, retired_by"
)


def check_name_pattern(con: duckdb.DuckDBPyConnection, pattern: str) -> str:
    """Validate a name filter with the engine that runs it (DuckDB's RE2: no look-around,
    no back-references), so a pattern is refused at the edge rather than failing the query."""
    try:
        con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchone()
    except duckdb.Error as e:
        why = str(e).splitlines()[0].split(": ", 1)[-1]
        raise InvalidFilterError(
            f"Invalid name pattern {pattern[:80]!r}: {why[:200]} (patterns use RE2 syntax: "
            "no look-around, no back-references)."
        ) from None
    return pattern


def list_packages(
    con: duckdb.DuckDBPyConnection,
    *,
    name_regex: str | None = None,
    model_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[dict]]:
    """(total, one page of packages), newest first; every filter is a bound parameter."""
    if name_regex is not None:
        check_name_pattern(con, name_regex)
    where = (
        "(? IS NULL OR regexp_matches(name, ?)) AND (? IS NULL OR model_id = ?) AND "
        "(? IS NULL OR (? = 'retired') = (retired_at IS NOT NULL))"
    )
    params = [name_regex, name_regex, model_id, model_id, status, status]
    total = con.execute(f"SELECT count(*) FROM packages WHERE {where}", params).fetchone()[0]
    cur = con.execute(
        f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE {where} "
        "ORDER BY created_at DESC, package_id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    cols = [d[0] for d in cur.description]
    return total, [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def package_record(con: duckdb.DuckDBPyConnection, package_id: str) -> dict | None:
    """One package's record (no manifest), or None."""
    cur = con.execute(f"SELECT {PACKAGE_COLUMNS} FROM packages WHERE package_id = ?", [package_id])
    row = cur.fetchone()
    return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None


def retire_package(con: duckdb.DuckDBPyConnection, package_id: str, by: str) -> bool:
    """Mark a package retired (the row stays, for audit); False if it already was."""
    live = con.execute(
        "SELECT count(*) FROM packages WHERE package_id = ? AND retired_at IS NULL", [package_id]
    ).fetchone()[0]
    if live:
        con.execute(
            "UPDATE packages SET retired_at = ?, retired_by = ? WHERE package_id = ?",
            [now(), by, package_id],
        )
    return bool(live)


def ingested_revisions(con: duckdb.DuckDBPyConnection, model_id: str) -> set[str]:
    """Revision shas of a model with a live (not retired) package."""
    rows = con.execute(
        "SELECT DISTINCT revision_sha FROM packages WHERE model_id = ? AND retired_at IS NULL",
        [model_id],
    ).fetchall()
    return {r[0] for r in rows}


def record_lockfile(
    con: duckdb.DuckDBPyConnection,
    path: str,
    pinned: Mapping[str, str],
    created_by: str | None,
) -> str:
    """Record a lockfile `hub-assets lock` wrote: each model it pins at which revision."""
    lock_id = uuid.uuid4().hex
    at = now()
    for model_id, sha in sorted(pinned.items()):
        con.execute(
            "INSERT INTO lockfiles VALUES (?, ?, ?, ?, ?, ?)",
            [lock_id, path, model_id, sha, created_by, at],
        )
    return lock_id


def lockfiles_pinning(
    con: duckdb.DuckDBPyConnection, revisions: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], list[str]]:
    """The lockfiles (their paths) that pin each (model, sha)."""
    if not revisions:
        return {}
    rows = con.execute(
        "SELECT w.model_id, w.revision_sha, list(DISTINCT l.path ORDER BY l.path) "
        "FROM lockfiles l JOIN (SELECT unnest(?) AS model_id, unnest(?) AS revision_sha) w "
        "ON lower(w.model_id) = lower(l.model_id) AND w.revision_sha = l.revision_sha "
        "GROUP BY ALL",
        [[m for m, _ in revisions], [s for _, s in revisions]],
    ).fetchall()
    return {(m, s): list(paths) for m, s, paths in rows}
