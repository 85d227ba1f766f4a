"""Every string and number a Hub sends is hostile until checked here.

A compromised mirror, a proxy or a wrong `HF_ENDPOINT` chooses the revision sha, the blob
ids, the file names and sizes of a repo. Each is validated before it touches a path, a log
line, a query or a library that would use it as one: shas and blob ids are hex of their
exact length, file names are safe relative paths without control characters that cannot
collide with the snapshot's own bookkeeping, sizes are bounded integers, and a repo's file
count and total size are checked against the configured limits before any byte is fetched.
A refusal is `UnsafeRepoError` (or `OversizedRepoError`), naming the field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hub_assets.errors import (
    InvalidRepoPathError,
    OversizedRepoError,
    UnsafeRepoError,
)
from hub_assets.ids import validate_repo_path

_SHA1 = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_PATH_CHARS = 1000  # the Hub's own limit on a file path is of this order
MAX_NAME_CHARS = 255  # one path component: most file systems' limit
MAX_FILE_BYTES_EVER = 2**50  # 1 PiB: a size beyond this is a lie whatever the limits
# The snapshot's own bookkeeping: a repo file may never be written over it.
RESERVED_FIRST_PARTS = (".hub-assets", ".leases")
RESERVED_SUFFIXES = (".partial",)
# Characters that forge log lines or hide text: controls, line and paragraph separators,
# and the bidirectional overrides.
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


@dataclass(frozen=True)
class RepoLimits:
    """What one repo may hold before it is refused unfetched (docs/security.md)."""

    max_files: int = 10_000
    max_file_bytes: int = 50 * 10**9
    max_repo_bytes: int = 200 * 10**9
    max_metadata_file_bytes: int = 16 * 1024**2  # card, configs: read whole into memory


def shown(value: object, limit: int = 80) -> str:
    """A hostile value as it may be shown in a message or a log: `repr`, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_sha(value: object, field: str = "sha") -> str:
    """A git commit or blob id: exactly 40 lowercase hex characters."""
    if not isinstance(value, str) or not _SHA1.fullmatch(value):
        raise UnsafeRepoError(
            f"The Hub sent an invalid {field} {shown(value)} (expected 40 hex characters); "
            "the repo is refused.",
            field=field,
        )
    return value


def check_sha256(value: object, field: str = "lfs.sha256") -> str:
    """An LFS object id: exactly 64 lowercase hex characters."""
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise UnsafeRepoError(
            f"The Hub sent an invalid {field} {shown(value)} (expected 64 hex characters); "
            "the repo is refused.",
            field=field,
        )
    return value


def check_size(value: object, field: str = "size") -> int:
    """A byte count: an integer in [0, 1 PiB] (booleans and floats are refused)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= MAX_FILE_BYTES_EVER
    ):
        raise UnsafeRepoError(
            f"The Hub sent an invalid {field} {shown(value)} (expected a byte count); "
            "the repo is refused.",
            field=field,
        )
    return value


def unsafe_characters(text: str) -> list[str]:
    """The characters of `text` that could forge a log line or hide text, as U+XXXX."""
    return sorted(
        {
            f"U+{ord(c):04X}"
            for c in text
            if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI
        }
    )


def check_file_name(value: object, field: str = "file name") -> str:
    """A repo file path that is safe to join into a folder, log or zip: relative, no `..`,
    no control characters, not the snapshot's bookkeeping, within length limits."""
    if not isinstance(value, str):
        raise UnsafeRepoError(
            f"The Hub sent a {field} that is not a string ({shown(value)}); the repo is refused.",
            field=field,
        )
    bad = unsafe_characters(value)
    if bad:
        raise UnsafeRepoError(
            f"The Hub lists a {field} with control characters ({', '.join(bad)}): "
            f"{shown(value)}; the repo is refused.",
            field=field,
        )
    try:
        validate_repo_path(value)
    except InvalidRepoPathError:
        raise UnsafeRepoError(
            f"The Hub lists an unsafe {field} {shown(value)} (absolute, '..', '\\' or empty "
            "parts); the repo is refused.",
            field=field,
        ) from None
    parts = value.split("/")
    if len(value) > MAX_PATH_CHARS or any(len(p) > MAX_NAME_CHARS for p in parts):
        raise UnsafeRepoError(
            f"The Hub lists a {field} over {MAX_PATH_CHARS} characters (or a part over "
            f"{MAX_NAME_CHARS}): {shown(value)}; the repo is refused.",
            field=field,
        )
    if parts[0].lower() in RESERVED_FIRST_PARTS or value.lower().endswith(RESERVED_SUFFIXES):
        raise UnsafeRepoError(
            f"The Hub lists a {field} {shown(value)} that would overwrite the snapshot's own "
            "bookkeeping; the repo is refused.",
            field=field,
        )
    return value


def check_text(value: object, field: str, limit: int = 1000) -> str:
    """A free text the Hub sends for display (a commit title, an author): control
    characters replaced, cut to `limit` characters; never refused."""
    if value is None:
        return ""
    text = str(value)[:limit]
    return "".join(
        "\ufffd" if unicodedata.category(c) in ("Cc", "Zl", "Zp") or c in _BIDI else c for c in text
    )


def check_siblings(siblings: Iterable[Mapping], limits: RepoLimits, repo: str) -> list[dict]:
    """The file list of a revision, every entry checked (name, size, blob id, LFS id), and
    the repo's file count and total size held to `limits`: refused before any fetch."""
    out: list[dict] = []
    names: set[str] = set()
    total = 0
    for i, s in enumerate(siblings):
        if len(out) >= limits.max_files:
            raise OversizedRepoError(
                f"{repo} lists more than {limits.max_files:,} files (HUB_ASSETS_MAX_FILES); "
                "the repo is refused before any fetch.",
                field="siblings",
            )
        path = check_file_name(s.get("path"), f"file name #{i + 1}")
        folded = path.casefold()
        if folded in names:
            raise UnsafeRepoError(
                f"{repo} lists {shown(path)} twice (names that differ only in case collide on "
                "some file systems); the repo is refused.",
                field="file name",
            )
        names.add(folded)
        size = check_size(s.get("size") or 0, f"size of {path}")
        blob = s.get("blob_id")
        if blob is not None:
            check_sha(blob, f"blob id of {path}")
        lfs = s.get("lfs_sha256")
        if lfs is not None:
            check_sha256(lfs, f"LFS sha256 of {path}")
        if size > limits.max_file_bytes:
            raise OversizedRepoError(
                f"{repo} advertises {path} at {size / 1e9:,.1f} GB, over the "
                f"{limits.max_file_bytes / 1e9:,.1f} GB limit (HUB_ASSETS_MAX_FILE_GB); the "
                "repo is refused before any fetch.",
                field=f"size of {path}",
            )
        total += size
        out.append(dict(s))
    if total > limits.max_repo_bytes:
        raise OversizedRepoError(
            f"{repo} advertises {total / 1e9:,.1f} GB in all, over the "
            f"{limits.max_repo_bytes / 1e9:,.1f} GB limit (HUB_ASSETS_MAX_REPO_GB); the repo is "
            "refused before any fetch.",
            field="total size",
        )
    return out
