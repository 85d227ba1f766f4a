"""The catalog store: commits, revisions, validation."""

import hashlib

import pytest

from hub_assets.devhub.catalog import Catalog, CatalogError
from hub_assets.errors import InvalidRepoPathError


def test_commits_are_content_addressed_and_resolvable(tmp_path):
    cat = Catalog(tmp_path)
    c1 = cat.commit(
        "model",
        "org/m",
        {"a.txt": b"one", "w.safetensors": b"\0" * 10},
        authors=["x"],
        title="t1",
        date="2026-01-01T00:00:00Z",
    )
    c2 = cat.commit(
        "model", "org/m", {"a.txt": b"two"}, authors=["y"], title="t2", date="2026-01-02T00:00:00Z"
    )
    repo = cat.repo("model", "org/m")
    assert repo.head.sha == c2.sha and c2.parents == (c1.sha,)
    assert repo.resolve(c1.sha[:7]).sha == c1.sha
    assert repo.resolve("refs/heads/main").sha == c2.sha
    assert repo.resolve("nope") is None
    assert set(c2.files) == {"a.txt", "w.safetensors"}  # untouched files carried over
    a = c2.files["a.txt"]
    assert not a.lfs and a.git_oid == hashlib.sha1(b"blob 3\0two").hexdigest()
    assert (
        c2.files["w.safetensors"].lfs
        and c2.files["w.safetensors"].etag == hashlib.sha256(b"\0" * 10).hexdigest()
    )
    assert cat.blob_path(a.sha256).read_bytes() == b"two"
    # the same commit content gives the same sha
    other = Catalog(tmp_path / "other")
    o1 = other.commit(
        "model",
        "org/m",
        {"a.txt": b"one", "w.safetensors": b"\0" * 10},
        authors=["x"],
        title="t1",
        date="2026-01-01T00:00:00Z",
    )
    assert o1.sha == c1.sha


def test_tags_and_meta(tmp_path):
    cat = Catalog(tmp_path)
    c1 = cat.commit(
        "dataset", "org/d", {"x": b"1"}, authors=["x"], title="t", meta={"downloads": 3}
    )
    cat.tag("dataset", "org/d", "v1")
    cat.commit("dataset", "org/d", {"x": b"2"}, authors=["x"], title="t2")
    cat.update_meta("dataset", "org/d", likes=9)
    repo = cat.repo("dataset", "org/d")
    assert repo.resolve("v1").sha == c1.sha and repo.meta == {"downloads": 3, "likes": 9}
    with pytest.raises(CatalogError, match="No revision"):
        cat.tag("dataset", "org/d", "v2", revision="missing")


@pytest.mark.parametrize("bad", ["/etc/passwd", "a/../b", "..", "a//b", "a\\b", "./a", ""])
def test_invalid_file_paths_are_never_stored(tmp_path, bad):
    with pytest.raises(InvalidRepoPathError):
        Catalog(tmp_path).commit("model", "o/m", {bad: b"x"}, authors=["a"], title="t")
    assert Catalog(tmp_path).repo("model", "o/m") is None  # nothing half-written


def test_commit_needs_an_author(tmp_path):
    with pytest.raises(CatalogError, match="author"):
        Catalog(tmp_path).commit("model", "o/m", {"a": b"x"}, authors=[], title="t")


@pytest.mark.parametrize(
    "layout",
    [
        [],  # empty
        [(0, b"")],  # one hole only (the file is truncated to its size below)
        [(0, b"head" * 1000), (50_000_000, b"mid" * 100_000), (90_000_000, b"x")],
        [(0, b"dense" * 300_000)],
    ],
)
def test_a_sparse_blob_hashes_as_its_bytes(tmp_path, layout):
    size = 100_000_007 if layout else 0

    def build(path):
        with open(path, "r+b") as f:
            for offset, data in layout:
                f.seek(offset)
                f.write(data)
            f.truncate(size)

    cat = Catalog(tmp_path / "cat")
    entry = cat.sparse_entry("w.safetensors", build)
    expected = bytearray(size)
    for offset, data in layout:
        expected[offset : offset + len(data)] = data
    assert (entry.sha256, entry.size) == (hashlib.sha256(expected).hexdigest(), size)
    commit = cat.commit("model", "org/sparse", {"w.safetensors": entry}, authors=["x"], title="t")
    stored = commit.files["w.safetensors"]
    assert cat.blob_path(stored.sha256).read_bytes() == expected
    assert stored.lfs  # a .safetensors file is an LFS file at any size
