"""The package store: a local folder (default `data/packages`) or S3 through s3fs.

Layout `{store}/{name}/{version}/package.zip`. An upload either completes — S3 multipart
upload completed, or a local `.partial` renamed into place — or leaves nothing: a failed S3
upload is aborted, so no half-written object and no orphaned parts remain.
S3 endpoint and credentials come from the standard AWS settings (AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ...).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from typing import BinaryIO, TypeVar

import fsspec
from fsspec.core import url_to_fs

from hub_assets.errors import StorageError

T = TypeVar("T")
S3_BLOCK_SIZE = 16 * 1024 * 1024  # one multipart part: the upload's memory bound
READ_BLOCK_SIZE = 4 * 1024 * 1024  # one ranged GET when reading a package from S3
_WRITER_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # what a writer tag may not put in a file name


class PackageStore:
    """Where packages go; `uri` is a local path or `s3://bucket/prefix`."""

    def __init__(self, uri: str, storage_options: dict | None = None) -> None:
        self.uri = uri.rstrip("/")
        options = dict(storage_options or {})
        if self.uri.startswith("s3://"):
            options.setdefault("default_block_size", S3_BLOCK_SIZE)
        self.is_local = "://" not in self.uri or self.uri.startswith("file://")
        self.fs: fsspec.AbstractFileSystem
        self.fs, self.root = url_to_fs(self.uri, **options)

    def __repr__(self) -> str:
        return f"PackageStore({self.uri!r})"

    def path(self, name: str, version: str) -> str:
        return f"{self.root}/{name}/{version}/package.zip"

    def uri_of(self, name: str, version: str) -> str:
        """The package's address as users see it (s3://... or a local path)."""
        if self.is_local:
            return os.path.abspath(self.path(name, version))
        return f"{self.uri.split('://', 1)[0]}://{self.path(name, version)}"

    def exists(self, name: str, version: str) -> bool:
        try:
            return self.fs.exists(self.path(name, version))
        except Exception as e:  # noqa: BLE001 - any backend failure is a storage failure
            raise StorageError(f"Cannot read the package store {self.uri}: {e}") from e

    def size(self, name: str, version: str) -> int:
        """The stored object's size, read back from the store."""
        try:
            self.fs.invalidate_cache()
            return int(self.fs.size(self.path(name, version)))
        except Exception as e:  # noqa: BLE001
            raise StorageError(f"Cannot read back {self.uri_of(name, version)}: {e}") from e

    def _recorded_path(self, uri: str) -> str:
        scheme = uri.split("://", 1)[0] if "://" in uri else ""
        if self.is_local:
            if scheme not in ("", "file"):
                raise StorageError(
                    f"The package {uri} is not in this local store ({self.uri}): set "
                    "HUB_ASSETS_PACKAGE_STORE to the store the registry recorded it in."
                )
            return uri.split("://", 1)[-1]
        if scheme != self.uri.split("://", 1)[0]:
            raise StorageError(f"The package {uri} is not in the store {self.uri}.")
        return uri.split("://", 1)[1]

    def open_recorded(self, uri: str) -> BinaryIO:
        """Read a package by the URI the registry recorded: a plain file when local (so it
        can be sent with `sendfile`), a read-ahead s3fs file on S3."""
        path = self._recorded_path(uri)
        try:
            if self.is_local:
                return open(path, "rb")  # noqa: SIM115 - the caller closes it
            return self.fs.open(path, "rb", block_size=READ_BLOCK_SIZE, cache_type="readahead")
        except Exception as e:  # noqa: BLE001
            raise StorageError(f"Cannot read {uri}: {e}") from e

    def stamp(self, uri: str) -> str:
        """What changes when the stored object changes: size, mtime and inode locally,
        size and ETag on S3."""
        path = self._recorded_path(uri)
        try:
            if self.is_local:
                st = os.stat(path)
                return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
            self.fs.invalidate_cache(path)
            info = self.fs.info(path)
            return f"{info.get('size')}:{info.get('ETag') or info.get('etag')}"
        except Exception as e:  # noqa: BLE001
            raise StorageError(f"Cannot read {uri}: {e}") from e

    def put_beside(self, name: str, version: str, relpath: str, data: bytes) -> str:
        """Write a small file beside the package (its `proof/`); return its address."""
        path = f"{self.root}/{name}/{version}/{relpath}"
        try:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(path, data)
        except Exception as e:  # noqa: BLE001
            raise StorageError(f"Cannot write {relpath} of {name} {version}: {e}") from e
        return os.path.abspath(path) if self.is_local else path

    def read_beside(self, uri: str, relpath: str) -> bytes | None:
        """A file beside a recorded package (its `proof/...`), or None when there is none."""
        path = self._recorded_path(uri).rsplit("/", 1)[0] + "/" + relpath
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        except Exception as e:  # noqa: BLE001
            raise StorageError(f"Cannot read {relpath} beside {uri}: {e}") from e

    def upload(
        self, name: str, version: str, write: Callable[[BinaryIO], T], writer: str | None = None
    ) -> T:
        """Call `write(stream)` to fill the package object; commit it only if that succeeds.

        `writer` names the local partial file (the Dagster run id): two writers never
        interleave bytes in one file, and a writer killed mid-write (SIGKILL leaves its
        partial file behind) has it overwritten and renamed by its own retry."""
        final = self.path(name, version)
        tag = _WRITER_UNSAFE.sub("_", writer)[:64] if writer else uuid.uuid4().hex[:12]
        target = f"{final}.{tag}.partial" if self.is_local else final
        try:
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            stream = self.fs.open(target, "wb")
        except Exception as e:  # noqa: BLE001
            raise StorageError(f"Cannot write to the package store {self.uri}: {e}") from e
        try:
            result = write(stream)
        except BaseException as e:
            self._discard(stream, target)
            if isinstance(e, OSError | ConnectionError) or "botocore" in type(e).__module__:
                raise StorageError(f"Upload to {self.uri_of(name, version)} failed: {e}") from e
            raise
        try:
            stream.close()
            if self.is_local:
                self.fs.mv(target, final)
        except Exception as e:  # noqa: BLE001
            self._discard(stream, target)
            raise StorageError(f"Upload to {self.uri_of(name, version)} failed: {e}") from e
        return result

    def _discard(self, stream: BinaryIO, target: str) -> None:
        try:
            if self.is_local:
                stream.close()
                if self.fs.exists(target):
                    self.fs.rm(target)
            else:
                stream.discard()  # s3fs: abort the multipart upload
                stream.closed = True  # nothing left to flush when it is garbage-collected
        except Exception:  # noqa: BLE001, S110 - best effort after the real error
            pass
