"""The Hub's own settings (HF_ENDPOINT, the token file, HF_HUB_OFFLINE), offline fallback to
the registry's revision, and rate limits that stay polite and end clearly."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.devhub.demo_catalog import ORG
from hub_assets.errors import OfflineCacheMissError, RateLimitedError
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.hub.pacing import retry_delay
from hub_assets.pipeline.context import Pipeline
from hub_assets.pipeline.discover import discover
from hub_assets.registry.metrics import last_known_revision
from hub_assets.settings import default, load_settings
from hub_assets_tests.conftest import GATED_TOKEN, PROJECT_ROOT

GATED = f"{ORG}/tiny-gpt2-gated"


def test_hf_endpoint_is_used_when_ours_is_unset(hub_server, monkeypatch, tmp_path):
    monkeypatch.delenv("HUB_ASSETS_HUB_ENDPOINT", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HUB_ASSETS_CACHE_DIR", str(tmp_path))
    hub = Pipeline.from_settings(load_settings())
    assert hub.endpoint == hub_server.url
    assert hub.client().model_metadata(f"{ORG}/tiny-t5-qa").data["info"]["sha"]
    monkeypatch.setenv("HUB_ASSETS_HUB_ENDPOINT", "http://127.0.0.1:1")
    # ours wins when set
    assert Pipeline.from_settings(load_settings()).endpoint == "http://127.0.0.1:1"


def test_default_rate_limit_is_within_the_free_tier():
    assert default("hub_rate_limit") <= 3.0
    assert HubSettings(endpoint="x").requests_per_second <= 1000 / 300


def _python(code: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=PROJECT_ROOT
    )


def test_a_token_found_only_in_the_token_file_opens_a_gated_repo(hub_server, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(GATED_TOKEN)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUB_ASSETS_HUB_ENDPOINT")}
    env.update(HF_TOKEN_PATH=str(token_file), HF_ENDPOINT=hub_server.url, HF_HOME=str(tmp_path))
    code = (
        "from hub_assets.pipeline.context import Pipeline\n"
        "from hub_assets.settings import load_settings\n"
        "hub = Pipeline.from_settings(load_settings())\n"
        f"m = hub.client().model_metadata({GATED!r}).data\n"
        "print(m['config']['model_type'], hub.hub_settings.token is None)\n"
    )
    env["HUB_ASSETS_CACHE_DIR"] = str(tmp_path / "cache")
    got = _python(code, env)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["gpt2", "True"]  # read from the file, never stored
    assert GATED_TOKEN not in got.stdout + got.stderr
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert GATED_TOKEN.encode() not in f.read_bytes()
    without = _python(
        code,
        {
            **env,
            "HF_TOKEN_PATH": str(tmp_path / "none"),
            "HUB_ASSETS_CACHE_DIR": str(tmp_path / "c2"),
        },
    )
    assert without.returncode != 0  # no token: the gated config stays closed


def test_score_works_offline_after_the_pipeline_has_run(mutable_hub, registry, tmp_path):
    """The pipeline caches by sha; `score` asks for main, and falls back to the registry's."""
    client = HubClient(HubSettings(endpoint=mutable_hub.url, cache_dir=tmp_path / "cache"))
    discover(client, registry, run_id="d", pipeline_tags=["text-generation"])
    with registry.read() as con:
        sha, seen = last_known_revision(con, "acme/small")
    client.model_metadata("acme/small", revision=sha)  # what model_metadata does
    mutable_hub.stop()
    env = {
        "HUB_ASSETS_HUB_ENDPOINT": mutable_hub.url,
        "HUB_ASSETS_REGISTRY": str(registry.path),
        "HUB_ASSETS_CACHE_DIR": str(tmp_path / "cache"),
        "HUB_ASSETS_WORK_DIR": str(tmp_path / "work"),
    }
    result = CliRunner().invoke(main, ["score", "acme/small", "--no-reproducibility"], env=env)
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["name"] == "acme/small" and "performance_claims" in line
    assert f"offline: using cached revision {sha[:7]} from {seen[:10]}" in result.stderr
    other = CliRunner().invoke(main, ["score", "acme/other"], env=env)
    assert other.exit_code == 1
    assert "No cached metadata for model 'acme/other'" in other.stderr


def test_hf_hub_offline_means_cache_only(mutable_hub, tmp_path):
    settings = HubSettings(endpoint=mutable_hub.url, cache_dir=tmp_path)
    HubClient(settings).model_metadata("acme/small")
    mutable_hub.reset_requests()
    offline = HubClient(HubSettings(endpoint=mutable_hub.url, cache_dir=tmp_path, offline=True))
    offline.settings.cache_ttl_s = 0  # even a stale entry is served, and nothing is asked
    got = offline.model_metadata("acme/small")
    assert got.offline and got.data["info"]["license"] == "mit"
    with pytest.raises(OfflineCacheMissError, match="is not asked \\(HF_HUB_OFFLINE=1\\)"):
        offline.model_metadata("acme/other")
    assert mutable_hub.requests["total"] == 0
    env = dict(os.environ, HF_HUB_OFFLINE="1", HUB_ASSETS_HUB_ENDPOINT=mutable_hub.url)
    env.update(HUB_ASSETS_CACHE_DIR=str(tmp_path), HUB_ASSETS_CACHE_TTL_HOURS="0")
    got = _python(
        "from hub_assets.pipeline.context import Pipeline\n"
        "from hub_assets.settings import load_settings\n"
        "print(Pipeline.from_settings(load_settings()).client().model_metadata('acme/small').offline)",
        env,
    )
    assert got.stdout.strip() == "True", got.stderr
    assert mutable_hub.requests["total"] == 0


def test_a_429_storm_with_ratelimit_headers_ends_in_a_clear_message(hub_server, tmp_path):
    hub_server.add_fault(
        "status",
        status=429,
        retry_after=0,
        route=r"^/api/models/hub-assets-demo/tiny-t5-qa$",
        headers={
            "RateLimit": '"api";r=0;t=0',
            "RateLimit-Policy": '"fixed window";"api";q=1000;w=300',
        },
        times=None,
    )
    client = HubClient(HubSettings(endpoint=hub_server.url, cache_dir=tmp_path, max_retries=2))
    with pytest.raises(RateLimitedError) as err:
        client.model_metadata(f"{ORG}/tiny-t5-qa")
    message = str(err.value)
    assert "kept answering 429" in message and "after 2 retries" in message
    assert "0 left of 1000 requests per 300 s" in message and "HUB_ASSETS_HUB_RATE_LIMIT" in message
    assert hub_server.requests["GET /api/models/{id}"] == 3


def test_retry_delays_follow_the_hub_with_jitter():
    reset = [retry_delay(429, {"RateLimit": '"api";r=0;t=7'}, 0, 60) for _ in range(20)]
    assert all(7 <= d <= 7.7 for d in reset) and len(set(reset)) > 1
    after = retry_delay(503, {"Retry-After": "3"}, 4, 60)
    assert 3 <= after <= 3.3
    backoff = [retry_delay(503, {}, 3, 60) for _ in range(20)]
    assert all(4 <= d <= 8 for d in backoff) and len(set(backoff)) > 1
    assert retry_delay(429, {"Retry-After": "3600"}, 0, 60) == 60  # capped
