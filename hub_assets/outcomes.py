"""Every outcome an action can end in, with its exit code and HTTP status, and a failure's
message in plain words: a leaf under `errors.py`, which re-exports these names."""

from __future__ import annotations

import re
from enum import StrEnum


class Outcome(StrEnum):
    """Every outcome an action can end in, with its exit code (`hub-assets ingest --wait`
    and the other commands) and the registry service's HTTP status. The docs' outcome
    tables are tested against this enum (hub_assets_tests/test_errors.py)."""

    exit_code: int
    http_status: int

    def __new__(cls, value: str, exit_code: int, http_status: int) -> Outcome:
        member = str.__new__(cls, value)
        member._value_ = value
        member.exit_code, member.http_status = exit_code, http_status
        return member

    INGESTED = "ingested", 0, 200
    ERROR = "error", 1, 500
    INVALID = "invalid", 2, 422
    NOT_FOUND = "not_found", 3, 404
    GATE_FAILED = "gate_failed", 4, 400
    ALREADY_EXISTS = "already_exists", 5, 409
    STORAGE_FAILED = "storage_failed", 6, 502
    GATED = "gated", 7, 403
    CHECKSUM_MISMATCH = "checksum_mismatch", 8, 502
    DOWNLOAD_FAILED = "download_failed", 9, 502
    UNSAFE_REPO = "unsafe_repo", 10, 400
    OFFLINE_CACHE_MISS = "offline_cache_miss", 11, 503
    UNAUTHORIZED = "unauthorized", 12, 401
    FORBIDDEN = "forbidden", 13, 403
    THROTTLED = "throttled", 14, 429
    REFUSED = "refused", 15, 409
    UNVERIFIED = "unverified", 16, 502
    OVERSIZED_REPO = "oversized_repo", 17, 400
    MALFORMED_WEIGHTS = "malformed_weights", 18, 400
    # asked again for a packaged revision: its package is the answer
    ALREADY_PACKAGED = "already_packaged", 0, 200


# Outcome → exit code and → HTTP status, as plain dicts for lookups by string.
EXIT_CODES = {o.value: o.exit_code for o in Outcome}
HTTP_STATUSES = {o.value: o.http_status for o in Outcome}


_CLASS_PREFIX = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Failure)\w*: "
)


def plain_message(text: str) -> str:
    """A message in words: no `module.ClassName: ` prefixes, each cause said once."""
    parts = []
    for part in str(text).strip().split("; "):
        part = _CLASS_PREFIX.sub("", part.strip()).strip()
        if part and part not in parts:
            parts.append(part)
    return "; ".join(parts)


def message_of_error_info(info: object) -> str:
    """The innermost cause of a Dagster error, in plain words."""
    while getattr(info, "cause", None) is not None:
        info = info.cause
    return plain_message(getattr(info, "message", info))


def exit_code(outcome: str) -> int:
    """The exit code of an outcome (1 for one this table does not know)."""
    return EXIT_CODES.get(outcome, 1)
