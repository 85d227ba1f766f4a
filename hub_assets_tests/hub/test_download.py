"""Verified, resumable downloads against the Hub server (with its faults)."""

import hashlib
import subprocess
import sys
import textwrap
import time

import pytest

from hub_assets.devhub.demo_catalog import MINILM, ORG
from hub_assets.errors import GatedModelError, InsufficientDiskSpaceError, UnsafePathError
from hub_assets.hub.download import (
    ChecksumMismatchError,
    RemoteFile,
    check_disk_space,
    download_revision,
    remote_files,
)

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def files_of(client, model_id):
    data = client.model_metadata(model_id).data
    return data["info"]["sha"], remote_files(data["info"]["siblings"])


def test_download_verifies_every_file(hub_client, tmp_path):
    sha, files = files_of(hub_client, f"{ORG}/tiny-gpt2-complete")
    got = download_revision(hub_client, f"{ORG}/tiny-gpt2-complete", sha, files, tmp_path)
    assert {f.path for f in got} == {f.path for f in files}
    for f in got:
        assert hashlib.sha256(f.local.read_bytes()).hexdigest() == f.sha256
        assert f.resumed_from == 0
    assert not list(tmp_path.rglob("*.partial")) and not (tmp_path / ".cache").exists()


def test_a_partial_file_is_resumed_with_range(hub_client, hub_server, tmp_path):
    sha, files = files_of(hub_client, MINILM)
    weights = [f for f in files if f.path == "model.safetensors"]
    full = hub_server.catalog.blob_path(MINILM_SHA256).read_bytes()
    (tmp_path / "model.safetensors.partial").write_bytes(full[:50_000_000])
    hub_server.reset_requests()
    [got] = download_revision(hub_client, MINILM, sha, weights, tmp_path)
    assert got.sha256 == MINILM_SHA256 and got.resumed_from == 50_000_000
    assert hub_server.requests["GET range"] == 1


def test_a_corrupted_file_is_fetched_again(hub_client, tmp_path):
    sha, files = files_of(hub_client, f"{ORG}/tiny-gpt2-complete")
    config = [f for f in files if f.path == "config.json"]
    (tmp_path / "config.json").write_bytes(b"x" * config[0].size)  # right size, wrong bytes
    [got] = download_revision(hub_client, f"{ORG}/tiny-gpt2-complete", sha, config, tmp_path)
    assert b'"model_type": "gpt2"' in got.local.read_bytes()


def test_a_file_that_never_matches_is_an_error(hub_client, tmp_path):
    sha, files = files_of(hub_client, f"{ORG}/tiny-gpt2-complete")
    f = next(f for f in files if f.path == "model.safetensors")
    wrong = RemoteFile(f.path, f.size, "0" * 64, None)
    with pytest.raises(ChecksumMismatchError, match="does not match the Hub's hash"):
        download_revision(hub_client, f"{ORG}/tiny-gpt2-complete", sha, [wrong], tmp_path)
    assert not (tmp_path / "model.safetensors").exists()


@pytest.mark.parametrize("bad", ["../escape.txt", "/etc/passwd", "a/../../b", "dir\\file"])
def test_unsafe_paths_reject_the_model(bad):
    with pytest.raises(UnsafePathError, match="unsafe file name"):
        remote_files([{"path": bad, "size": 1}])


def test_bookkeeping_files_are_never_downloaded():
    got = remote_files(
        [{"path": ".cache/huggingface/x.lock", "size": 1}, {"path": "config.json", "size": 2}]
    )
    assert [f.path for f in got] == ["config.json"]


def test_symlinks_in_the_target_are_refused(hub_client, tmp_path):
    sha, files = files_of(hub_client, MINILM)
    pooling = [f for f in files if f.path == "1_Pooling/config.json"]
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "1_Pooling").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError):
        download_revision(hub_client, MINILM, sha, pooling, tmp_path / "dl")


def test_free_disk_space_is_checked_first(tmp_path):
    huge = [RemoteFile("w.safetensors", 10**15, "0" * 64, None)]
    with pytest.raises(InsufficientDiskSpaceError, match="still to download"):
        check_disk_space(tmp_path, huge)


