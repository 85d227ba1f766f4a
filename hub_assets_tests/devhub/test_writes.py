"""The development Hub's write API, driven by the real huggingface_hub client.

Each test gets a Hub over an empty catalog of its own, with a write token (user alice) and
a read token (user bob), and a 40 MB limit per file.
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
)
from huggingface_hub.errors import (
    HfHubHTTPError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
)
from huggingface_hub.lfs import UploadInfo

from hub_assets.devhub.catalog import Catalog
from hub_assets.devhub.server import HubServer
from hub_assets_tests import loopback

WRITE, READ = "hf_write_token", "hf_read_token"
LIMIT = 40 * 1024 * 1024


@pytest.fixture
def hub(tmp_path):
    catalog = Catalog(tmp_path / "catalog")
    (tmp_path / "catalog").mkdir()
    with HubServer(
        catalog, tokens=[f"{WRITE}:write:alice", f"{READ}:read:bob"], max_file_bytes=LIMIT
    ) as server:
        yield server


def test_repos_commits_branches_and_tags(hub, tmp_path):
    api = HfApi(endpoint=hub.url, token=WRITE)
    me = api.whoami()
    assert me["name"] == "alice" and me["auth"]["accessToken"]["role"] == "write"
    assert HfApi(endpoint=hub.url, token=READ).whoami()["auth"]["accessToken"]["role"] == "read"

    url = api.create_repo("acme/model", private=True)
    assert url == f"{hub.url}/acme/model"
    assert api.create_repo("acme/model", exist_ok=True) == url
    with pytest.raises(HfHubHTTPError, match="already created") as exists:
        api.create_repo("acme/model")
    assert exists.value.response.status_code == 409

    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    (folder / "notes.txt").write_text("notes")
    (folder / "sub" / "a.txt").write_text("a")
    weights = os.urandom(11 * 1024 * 1024)  # ≥ 10 MB: the LFS path
    (folder / "model.safetensors").write_bytes(weights)
    first = api.upload_folder(
        folder_path=folder,
        repo_id="acme/model",
        allow_patterns=["*.json", "*.safetensors", "sub/*"],
    )
    files = api.list_repo_files("acme/model")
    assert sorted(files) == [".gitattributes", "config.json", "model.safetensors", "sub/a.txt"]
    info = api.model_info("acme/model", files_metadata=True)
    assert info.sha == first.oid and info.private and info.author == "acme"
    lfs = {s.rfilename: s.lfs for s in info.siblings}
    assert lfs["model.safetensors"].sha256 == hashlib.sha256(weights).hexdigest()
    assert api.list_repo_commits("acme/model")[0].authors == ["alice"]
    got = hf_hub_download(
        "acme/model",
        "model.safetensors",
        endpoint=hub.url,
        token=WRITE,
        cache_dir=tmp_path / "cache",
    )
    assert Path(got).read_bytes() == weights

    # private: anonymous callers see nothing
    anonymous = HfApi(endpoint=hub.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info("acme/model")
    assert [m.id for m in anonymous.list_models()] == []

    api.upload_folder(
        folder_path=folder,
        repo_id="acme/model",
        allow_patterns=["notes.txt"],
        delete_patterns=["sub/*"],
    )
    assert "sub/a.txt" not in api.list_repo_files("acme/model")
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="docs/h.md", repo_id="acme/model")
    api.delete_file("notes.txt", "acme/model")
    api.create_commit(
        "acme/model",
        [
            CommitOperationCopy("model.safetensors", "copy.safetensors"),
            CommitOperationAdd("extra.txt", b"extra"),
            CommitOperationDelete("docs/"),
        ],
        commit_message="copy, add, delete a folder",
    )
    files = set(api.list_repo_files("acme/model"))
    assert {"copy.safetensors", "extra.txt"} <= files and not any(
        f.startswith("docs/") for f in files
    )

    api.create_branch("acme/model", branch="dev")
    api.create_tag("acme/model", tag="v1", tag_message="first")
    with pytest.raises(HfHubHTTPError) as again:
        api.create_branch("acme/model", branch="dev")
    assert again.value.response.status_code == 409
    api.create_branch("acme/model", branch="dev", exist_ok=True)
    api.upload_file(
        path_or_fileobj=b"dev only", path_in_repo="dev.txt", repo_id="acme/model", revision="dev"
    )
    refs = api.list_repo_refs("acme/model")
    assert {b.name for b in refs.branches} == {"main", "dev"} and refs.tags[0].name == "v1"
    assert "dev.txt" not in api.list_repo_files("acme/model")
    assert "dev.txt" in api.list_repo_files("acme/model", revision="dev")

    api.update_repo_settings("acme/model", private=False, gated="auto")
    assert anonymous.model_info("acme/model").gated == "auto"

    api.create_repo("acme/data", repo_type="dataset")
    api.upload_file(
        path_or_fileobj=b"a,b\n1,2\n",
        path_in_repo="data.csv",
        repo_id="acme/data",
        repo_type="dataset",
    )
    assert "data.csv" in api.list_repo_files("acme/data", repo_type="dataset")
    api.delete_repo("acme/data", repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info("acme/data")
    api.delete_repo("acme/data", repo_type="dataset", missing_ok=True)


def test_bad_writes_answer_as_the_hub_does(hub, tmp_path):
    api = HfApi(endpoint=hub.url, token=WRITE)
    api.create_repo("acme/model")
    with pytest.raises(HfHubHTTPError, match="Writing needs a token") as anonymous:
        HfApi(endpoint=hub.url, token=False).create_repo("acme/other")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError, match="read-only") as read_only:
        HfApi(endpoint=hub.url, token=READ).upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="acme/model"
        )
    assert read_only.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError, match="over this Hub's limit") as too_big:
        api.upload_file(
            path_or_fileobj=os.urandom(LIMIT + 1), path_in_repo="huge.bin", repo_id="acme/model"
        )
    assert too_big.value.response.status_code == 413

    # a path with '..' or an absolute path, sent as the client would send any path
    auth = {"Authorization": f"Bearer {WRITE}", "Content-Type": "application/x-ndjson"}
    for bad in ("../escape.txt", "/etc/passwd", "a/../../b"):
        lines = [
            {"key": "header", "value": {"summary": "bad"}},
            {"key": "file", "value": {"path": bad, "content": "eA==", "encoding": "base64"}},
        ]
        r = loopback.post(
            f"{hub.url}/api/models/acme/model/commit/main",
            headers=auth,
            content=b"\n".join(json.dumps(x).encode() for x in lines),
        )
        assert r.status_code == 400 and r.headers["x-error-code"] == "InvalidPath", bad
    for line in (
        {"key": "file", "value": {"path": "a.txt", "content": "not base64!"}},
        {"key": "file", "value": {"content": "eA=="}},
        {"key": "lfsFile", "value": ["not", "a", "mapping"]},
        {"key": "mystery", "value": {}},
    ):
        body = json.dumps({"key": "header", "value": {"summary": "x"}}) + "\n" + json.dumps(line)
        r = loopback.post(
            f"{hub.url}/api/models/acme/model/commit/main", headers=auth, content=body.encode()
        )
        assert r.status_code == 400, line
    before = api.model_info("acme/model").sha
    xet = loopback.get(f"{hub.url}/api/models/acme/model/xet-write-token/main", headers=auth)
    assert xet.status_code == 501 and "HF_HUB_DISABLE_XET=1" in xet.json()["error"]

    # an LFS object whose bytes do not match the sha256 the client announced
    data = os.urandom(12 * 1024 * 1024)
    op = CommitOperationAdd("weights.safetensors", data)
    wrong = hashlib.sha256(b"something else").digest()
    op.upload_info = UploadInfo(sha256=wrong, size=len(data), sample=data[:512])
    with pytest.raises(RuntimeError, match="Error while uploading 'weights.safetensors'") as e:
        api.create_commit("acme/model", [op], commit_message="tampered")
    cause = e.value.__cause__
    assert isinstance(cause, HfHubHTTPError) and cause.response.status_code == 400
    assert "does not match its announcement" in str(cause)
    assert api.model_info("acme/model").sha == before  # nothing committed
    assert hub.catalog.blob_size(wrong.hex()) is None  # nothing kept

    # a commit naming an LFS object nobody uploaded
    lines = [
        {"key": "header", "value": {"summary": "ghost"}},
        {
            "key": "lfsFile",
            "value": {"path": "g.bin", "algo": "sha256", "oid": "a" * 64, "size": 3},
        },
    ]
    r = loopback.post(
        f"{hub.url}/api/models/acme/model/commit/main",
        headers=auth,
        content=b"\n".join(json.dumps(x).encode() for x in lines),
    )
    assert r.status_code == 400 and "was not uploaded" in r.json()["error"]
    with pytest.raises(RemoteEntryNotFoundError, match="Cannot delete missing.txt"):
        api.create_commit(
            "acme/model",
            [CommitOperationDelete("missing.txt")],
            commit_message="delete what is not there",
        )
    assert api.model_info("acme/model").sha == before


def test_card_helpers_push_through_the_client(hub, tmp_path):
    """`ModelCard.push_to_hub`, `DatasetCard.push_to_hub` and `metadata_update` read the
    endpoint from HF_ENDPOINT, as users run them."""
    script = f"""
from huggingface_hub import DatasetCard, HfApi, ModelCard, ModelCardData, metadata_update
api = HfApi(token={WRITE!r})
api.create_repo("acme/carded")
card = ModelCard.from_template(ModelCardData(license="mit", base_model="acme/base"))
card.push_to_hub("acme/carded", token={WRITE!r})
metadata_update("acme/carded", {{"tags": ["reviewed"]}}, token={WRITE!r})
api.create_repo("acme/ds", repo_type="dataset")
DatasetCard("---\\nlicense: mit\\n---\\n# Data\\n").push_to_hub("acme/ds", token={WRITE!r})
"""
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    bad = loopback.post(
        f"{hub.url}/api/validate-yaml",
        json={"content": "---\nlicense: [unclosed\n---\n", "repoType": "model"},
    )
    assert bad.status_code == 400 and "Invalid YAML" in bad.json()["error"]
    api = HfApi(endpoint=hub.url, token=WRITE)
    data = api.model_info("acme/carded").card_data
    assert data["license"] == "mit" and data["base_model"] == "acme/base"
    assert data["tags"] == ["reviewed"]
    assert api.dataset_info("acme/ds").card_data["license"] == "mit"
