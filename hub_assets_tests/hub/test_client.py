"""HubClient: metadata through the real client, cache with TTL, offline, retries."""

import pytest

from hub_assets.devhub.demo_catalog import MINILM, ORG
from hub_assets.errors import (
    HubUnavailableError,
    InvalidModelIdError,
    ModelNotFoundError,
    RateLimitedError,
)
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets_tests.conftest import GATED_TOKEN


def test_metadata_has_info_card_commits_config(hub_client):
    got = hub_client.model_metadata(f"{ORG}/tiny-gpt2-complete")
    assert not got.from_cache and not got.offline
    info = got.data["info"]
    assert len(info["sha"]) == 40 and info["license"] == "apache-2.0"
    assert any(s["path"] == "model.safetensors" and s["lfs_sha256"] for s in info["siblings"])
    assert info["safetensors"]["total"] > 0
    assert got.data["card_data"]["model-index"]
    assert "## How to use" in got.data["card_text"]
    assert {a for c in got.data["commits"] for a in c["authors"]} == {"ada", "grace", "linus"}
    assert got.data["config"]["model_type"] == "gpt2"


def test_cache_hit_makes_zero_hub_requests(hub_client, hub_server):
    hub_client.model_metadata(MINILM)
    before = hub_server.requests["total"]
    again = hub_client.model_metadata(MINILM)
    assert again.from_cache and hub_server.requests["total"] == before
    pinned = hub_client.model_metadata(MINILM, revision=again.data["info"]["sha"])
    assert pinned.from_cache and hub_server.requests["total"] == before


def test_past_the_ttl_metadata_is_fetched_again(hub_server, tmp_path):
    client = HubClient(HubSettings(endpoint=hub_server.url, cache_dir=tmp_path, cache_ttl_s=0))
    client.model_metadata(MINILM)
    before = hub_server.requests["GET /api/models/{id}"]
    assert not client.model_metadata(MINILM).from_cache
    assert hub_server.requests["GET /api/models/{id}"] == before + 1


def test_offline_uses_the_cache_and_says_so(mutable_hub, tmp_path):
    settings = HubSettings(endpoint=mutable_hub.url, cache_dir=tmp_path, cache_ttl_s=0)
    HubClient(settings).model_metadata("acme/small")
    mutable_hub.stop()
    got = HubClient(settings).model_metadata("acme/small")
    assert got.from_cache and got.offline and got.data["info"]["license"] == "mit"
    with pytest.raises(HubUnavailableError, match="No cached metadata for model 'acme/other'"):
        HubClient(settings).model_metadata("acme/other")


def test_429_and_5xx_are_retried_honouring_retry_after(hub_client, hub_server):
    hub_server.add_fault(
        "status", status=429, retry_after=0, route=r"^/api/models/sentence", times=2
    )
    got = hub_client.model_metadata(MINILM)
    assert got.data["info"]["model_id"] == MINILM
    assert hub_server.requests["GET /api/models/{id}"] == 3
    hub_server.add_fault(
        "status", status=503, route=r"^/api/models/hub-assets-demo/tiny-t5-qa$", times=None
    )
    impatient = HubClient(
        HubSettings(endpoint=hub_server.url, cache_dir=hub_client.settings.cache_dir, max_retries=1)
    )
    with pytest.raises(RateLimitedError, match="kept answering 503 after 1 retries"):
        impatient.model_metadata(f"{ORG}/tiny-t5-qa")


def test_unknown_and_invalid_models_are_clear_errors(hub_client):
    with pytest.raises(ModelNotFoundError, match="Model 'nobody/nothing' not found on the Hub"):
        hub_client.model_metadata("nobody/nothing")
    with pytest.raises(InvalidModelIdError, match="Invalid model id '../../etc/passwd'"):
        hub_client.model_metadata("../../etc/passwd")


def test_gated_metadata_with_a_token_that_never_leaks(hub_server, tmp_path):
    settings = HubSettings(endpoint=hub_server.url, token=GATED_TOKEN, cache_dir=tmp_path)
    got = HubClient(settings).model_metadata(f"{ORG}/tiny-gpt2-gated")
    assert got.data["config"]["model_type"] == "gpt2" and got.data["info"]["gated"] == "manual"
    assert GATED_TOKEN not in repr(settings)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert GATED_TOKEN.encode() not in f.read_bytes(), f
    no_token = HubClient(HubSettings(endpoint=hub_server.url, cache_dir=tmp_path / "b"))
    assert no_token.model_metadata(f"{ORG}/tiny-gpt2-gated").data["config"] is None


def test_a_range_read_from_a_server_that_ignores_ranges_stops_early(tmp_path):
    """A hostile server answers a header read with 200 and an endless body: the client
    takes the bytes it asked for and drops the connection, never buffering the file."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from hub_assets.hub.client import HubClient, HubSettings

    sent, finished = [], threading.Event()

    class Endless(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)  # ignores Range
            self.send_header("Content-Length", str(10 * 1024**3))
            self.end_headers()
            block, total = bytes(range(256)) * 4096, 0
            try:
                while total < 10 * 1024**3:
                    self.wfile.write(block)
                    total += len(block)
            except OSError:
                pass
            sent.append(total)
            finished.set()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = HubClient(
            HubSettings(
                endpoint=f"http://127.0.0.1:{server.server_port}",
                cache_dir=tmp_path,
                requests_per_second=0,
                max_retries=0,
            )
        )
        got = client.read_range("acme/big", "model.gguf", "a" * 40, 1000, 5000)
        assert got == (bytes(range(256)) * 100)[1000:6000]
    finally:
        server.shutdown()
    # the handler runs in its own thread: it sees the hang-up at its next write
    assert finished.wait(30), "the server was still writing 30 s after the read returned"
    assert sent[0] < 256 * 1024**2  # the client hung up long before 10 GiB