def test_429_5xx_and_a_dropped_connection_are_survived(hub_client, hub_server, tmp_path):
    sha, files = files_of(hub_client, MINILM)
    weights = [f for f in files if f.path == "model.safetensors"]
    hub_server.add_fault(
        "status", status=429, retry_after=0, file="model.safetensors", method="GET", times=1
    )
    hub_server.add_fault(
        "status", status=503, retry_after=0, file="model.safetensors", method="GET", times=1
    )
    hub_server.add_fault("drop", file="model.safetensors", after_bytes=30_000_000, times=1)
    [got] = download_revision(hub_client, MINILM, sha, weights, tmp_path)
    assert got.sha256 == MINILM_SHA256
    assert hub_server.requests["GET range"] >= 1


def test_gated_model_without_a_token_is_a_clear_reason(hub_client, tmp_path):
    sha, files = files_of(hub_client, f"{ORG}/tiny-gpt2-gated")
    with pytest.raises(GatedModelError, match="is gated: the configured token"):
        download_revision(
            hub_client,
            f"{ORG}/tiny-gpt2-gated",
            sha,
            [f for f in files if f.path == "config.json"],
            tmp_path,
        )


KILLABLE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from hub_assets.hub.client import HubClient, HubSettings
    from hub_assets.hub.download import download_revision, remote_files
    client = HubClient(HubSettings(endpoint=sys.argv[1], cache_dir=Path(sys.argv[3])))
    data = client.model_metadata(sys.argv[2]).data
    files = [f for f in remote_files(data["info"]["siblings"]) if f.path == "model.safetensors"]
    download_revision(client, sys.argv[2], data["info"]["sha"], files, Path(sys.argv[4]))
    """
)


@pytest.mark.slow
def test_a_killed_download_resumes_and_refetches_little(hub_client, hub_server, tmp_path):
    hub_server.add_fault("slow", file="model.safetensors", bytes_per_s=20_000_000, times=1)
    dest = tmp_path / "dl"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, hub_server.url, MINILM, str(tmp_path / "cache"), str(dest)]
    )
    partial = dest / "model.safetensors.partial"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if partial.exists() and partial.stat().st_size > 40_000_000:
            break
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    kept = partial.stat().st_size
    assert 40_000_000 < kept < 90_868_376
    hub_server.reset_requests()
    sha, files = files_of(hub_client, MINILM)
    [got] = download_revision(
        hub_client, MINILM, sha, [f for f in files if f.path == "model.safetensors"], dest
    )
    assert got.sha256 == MINILM_SHA256 and got.resumed_from == kept
    assert hub_server.requests["GET resolve"] == 1 and hub_server.requests["GET range"] == 1


def test_a_connection_that_keeps_dropping_is_download_failed_in_words(
    hub_client, hub_server, tmp_path
):
    from hub_assets.errors import DownloadFailedError
    from hub_assets.failures import outcome_of

    sha, files = files_of(hub_client, MINILM)
    weights = [f for f in files if f.path == "model.safetensors"]
    hub_server.add_fault("drop", file="model.safetensors", after_bytes=1_000_000, times=None)
    with pytest.raises(DownloadFailedError) as err:
        download_revision(hub_client, MINILM, sha, weights, tmp_path)
    message = str(err.value)
    assert message.startswith(
        f"Download of model.safetensors from {MINILM} failed after 5 attempts: "
        "the connection closed early ("
    )
    assert f"of {weights[0].size:,} bytes). The partial file is kept; the next run resumes." in (
        message
    )
    assert "Error" not in message and outcome_of(err.value) == "download_failed"
    assert (tmp_path / "model.safetensors.partial").stat().st_size >= 1_000_000
    assert not (tmp_path / "model.safetensors").exists()


def test_a_server_sending_more_than_it_advertises_is_cut_off(tmp_path):
    """A hostile server streams without end (no Content-Length): we stop one byte past."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from hub_assets.hub.client import HubClient, HubSettings

    class Endless(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(400):  # 400 MB unless the client hangs up
                    self.wfile.write(b"\x01" * 1024 * 1024)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        client = HubClient(HubSettings(endpoint=url, cache_dir=tmp_path / "c"))
        promise = [RemoteFile("model.safetensors", 4096, "0" * 64, None)]
        seen = []
        with pytest.raises(ChecksumMismatchError, match="model.safetensors of evil/endless"):
            download_revision(
                client,
                "evil/endless",
                "a" * 40,
                promise,
                tmp_path / "dl",
                progress=lambda path, done, total: seen.append(done),
            )
    finally:
        server.shutdown()
    assert max(seen) <= 4096  # never more than advertised reached the disk's file
    assert not list((tmp_path / "dl").rglob("model.safetensors*"))
