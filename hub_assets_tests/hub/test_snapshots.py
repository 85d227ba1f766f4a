"""The verified snapshot store: one download per file, LRU eviction, in-use protection."""

import pytest

from hub_assets.devhub.demo_catalog import MINILM, ORG, QA_MODEL
from hub_assets.errors import OversizedFileError
from hub_assets.hub.snapshots import LOADABLE_PATTERNS, PICKLE_PATTERNS, SnapshotStore

SMALL = f"{ORG}/tiny-gpt2-complete"


def siblings(client, model_id):
    data = client.model_metadata(model_id).data["info"]
    return data["sha"], data["siblings"]


def test_a_second_use_fetches_nothing(hub_client, hub_server, tmp_path):
    store = SnapshotStore(tmp_path)
    sha, files = siblings(hub_client, QA_MODEL)
    with store.use(hub_client, QA_MODEL, sha, files, LOADABLE_PATTERNS) as snap:
        assert (snap.folder / "model.safetensors").is_file()
        assert not list(snap.folder.rglob("*.partial"))
    hub_server.reset_requests()
    with store.use(hub_client, QA_MODEL, sha, files) as snap:  # all files: only the rest
        assert {f.path for f in snap.files} >= {"README.md", "model.safetensors"}
    assert not hub_server.requests[f"GET file {QA_MODEL}:model.safetensors"]
    hub_server.reset_requests()
    with store.use(hub_client, QA_MODEL, sha, files):
        pass
    assert hub_server.requests["total"] == 0
    assert store.downloads.count(f"{QA_MODEL}@{sha}:model.safetensors") == 1


def test_least_recently_used_goes_first_and_in_use_never(hub_client, tmp_path):
    import os

    store = SnapshotStore(tmp_path)
    small_sha, small = siblings(hub_client, SMALL)
    qa_sha, qa = siblings(hub_client, QA_MODEL)
    for model, sha, files in ((SMALL, small_sha, small), (QA_MODEL, qa_sha, qa)):
        with store.use(hub_client, model, sha, files, LOADABLE_PATTERNS):
            pass
    store.cap_bytes = store.size() - 1  # one of the two must go
    old = store.folder(SMALL, small_sha)
    with store.use(hub_client, SMALL, small_sha, small, LOADABLE_PATTERNS):
        assert not store.folder(QA_MODEL, qa_sha).exists()  # evicted to make room
        os.utime(old, (1, 1))  # now the least recently used, but in use: it stays
        assert store.evict() == [] and old.exists()
    os.utime(old, (1, 1))
    with store.use(hub_client, QA_MODEL, qa_sha, qa, LOADABLE_PATTERNS) as snap:
        assert snap.folder.exists() and not old.exists()  # now the LRU one was evicted
    assert store.size() <= store.cap_bytes


def test_an_oversized_file_rejects_the_repo_before_any_fetch(hub_client, hub_server, tmp_path):
    store = SnapshotStore(tmp_path, max_file_bytes=10_000_000)
    sha, files = siblings(hub_client, MINILM)
    hub_server.reset_requests()
    with pytest.raises(OversizedFileError, match="over the 0.0 GB limit .HUB_ASSETS_MAX_FILE_GB"):
        with store.use(hub_client, MINILM, sha, files):
            pass
    assert hub_server.requests["total"] == 0


def test_patterns_select_what_each_stage_reads(hub_client, tmp_path):
    store = SnapshotStore(tmp_path)
    model = f"{ORG}/tiny-gpt2-pickle-only"
    sha, files = siblings(hub_client, model)
    with store.use(hub_client, model, sha, files, PICKLE_PATTERNS) as snap:
        assert [f.path for f in snap.files] == ["pytorch_model.bin"]
    with store.use(hub_client, model, sha, files, LOADABLE_PATTERNS) as snap:
        assert "pytorch_model.bin" not in {f.path for f in snap.files}
