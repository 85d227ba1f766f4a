"""A guard for consumers: load a model only from a snapshot that matches its lockfile.

    from hub_assets import guard
    from transformers import AutoModel

    model = guard.load(AutoModel.from_pretrained, "org/name", lock="models.lock")

Before the loader runs, every locked file of the model's locked revision is found on disk
(the Hugging Face cache, or `local_dir`), hashed and compared with the lock; a file the
lock does not name beside them is refused too. Only then is the loader called, with the
verified folder's path (never the model id, so nothing is fetched or resolved again),
`local_files_only=True` and `trust_remote_code=False` where it takes them (a caller may
pass otherwise, knowingly). With `public_key`, the lock's signature and
attestation of the package are checked first. Nothing here touches the network.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hub_assets.errors import LockMismatchError, NotApprovedError
from hub_assets.hub.locked_files import (
    VerifiedFiles,
    cache_snapshot,
    check_snapshot,
    local_snapshot,
    read_lock,
    validate_lock,
)

T = TypeVar("T")


def default_cache_dir() -> Path:
    """The Hugging Face hub cache huggingface_hub writes to (HF_HUB_CACHE, HF_HOME)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def default_verified_dir() -> Path:
    """Where the guard keeps what this user has verified (`VerifiedFiles`)."""
    return Path.home() / ".cache" / "hub-assets" / "verified"


def verified_snapshot(
    model_id: str,
    lock: str | Path | dict,
    *,
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    public_key: str | Path | None = None,
    rehash: bool = False,
    verified_dir: str | Path | None = None,
) -> Path:
    """The folder of `model_id`'s locked revision once every file in it matches the lock;
    `NotApprovedError` for a model the lock does not name, `LockMismatchError` naming each
    missing, tampered or extra file otherwise. A file this user already hashed to the
    locked sha256, unchanged since (same inode, size, modification and change times), is
    not hashed again unless `rehash`."""
    data = validate_lock(lock) if isinstance(lock, dict) else read_lock(Path(lock))
    entries = {m.lower(): (m, e) for m, e in data["models"].items()}
    if model_id.lower() not in entries:
        raise NotApprovedError(
            f"{model_id} is not in the lockfile: it is not loaded. Lock it with "
            f"`hub-assets lock {model_id}` once the registry approves it."
        )
    locked_id, entry = entries[model_id.lower()]
    if public_key is not None:
        from hub_assets.mirror.lockfile import check_locked_proof

        check_locked_proof(locked_id, entry, Path(public_key))
    if local_dir is not None:
        folder = local_snapshot(Path(local_dir), locked_id)
    else:
        folder = cache_snapshot(
            Path(cache_dir or default_cache_dir()), locked_id, entry["revision"]
        )
    verified = None if rehash else VerifiedFiles(Path(verified_dir or default_verified_dir()))
    check = check_snapshot(locked_id, entry, folder, verified=verified)
    if not check.ok:
        raise LockMismatchError(
            "Not loaded: the snapshot does not match the lockfile:\n  "
            + "\n  ".join(check.problems())
        )
    return check.folder  # type: ignore[return-value] - ok implies a folder


def load(
    loader: Callable[..., T],
    model_id: str,
    *,
    lock: str | Path | dict,
    cache_dir: str | Path | None = None,
    local_dir: str | Path | None = None,
    public_key: str | Path | None = None,
    rehash: bool = False,
    verified_dir: str | Path | None = None,
    **kwargs: Any,
) -> T:
    """`loader(folder, **kwargs)` on the verified snapshot of `model_id` (see the module):
    e.g. `AutoModel.from_pretrained`, `AutoTokenizer.from_pretrained`, `SentenceTransformer`.
    Nothing is read by the loader before the check has passed."""
    folder = verified_snapshot(
        model_id,
        lock,
        cache_dir=cache_dir,
        local_dir=local_dir,
        public_key=public_key,
        rehash=rehash,
        verified_dir=verified_dir,
    )
    try:
        accepts = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        accepts = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepts.values())
    for name, value in (("local_files_only", True), ("trust_remote_code", False)):
        if name in accepts or takes_any:
            kwargs.setdefault(name, value)  # nothing fetched again; no repo code run
    return loader(str(folder), **kwargs)
