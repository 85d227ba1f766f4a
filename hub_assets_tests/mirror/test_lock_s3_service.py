"""The mirror over an S3 package store (moto), mounted in the registry service at /hub, and
lockfiles: written from the registry, fetched through the mirror, every byte verified."""

import json
import threading
import time
from pathlib import Path

import pytest
import s3fs
import uvicorn
from click.testing import CliRunner
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import GatedRepoError

from hub_assets.cli import main
from hub_assets.devhub.demo_cases import MINILM, QA_MODEL
from hub_assets.packaging.store import PackageStore
from hub_assets.registry.store import Registry
from hub_assets.service.app import create_app
from hub_assets.settings import load_settings
from hub_assets_tests import loopback
from hub_assets_tests.conftest import S3_CREDENTIALS, free_port, pipeline_env, reload_definitions
from hub_assets_tests.mirror.conftest import FAILING, copy_of, serving, sha_of

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]


@pytest.fixture
def s3_world(upstream, s3_bucket, tmp_path, monkeypatch):
    """A registry whose QA package the pipeline wrote to a moto S3 bucket."""
    endpoint, bucket = s3_bucket
    registry = Registry(tmp_path / "registry.duckdb")
    with pipeline_env(upstream.url, registry, tmp_path):
        monkeypatch.setenv("HUB_ASSETS_PACKAGE_STORE", f"s3://{bucket}/packages")
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        reload_definitions()
        r = CliRunner().invoke(main, ["ingest", QA_MODEL, "--wait"])
        assert r.exit_code == 0, r.output
        monkeypatch.undo()
    store = PackageStore(f"s3://{bucket}/packages", {"endpoint_url": endpoint, **S3_CREDENTIALS})
    return registry, store


def test_the_mirror_reads_packages_in_place_on_s3(s3_world, tmp_path):
    registry, store = s3_world
    sha = sha_of(registry, QA_MODEL)
    with registry.read() as con:
        uri = con.execute("SELECT uri FROM packages").fetchone()[0]
    assert uri.startswith("s3://")
    with serving(registry, store) as server:
        api = HfApi(endpoint=server.url, token=False)
        assert api.model_info(QA_MODEL).sha == sha
        cache = tmp_path / "cache"
        snapshot_download(QA_MODEL, endpoint=server.url, cache_dir=cache, token=False)
        assert not api.verify_repo_checksums(QA_MODEL, cache_dir=cache).mismatches
        url = f"{server.url}/{QA_MODEL}/resolve/main/model.safetensors"
        whole = loopback.get(url).content
        part = loopback.get(url, headers={"Range": "bytes=4096-8191"})
        assert part.status_code == 206 and part.content == whole[4096:8192]

        fs = s3fs.S3FileSystem(endpoint_url=store.fs.endpoint_url, **S3_CREDENTIALS)
        data = bytearray(fs.cat(uri))
        data[300] ^= 0xFF
        fs.pipe(uri, bytes(data))  # the object changes: a new ETag, checked again
        with pytest.raises(GatedRepoError, match="failed verification"):
            api.model_info(QA_MODEL)


def test_the_service_serves_the_mirror_at_hub(world, tmp_path, monkeypatch):
    registry = copy_of(world, tmp_path)  # this test retires a package
    packages = tmp_path / "packages"
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    monkeypatch.setenv("HUB_ASSETS_PACKAGE_STORE", str(packages))
    settings = load_settings()
    app = create_app(settings, registry, PackageStore(str(packages)))
    app.state.identity.ensure_admin("correct horse battery staple")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        base = f"http://127.0.0.1:{port}"
        hub = f"{base}/hub"
        api = HfApi(endpoint=hub, token=False)
        assert api.model_info(QA_MODEL).sha == sha_of(registry, QA_MODEL)
        page = loopback.get(f"{hub}/api/models", params={"limit": 1})
        assert page.headers["link"].startswith(f"<{hub}/api/models?")  # paging keeps /hub
        folder = snapshot_download(QA_MODEL, endpoint=hub, cache_dir=tmp_path / "c", token=False)
        assert (Path(folder) / "model.safetensors").stat().st_size > 0
        with pytest.raises(GatedRepoError, match="quality gate"):
            api.model_info(FAILING)

        # retiring the package through the service: /hub stops serving it at once
        token = loopback.post(
            f"{base}/authenticate",
            json={"username": "admin", "password": "correct horse battery staple"},
        ).json()["token"]
        with registry.read() as con:
            package_id = con.execute(
                "SELECT package_id FROM packages WHERE model_id = ?", [MINILM]
            ).fetchone()[0]
        retired = loopback.delete(
            f"{base}/packages/{package_id}", headers={"Authorization": f"Bearer {token}"}
        )
        assert retired.status_code == 200, retired.text
        with pytest.raises(GatedRepoError, match="was retired"):
            api.model_info(MINILM)
        assert [m.id for m in api.list_models()] == [QA_MODEL]
    finally:
        server.should_exit = True
        thread.join(10)


