"""The curated mirror, driven by the real clients over a registry the demo pipeline built.

The pipeline (`hub-assets ingest --wait`, in-process) evaluates, gates and packages three
demo models once per module: tiny-bert-qa and all-MiniLM-L6-v2 pass, tiny-gpt2-stale fails
the gate. Tests that change approvals work on a copy of that registry.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import HfApi, HfFileSystem, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

from hub_assets.devhub.demo_cases import MINILM, ORG, QA_MODEL
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.approvals import decide
from hub_assets.pipeline.identity import Identity
from hub_assets_tests import loopback
from hub_assets_tests.mirror.conftest import FAILING, copy_of, serving, sha_of
from hub_assets_tests.outside_world import OutsideWorld

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]
BIN = Path(sys.executable).parent


@pytest.fixture
def outside():
    """Everything beyond loopback, as a proxy that records and refuses each request."""
    world = OutsideWorld()
    yield world
    world.stop()


# What docs/mirror.md tells consumers on a closed network to set: each turns off a lookup
# the clients make beyond HF_ENDPOINT on their own.
CLOSED_NETWORK = {
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",  # the hf CLI asks pypi.org for a newer release
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_UPDATE_DOWNLOAD_COUNTS": "0",  # datasets reports loads to s3.amazonaws.com
}


def test_huggingface_hub_sees_exactly_the_approved_models(mirror, world, tmp_path):
    registry, _ = world
    api = HfApi(endpoint=mirror.url, token=False)
    qa_sha = sha_of(registry, QA_MODEL)

    assert sorted(m.id for m in api.list_models()) == sorted([QA_MODEL, MINILM])
    assert [m.id for m in api.list_models(num_parameters="min:1M,max:1B")] == [MINILM]
    assert [m.id for m in api.list_models(search="tiny", full=True)] == [QA_MODEL]

    info = api.model_info(QA_MODEL)
    assert info.sha == qa_sha and info.pipeline_tag == "question-answering"
    assert info.safetensors is not None and info.safetensors.total > 0
    assert api.model_info(QA_MODEL.upper()).id == QA_MODEL  # ids are case-insensitive
    files = api.list_repo_files(QA_MODEL)
    assert "model.safetensors" in files and "config.json" in files
    tree = {e.path: e for e in api.list_repo_tree(QA_MODEL, recursive=True, expand=True)}
    assert tree["model.safetensors"].lfs is not None
    assert tree["model.safetensors"].last_commit.oid == qa_sha
    refs = api.list_repo_refs(QA_MODEL, include_pull_requests=True)
    assert [b.target_commit for b in refs.branches] == [qa_sha] and refs.pull_requests == []
    api.auth_check(QA_MODEL)

    cache = tmp_path / "cache"
    folder = snapshot_download(QA_MODEL, endpoint=mirror.url, cache_dir=cache, token=False)
    assert Path(folder).name == qa_sha
    checked = api.verify_repo_checksums(QA_MODEL, cache_dir=cache)
    assert checked.checked_count == len(files) and not checked.mismatches
    one = hf_hub_download(QA_MODEL, "config.json", endpoint=mirror.url, cache_dir=tmp_path / "c2")
    assert json.loads(Path(one).read_text())["model_type"] == "bert"
    fs = HfFileSystem(endpoint=mirror.url, token=False)
    assert f"{QA_MODEL}/config.json" in fs.ls(QA_MODEL, detail=False)
    assert fs.read_bytes(f"{QA_MODEL}/config.json") == Path(one).read_bytes()

    head = loopback.head(f"{mirror.url}/api/models/{QA_MODEL}")  # HEAD on the API, as proxies do
    assert head.status_code == 200 and int(head.headers["content-length"]) > 100
    with pytest.raises(HfHubHTTPError, match='"expand\\[0\\]" must be one of'):
        api.model_info(QA_MODEL, expand=["noSuchKey"])


def test_a_model_that_is_not_approved_says_why(mirror, world, upstream):
    from hub_assets.hub.client import HubClient, HubSettings
    from hub_assets.pipeline.discover import discover

    registry, _ = world
    discover(
        HubClient(HubSettings(endpoint=upstream.url, requests_per_second=0)), registry, run_id="d"
    )
    api = HfApi(endpoint=mirror.url, token=False)
    with pytest.raises(GatedRepoError, match="failed the quality gate: Model does not meet"):
        api.model_info(FAILING)
    with pytest.raises(GatedRepoError, match="failed the quality gate"):
        hf_hub_download(FAILING, "config.json", endpoint=mirror.url, token=False)
    with pytest.raises(GatedRepoError, match="not evaluated yet"):
        api.model_info(f"{ORG}/tiny-t5-active")  # discovered, never evaluated
    # a model discovery filtered out says why, as the registry recorded it
    with pytest.raises(GatedRepoError, match="filtered it out: license gpl-3.0 not in allow"):
        api.model_info(f"{ORG}/tiny-gpt2-gpl")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("nobody/nothing")
    sha = sha_of(registry, QA_MODEL)
    with pytest.raises(GatedRepoError, match=f"the approved revision is {sha}"):
        api.model_info(QA_MODEL, revision="0" * 40)
    assert api.model_info(QA_MODEL, revision=sha[:10]).sha == sha  # its sha, as itself


def test_transformers_sentence_transformers_and_hf_cli_load_through_the_mirror(
    mirror, outside, tmp_path
):
    """The clients as users run them on a closed network: HF_ENDPOINT pointing at the
    mirror and docs/mirror.md's variables; nothing asked beyond the mirror."""
    script = f"""
import json, torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer
from sentence_transformers import SentenceTransformer
out = {{}}
tok = AutoTokenizer.from_pretrained("{QA_MODEL}")
model = AutoModelForQuestionAnswering.from_pretrained("{QA_MODEL}")
with torch.no_grad():
    logits = model(**tok("Where?", "In the town of Bram.", return_tensors="pt")).start_logits
out["qa"] = list(logits.shape)
out["st"] = list(SentenceTransformer("{MINILM}").encode(["hello world"]).shape)
for name, call in (
    ("failed", lambda: AutoTokenizer.from_pretrained("{FAILING}")),
    ("revision", lambda: AutoTokenizer.from_pretrained("{QA_MODEL}", revision="{"0" * 40}")),
    ("st_failed", lambda: SentenceTransformer("{FAILING}")),
):
    try:
        call()
        out[name] = "loaded"
    except Exception as e:
        out[name] = str(e)
print(json.dumps(out))
"""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_ENDPOINT": mirror.url,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        **CLOSED_NETWORK,  # and every request beyond loopback caught: none is made
        "HTTPS_PROXY": outside.url,
        "HTTP_PROXY": outside.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["qa"][0] == 1 and out["st"] == [1, 384]
    assert "not approved on this mirror" in out["failed"] and "quality gate" in out["failed"]
    assert "the approved revision is" in out["revision"]
    assert "not approved on this mirror" in out["st_failed"]

    cli = subprocess.run(
        [str(BIN / "hf"), "download", QA_MODEL, "--local-dir", str(tmp_path / "dl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "dl" / "model.safetensors").stat().st_size > 0
    refused = subprocess.run(
        [str(BIN / "hf"), "download", FAILING], env=env, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "Access denied" in refused.stderr + refused.stdout
    assert outside.requests == []


def test_range_reads_map_into_the_zip_member(mirror, world, upstream):
    registry, _ = world
    sha = sha_of(registry, QA_MODEL)
    entry = upstream.catalog.repo("model", QA_MODEL).commits[sha].files["model.safetensors"]
    original = upstream.catalog.blob_path(entry.sha256).read_bytes()
    url = f"{mirror.url}/{QA_MODEL}/resolve/main/model.safetensors"
    r = loopback.get(url, headers={"Range": "bytes=100-1123"})
    assert r.status_code == 206 and r.content == original[100:1124]
    assert r.headers["content-range"] == f"bytes 100-1123/{len(original)}"
    assert r.headers["x-repo-commit"] == sha
    assert r.headers["x-linked-etag"].strip('"') == entry.sha256
    tail = loopback.get(url, headers={"Range": "bytes=-16"})
    assert tail.content == original[-16:]
    assert loopback.get(url, headers={"Range": f"bytes={len(original)}-"}).status_code == 416
    assert loopback.get(url).content == original


def test_main_stays_on_the_approved_revision_when_upstream_moves(mirror, world, upstream):
    from hub_assets.hub.client import HubClient, HubSettings
    from hub_assets.pipeline.discover import discover

    registry, _ = world
    approved = sha_of(registry, QA_MODEL)
    newer = upstream.catalog.commit(
        "model",
        QA_MODEL,
        {"NOTES.md": b"a newer upstream revision\n"},
        authors=["someone"],
        title="newer",
        date="2026-11-01T00:00:00Z",
    )
    client = HubClient(HubSettings(endpoint=upstream.url, requests_per_second=0))
    discover(client, registry, run_id="rediscover", full=True)
    with registry.read() as con:
        assert con.execute("SELECT sha FROM models WHERE model_id = ?", [QA_MODEL]).fetchone() == (
            newer.sha,
        )
    api = HfApi(endpoint=mirror.url, token=False)
    assert HfApi(endpoint=upstream.url).model_info(QA_MODEL).sha == newer.sha
    assert api.model_info(QA_MODEL).sha == approved
    with pytest.raises(GatedRepoError, match=f"approved revision is {approved}"):
        hf_hub_download(QA_MODEL, "NOTES.md", revision=newer.sha, endpoint=mirror.url)


def test_retired_models_disappear_and_a_promoted_only_mirror_waits(world, tmp_path):
    registry = copy_of(world, tmp_path)
    store = PackageStore(str(tmp_path / "packages"))
    qa, minilm = sha_of(registry, QA_MODEL), sha_of(registry, MINILM)
    with serving(registry, store) as server:
        api = HfApi(endpoint=server.url, token=False)
        assert api.model_info(MINILM).sha == minilm
        decide(registry, MINILM, "retire", minilm, "superseded", "alice", "t1")
        with pytest.raises(GatedRepoError, match="was retired.*superseded"):
            api.model_info(MINILM)
        assert [m.id for m in api.list_models()] == [QA_MODEL]
    with serving(registry, store, promoted=True) as server:
        api = HfApi(endpoint=server.url, token=False)
        with pytest.raises(GatedRepoError, match="not promoted"):
            api.model_info(QA_MODEL)
        assert list(api.list_models()) == []
        decide(registry, QA_MODEL, "promote", qa, "reviewed", "alice", "t2")
        assert api.model_info(QA_MODEL).sha == qa


def test_a_tampered_package_is_not_served(world, tmp_path, caplog):
    registry = copy_of(world, tmp_path)
    store = PackageStore(str(tmp_path / "packages"))
    with registry.read() as con:
        uri = con.execute("SELECT uri FROM packages WHERE model_id = ?", [QA_MODEL]).fetchone()[0]
    data = bytearray(Path(uri).read_bytes())
    data[200] ^= 0xFF  # inside the first member: the zip's structure still reads
    Path(uri).write_bytes(bytes(data))
    with serving(registry, store) as server, caplog.at_level("ERROR", "hub_assets.mirror"):
        api = HfApi(endpoint=server.url, token=False)
        with pytest.raises(GatedRepoError, match="failed verification.*sha256"):
            api.model_info(QA_MODEL)
        assert [m.id for m in api.list_models()] == [MINILM]
    assert "Not serving hub-assets-demo/tiny-bert-qa" in caplog.text


def test_tokens_of_registry_users_and_a_private_mirror(world, tmp_path):
    registry = copy_of(world, tmp_path)
    identity = Identity(registry)
    identity.add_user("reader", ["read"], password="a long enough password")
    token = identity.create_token("reader", "mirror", None).token
    with serving(registry, PackageStore(str(tmp_path / "packages")), public=False) as server:
        anonymous = HfApi(endpoint=server.url, token=False)
        with pytest.raises(GatedRepoError, match="signed-in users only"):
            anonymous.model_info(QA_MODEL)
        api = HfApi(endpoint=server.url, token=token)
        assert api.whoami()["name"] == "reader"
        assert api.model_info(QA_MODEL).id == QA_MODEL
        with pytest.raises(HfHubHTTPError, match="401"):
            HfApi(endpoint=server.url, token="hat_1_" + "x" * 40).model_info(QA_MODEL)
        with pytest.raises(GatedRepoError, match="signed-in users only"):  # not our token
            HfApi(endpoint=server.url, token="hf_" + "x" * 34).model_info(QA_MODEL)
    with serving(registry, PackageStore(str(tmp_path / "packages"))) as public:
        # a huggingface.co token that `hf auth login` saved does not lock a user out
        assert HfApi(endpoint=public.url, token="hf_" + "x" * 34).model_info(QA_MODEL)


def test_without_the_closed_network_variables_hf_asks_pypi(mirror, outside, tmp_path):
    """Why docs/mirror.md lists them: with a fresh cache and only HF_ENDPOINT set, `hf`
    asks pypi.org for a newer release (the stand-in proxy catches it)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HF_ENDPOINT": mirror.url,
        "HF_HOME": str(tmp_path / "hf"),
        "HTTPS_PROXY": outside.url,
        "HTTP_PROXY": outside.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    cli = [str(BIN / "hf"), "download", QA_MODEL, "config.json", "--local-dir", str(tmp_path)]
    done = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert any("pypi.org" in r for r in outside.requests), outside.requests


def test_the_guard_loads_a_locked_cache_with_the_real_clients(mirror, world, tmp_path):
    """snapshot_download through the mirror into a fresh cache, then offline: verify-cache
    passes, transformers and sentence-transformers load through the guard; one byte of a
    blob changed and both refuse before the loader runs."""
    from click.testing import CliRunner
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForQuestionAnswering

    from hub_assets import guard
    from hub_assets.cli import main
    from hub_assets.errors import LockMismatchError
    from hub_assets.mirror.lockfile import make_lock, write_lock

    registry, packages = world
    lock = make_lock(registry, [QA_MODEL, MINILM], False, PackageStore(str(packages)))
    write_lock(lock, tmp_path / "models.lock")
    cache = tmp_path / "hub"
    for model_id in (QA_MODEL, MINILM):
        snapshot_download(model_id, endpoint=mirror.url, cache_dir=cache)
    check = ["verify-cache", "--lock", str(tmp_path / "models.lock"), "--cache-dir", str(cache)]
    ok = CliRunner().invoke(main, check)
    assert ok.exit_code == 0, ok.output
    assert ok.output.count("ok  ") == 2
    model = guard.load(
        AutoModelForQuestionAnswering.from_pretrained,
        QA_MODEL,
        lock=lock,
        cache_dir=cache,
        verified_dir=tmp_path / "v",
    )
    assert model.config.model_type == "bert"
    encoder = guard.load(
        SentenceTransformer,
        MINILM,
        lock=lock,
        cache_dir=cache,
        device="cpu",
        verified_dir=tmp_path / "v",
    )
    assert list(encoder.encode(["hello world"]).shape) == [1, 384]

    weights = (
        guard.verified_snapshot(QA_MODEL, lock, cache_dir=cache, verified_dir=tmp_path / "v")
        / "model.safetensors"
    )
    with weights.open("r+b") as f:  # through the cache's symlink: the blob itself
        f.seek(weights.stat().st_size // 2)
        byte = f.read(1)[0]
        f.seek(-1, 1)
        f.write(bytes([byte ^ 1]))
    bad = CliRunner().invoke(main, check)
    assert bad.exit_code == 8 and "tampered model.safetensors" in bad.output
    calls = []
    with pytest.raises(LockMismatchError, match="tampered model.safetensors"):
        guard.load(
            lambda path, **kw: calls.append(path),
            QA_MODEL,
            lock=lock,
            cache_dir=cache,
            verified_dir=tmp_path / "v",
        )
    assert calls == []
