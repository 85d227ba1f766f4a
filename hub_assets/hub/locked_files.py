"""Files on a consumer's disk checked against a lockfile, with no network: every locked file
present with its size and sha256, nothing else beside them.

The lockfile (`hub-assets lock`) names each model's approved revision and every file's
sha256 and size. A snapshot is found in a Hugging Face cache folder
(`models--ORG--NAME/snapshots/<revision>/`, where `hf_hub_download` and
`snapshot_download` put it) or in a local folder (`hf download --local-dir`). This module
imports neither the registry nor any loader, so `hub_assets.guard` stays light.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hub_assets.errors import InvalidLockfileError
from hub_assets.ids import check_model_id, validate_repo_path

LOCK_FORMAT = 1
HASH_BUFFER = 1 << 20  # bytes read per call: large enough that hashing runs at sha256sum's pace
# What a download leaves beside the files that is not part of the repo: huggingface_hub's
# metadata folder of a `--local-dir` download.
TOOL_FOLDERS = (".cache",)


def read_lock(path: Path) -> dict:
    """A lockfile, validated: format, model ids, revisions, safe file paths, hashes."""
    try:
        lock = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InvalidLockfileError(f"Cannot read the lockfile {path}: {e}") from e
    return validate_lock(lock, str(path))


def validate_lock(lock: object, path: str = "the lock") -> dict:
    """`lock` if it is a valid lock (as `read_lock` checks a file), else
    `InvalidLockfileError`: no path may leave the snapshot folder."""
    if not isinstance(lock, dict) or lock.get("format") != LOCK_FORMAT:
        raise InvalidLockfileError(
            f"{path} is not a hub-assets lockfile (format {LOCK_FORMAT}); make one with "
            "`hub-assets lock MODEL_ID... -o models.lock`."
        )
    models = lock.get("models")
    if not isinstance(models, dict):
        raise InvalidLockfileError(f"{path}: no `models` mapping.")
    for model_id, entry in models.items():
        check_model_id(model_id)
        if not isinstance(entry, dict) or not _is_sha(entry.get("revision"), 40):
            raise InvalidLockfileError(f"{path}: {model_id} has no 40-hex revision.")
        files = entry.get("files")
        if not isinstance(files, list):
            raise InvalidLockfileError(f"{path}: {model_id} has no `files` list.")
        for f in files:
            if not isinstance(f, dict):
                raise InvalidLockfileError(f"{path}: {model_id} has a file that is not an object.")
            validate_repo_path(str(f.get("path", "")))
            size = f.get("size")
            if not _is_sha(f.get("sha256"), 64) or not isinstance(size, int) or size < 0:
                raise InvalidLockfileError(f"{path}: {model_id}/{f['path']} has no sha256/size.")
    return lock


def _is_sha(value: object, length: int) -> bool:
    return (
        isinstance(value, str)
        and len(value) == length
        and all(c in "0123456789abcdef" for c in value)
    )


def file_digest(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """sha256 of a file, read in large blocks into one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_BUFFER)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            digest.update(view[:n])
            if progress is not None:
                progress(n)
    return digest.hexdigest()


@dataclass
class SnapshotCheck:
    """One model's files on disk against its lock entry."""

    model_id: str
    revision: str
    folder: Path | None  # None: no snapshot of the locked revision was found
    verified: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)  # "path: why"

    @property
    def ok(self) -> bool:
        return self.folder is not None and not (self.missing or self.extra or self.tampered)

    def problems(self) -> list[str]:
        """Each finding in words, one per line."""
        if self.folder is None:
            return [f"{self.model_id}: no snapshot of the locked revision {self.revision}"]
        where = f"{self.model_id}@{self.revision[:12]}"
        return (
            [f"{where}: missing {p}" for p in self.missing]
            + [f"{where}: tampered {p}" for p in self.tampered]
            + [f"{where}: not in the lock {p}" for p in self.extra]
        )


def cache_snapshot(cache_dir: Path, model_id: str, revision: str) -> Path | None:
    """The snapshot folder of `model_id` at `revision` in a Hugging Face cache, if any."""
    folder = Path(cache_dir) / ("models--" + model_id.replace("/", "--")) / "snapshots" / revision
    return folder if folder.is_dir() else None


def local_snapshot(local_dir: Path, model_id: str, only_model: bool = True) -> Path | None:
    """A model's files in a download folder: `local_dir/<model id>/` (what `hub-assets fetch
    --dir` writes), else `local_dir` itself when it holds only this model (what `hf download
    MODEL --local-dir` writes)."""
    nested = Path(local_dir) / model_id
    folder = nested if nested.is_dir() or not only_model else Path(local_dir)
    return folder if folder.is_dir() else None


