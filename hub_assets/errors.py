"""What each failure means for a user, in one place: its outcome, exit code and words.

Failures are classified by exception type, never by searching message text. The same table
serves a live exception (its class and every base class) and a failed Dagster run, whose
errors arrive as `SerializableErrorInfo` carrying the class name of each error in the chain.
"""

from __future__ import annotations

import re

# Outcome → exit code of `hub-assets ingest --wait` (docs/ingestion.md has the same table).
EXIT_CODES = {
    "ingested": 0,
    "error": 1,
    "invalid": 2,
    "not_found": 3,
    "gate_failed": 4,
    "already_exists": 5,
    "storage_failed": 6,
    "gated": 7,
    "checksum_mismatch": 8,
    "download_failed": 9,
    "unsafe_repo": 10,
    "offline_cache_miss": 11,
}

# Exception class name → outcome; the first name found in an error's chain decides.
OUTCOME_BY_ERROR = {
    "GateNotPassedError": "gate_failed",
    "PackageExistsError": "already_exists",
    "StorageError": "storage_failed",
    "GatedModelError": "gated",
    "GatedRepoError": "gated",
    "ChecksumMismatchError": "checksum_mismatch",
    "OfflineCacheMissError": "offline_cache_miss",
    "OfflineModeIsEnabled": "offline_cache_miss",
    "DownloadFailedError": "download_failed",
    "HubUnavailableError": "download_failed",
    "UnsafePathError": "unsafe_repo",
    "OversizedFileError": "unsafe_repo",
    "InsufficientDiskSpaceError": "error",
    "ModelNotFoundError": "not_found",
    "RepositoryNotFoundError": "not_found",
    "RevisionNotFoundError": "not_found",
    "InvalidVersionError": "invalid",
    "InvalidModelIdError": "invalid",
}
_CLASS_PREFIX = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Failure)\w*: "
)


def outcome_of(error: BaseException) -> str:
    """The outcome of a live exception: its own class and bases, then its causes."""
    seen: BaseException | None = error
    while seen is not None:
        for cls in type(seen).__mro__:
            if cls.__name__ in OUTCOME_BY_ERROR:
                return OUTCOME_BY_ERROR[cls.__name__]
        seen = seen.__cause__ or seen.__context__
    return "error"


def outcome_of_error_info(info: object) -> str:
    """The outcome of a Dagster `SerializableErrorInfo` chain (innermost cause first)."""
    chain = []
    while info is not None:
        chain.append(info)
        info = getattr(info, "cause", None) or getattr(info, "context", None)
    for item in reversed(chain):
        name = getattr(item, "cls_name", None)
        if name in OUTCOME_BY_ERROR:
            return OUTCOME_BY_ERROR[name]
    return "error"


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
