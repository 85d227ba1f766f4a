"""Repo ids and file paths are validated at the edge, in the product."""

import pytest

from hub_assets.errors import InvalidRepoIdError, InvalidRepoPathError
from hub_assets.ids import validate_repo_id, validate_repo_path


@pytest.mark.parametrize(
    "bad",
    ["", "a/b/c", "../x", "a/..", "-x", "a b", "x" * 97, "org/name\n", "org/náme", "org/name\x00"],
)
def test_invalid_repo_ids_are_rejected(bad):
    with pytest.raises(InvalidRepoIdError, match="Invalid repo id"):
        validate_repo_id(bad)


@pytest.mark.parametrize("bad", ["/etc/passwd", "a/../b", "..", "a//b", "a\\b", "./a", ""])
def test_invalid_file_paths_are_rejected(bad):
    with pytest.raises(InvalidRepoPathError, match="Invalid file path"):
        validate_repo_path(bad)


def test_good_ids_and_paths_pass():
    assert validate_repo_id("sentence-transformers/all-MiniLM-L6-v2")
    assert validate_repo_id("gpt2") == "gpt2"
    assert validate_repo_path("1_Pooling/config.json") == "1_Pooling/config.json"