def test_lockfile_round_trip_and_a_tampered_file_is_caught(mirror, world, tmp_path, monkeypatch):
    registry, packages = world
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    monkeypatch.setenv("HUB_ASSETS_PACKAGE_STORE", str(packages))
    runner = CliRunner()
    lock = tmp_path / "models.lock"
    made = runner.invoke(main, ["lock", QA_MODEL, MINILM, "-o", str(lock)])
    assert made.exit_code == 0, made.output
    data = json.loads(lock.read_text())
    qa = data["models"][QA_MODEL]
    assert qa["revision"] == sha_of(registry, QA_MODEL)
    assert {f["path"] for f in qa["files"]} >= {"config.json", "model.safetensors"}
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in qa["files"])
    assert qa["package"]["uri"].endswith("package.zip")
    with registry.read() as con:  # recorded, so a gate change can name the locks it affects
        pinned = con.execute(
            "SELECT model_id, revision_sha FROM lockfiles WHERE path = ?", [str(lock.resolve())]
        ).fetchall()
    assert sorted(pinned) == sorted((m, e["revision"]) for m, e in data["models"].items())

    refused = runner.invoke(main, ["lock", FAILING, "-o", str(tmp_path / "no.lock")])
    assert refused.exit_code == 15 and "failed the quality gate" in refused.output
    assert not (tmp_path / "no.lock").exists()

    dest = tmp_path / "models"
    fetch = ["fetch", "--lock", str(lock), "--dir", str(dest), "--endpoint", mirror.url]
    ok = runner.invoke(main, fetch)
    assert ok.exit_code == 0, ok.output
    weights = dest / QA_MODEL / "model.safetensors"
    assert weights.stat().st_size == next(
        f["size"] for f in qa["files"] if f["path"] == "model.safetensors"
    )
    mirror.reset_requests()
    assert runner.invoke(main, fetch).exit_code == 0
    assert mirror.requests["total"] == 0  # verified files already there: nothing fetched

    weights.write_bytes(b"tampered")  # a local file gone bad is fetched again
    assert runner.invoke(main, fetch).exit_code == 0
    assert weights.stat().st_size > 8

    for f in qa["files"]:
        if f["path"] == "config.json":
            f["sha256"] = "0" * 64  # the lock and the mirror's bytes disagree
    lock.write_text(json.dumps(data))
    (dest / QA_MODEL / "config.json").unlink()
    bad = runner.invoke(main, fetch)
    assert bad.exit_code == 8
    assert f"{QA_MODEL}/config.json does not match the lockfile" in bad.output
    assert not (dest / QA_MODEL / "config.json").exists()


def test_mirror_serve_command(world, tmp_path):
    """`hub-assets mirror serve` as an operator starts it: settings from the environment."""
    import os
    import subprocess
    import sys

    from hub_assets.devhub.process import wait_up

    registry, packages = world
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HUB_ASSETS_REGISTRY": str(registry.path),
        "HUB_ASSETS_PACKAGE_STORE": str(packages),
        "HUB_ASSETS_MIRROR_REQUIRE_PROMOTED": "false",
    }
    exe = str(Path(sys.executable).parent / "hub-assets")
    proc = subprocess.Popen(
        [exe, "mirror", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(f"{url}/api/models", proc)
        assert HfApi(endpoint=url, token=False).model_info(MINILM).id == MINILM
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"HF_ENDPOINT={url}" in out and "approved models for everyone" in out


def test_mirror_serve_without_a_registry_says_so(tmp_path):
    import os
    import subprocess
    import sys

    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HUB_ASSETS_REGISTRY": str(tmp_path / "none.duckdb"),
    }
    exe = str(Path(sys.executable).parent / "hub-assets")
    done = subprocess.run(
        [exe, "mirror", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "The mirror cannot read the registry: No registry at" in done.stderr
    assert "Traceback" not in done.stderr