def _present(folder: Path) -> Iterator[str]:
    """Every file under `folder` (followed through the cache's symlinks), as a repo path."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        rel_root = Path(root).relative_to(folder)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in TOOL_FOLDERS]
        for name in files:
            yield (rel_root / name).as_posix() if rel_root != Path(".") else name
        # a symlinked folder is listed as a file would be: it is never a repo file
        for d in list(dirs):
            if (Path(root) / d).is_symlink():
                dirs.remove(d)
                yield (rel_root / d).as_posix() if rel_root != Path(".") else d


class VerifiedFiles:
    """What this user has already verified: for each file (by its path), the identity of
    what it resolved to (device, inode, size, modification and change times) and its
    sha256, kept under `folder` and signed with a key only this user can read.

    A file whose identity is unchanged since it was hashed is not hashed again: any write
    to it, a replacement or a re-pointed symlink changes its inode or its change time, which
    no unprivileged process can set back. A record that fails its signature is ignored.
    `verify-cache` never uses it: it hashes every byte each time."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._key: bytes | None = None
        self._records: dict[str, dict[str, list]] = {}
        self._changed: set[str] = set()

    def _secret(self) -> bytes:
        if self._key is None:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = self.folder / ".key"
            try:
                fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                self._key = key.read_bytes()
            else:
                self._key = secrets.token_bytes(32)
                with os.fdopen(fd, "wb") as f:
                    f.write(self._key)
        return self._key

    def _file(self, snapshot: Path) -> Path:
        name = hashlib.sha256(str(snapshot.resolve()).encode()).hexdigest()
        return self.folder / f"{name}.json"

    def _mac(self, body: dict) -> str:
        raw = json.dumps(body, sort_keys=True).encode()
        return hmac.new(self._secret(), raw, "sha256").hexdigest()

    def records(self, snapshot: Path) -> dict[str, list]:
        """The signed records of one snapshot folder (empty when none or forged)."""
        key = str(snapshot)
        if key not in self._records:
            found: dict[str, list] = {}
            try:
                data = json.loads(self._file(snapshot).read_text())
                if hmac.compare_digest(str(data.get("mac", "")), self._mac(data["files"])):
                    found = data["files"]
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                pass
            self._records[key] = found
        return self._records[key]

    def remember(self, snapshot: Path, path: str, record: list) -> None:
        """Record one file of `snapshot` as verified (written by `save`)."""
        self.records(snapshot)[path] = record
        self._changed.add(str(snapshot))

    def forget(self, snapshot: Path, path: str) -> None:
        if self.records(snapshot).pop(path, None) is not None:
            self._changed.add(str(snapshot))

    def save(self, snapshot: Path) -> None:
        """Write one snapshot's records if they changed, signed (atomically: a torn write is
        never read)."""
        if str(snapshot) not in self._changed:
            return
        self._changed.discard(str(snapshot))
        files = self.records(snapshot)
        target = self._file(snapshot)
        work = target.with_suffix(f".{secrets.token_hex(4)}.tmp")
        work.write_text(json.dumps({"files": files, "mac": self._mac(files)}, sort_keys=True))
        os.replace(work, target)


def identity(stat: os.stat_result) -> list:
    """What changes whenever a file's bytes or the file behind a path change."""
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def check_snapshot(
    model_id: str,
    entry: dict,
    folder: Path | None,
    progress: Callable[[str, int, int], None] | None = None,
    verified: VerifiedFiles | None = None,
) -> SnapshotCheck:
    """Every locked file of `entry` in `folder`, hashed (reported to `progress` as path,
    bytes done, size); files there the lock does not name. A file is tampered when it is
    not a regular file (a cache symlink must lead to one), or when its size or sha256
    differs from the lock's. With `verified`, a file whose identity is unchanged since this
    user hashed it to the locked sha256 is not hashed again."""
    check = SnapshotCheck(model_id, entry["revision"], folder)
    if folder is None:
        return check
    locked = {f["path"]: f for f in entry["files"]}
    for path in sorted(set(_present(folder)) - set(locked)):
        check.extra.append(path)
    for path, f in sorted(locked.items()):
        target = folder / path
        if not target.exists():
            check.missing.append(path)
            continue
        if not target.is_file():
            check.tampered.append(f"{path}: not a regular file")
            continue
        stat = target.stat()
        size = stat.st_size
        if size != f["size"]:
            check.tampered.append(f"{path}: {size} bytes, the lock says {f['size']}")
            continue
        known = verified.records(folder) if verified is not None else {}
        if known.get(path) == [*identity(stat), f["sha256"]]:
            check.verified.append(path)
            continue
        done = [0]

        def hashed(n: int, path: str = path, size: int = size, done: list = done) -> None:
            done[0] += n
            progress(path, done[0], size)  # type: ignore[misc] - only when given

        digest = file_digest(target, hashed if progress is not None else None)
        if digest != f["sha256"]:
            check.tampered.append(f"{path}: sha256 {digest}, the lock says {f['sha256']}")
            if verified is not None:
                verified.forget(folder, path)
            continue
        check.verified.append(path)
        if verified is not None and identity(target.stat()) == identity(stat):
            verified.remember(folder, path, [*identity(stat), digest])  # unchanged meanwhile
    if verified is not None and check.ok:
        verified.save(folder)
    return check
