"""Hub repo ids and file paths, validated at the edge before anything uses them."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from hub_assets.errors import (
    InvalidModelIdError,
    InvalidRepoIdError,
    InvalidRepoPathError,
)

_REPO_ID = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}", re.ASCII
)


def validate_repo_id(repo_id: str) -> str:
    """Return `repo_id` if it is a valid Hub repo id (`name` or `org/name`), else raise."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise InvalidRepoIdError(
            f"Invalid repo id {repo_id!r}: expected 'name' or 'org/name' made of letters, "
            "digits, '-', '_' and '.' (at most 96 characters each)."
        )
    return repo_id


def validate_repo_path(path: str) -> str:
    """Return `path` if it is a safe relative POSIX path inside a repo, else raise."""
    p = PurePosixPath(path)
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(part in ("", ".", "..") for part in path.split("/"))
        or p.is_absolute()
    ):
        raise InvalidRepoPathError(
            f"Invalid file path {path!r} in repo: must be relative, without '..'."
        )
    return path


def check_model_id(model_id: str) -> str:
    """Validate a model id at the edge: `name` or `org/name`, Hub characters only."""
    try:
        return validate_repo_id(model_id)
    except InvalidRepoIdError as e:
        raise InvalidModelIdError(str(e).replace("repo id", "model id")) from None
