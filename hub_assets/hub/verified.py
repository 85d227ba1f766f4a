"""What a verified file is checked against: the listing's LFS sha256, else its git blob id.

One definition for the downloader (`packaging.download`) and the in-memory reader
(`HubClient.read_verified`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def expected_digest(sibling: Mapping) -> str | None:
    """The digest the Hub advertises for a listed file: LFS sha256, else git blob sha1."""
    return sibling.get("lfs_sha256") or sibling.get("blob_id")


def hasher_for(sibling: Mapping):  # noqa: ANN201 - a hashlib object
    """A hash object that yields `expected_digest` of the file's bytes: sha256 for LFS
    files, git's blob sha1 (`blob <size>\\0` then the bytes) for the others."""
    if sibling.get("lfs_sha256"):
        return hashlib.sha256()
    h = hashlib.sha1()
    h.update(f"blob {int(sibling.get('size') or 0)}\0".encode())
    return h
