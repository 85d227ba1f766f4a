"""A repo deleted upstream: a 404 for the repo of a model the registry knows records it as
deleted (its health: at risk, with the date); the model seen again clears it; an unknown
model's 404 records nothing."""

import pytest

from hub_assets.errors import ModelNotFoundError, RepoNotFoundError
from hub_assets.gate.config import load_gate_config
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.pipeline.health import HealthPolicy, health_report
from hub_assets.pipeline.metadata import record_metadata
from hub_assets_tests.conftest import record_pass

MODEL = "acme/small"


def _judged(registry, sha: str) -> None:
    with registry.write() as con:
        record_pass(con, MODEL, sha)


def _health(registry) -> tuple[str, str]:
    [one] = health_report(registry, load_gate_config(), HealthPolicy(7, 24))
    return one.health, one.reason


def test_a_repo_gone_from_the_hub_is_at_risk_until_it_is_seen_again(
    mutable_hub, registry, tmp_path
):
    client = HubClient(
        HubSettings(endpoint=mutable_hub.url, cache_dir=tmp_path / "cache", requests_per_second=0)
    )
    sha = record_metadata(client, registry, MODEL, "r1").sha
    _judged(registry, sha)
    assert _health(registry) == ("ok", "current")

    files = {"config.json": b'{"model_type": "gpt2"}'}
    mutable_hub.catalog.delete_repo("model", MODEL)
    with pytest.raises(RepoNotFoundError):
        record_metadata(client, registry, MODEL, "r2", resolve_latest=True)
    health, why = _health(registry)
    assert health == "at_risk" and why.startswith("upstream repo deleted on the Hub (20"), why

    # a 404 for a model the registry never knew records nothing
    with pytest.raises(ModelNotFoundError):
        record_metadata(client, registry, "acme/never-there", "r2")
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM models").fetchone()[0] == 1

    # back on the Hub (a new revision): seen again, the flag is cleared
    mutable_hub.catalog.commit("model", MODEL, files, authors=["alice"], title="back")
    again = record_metadata(client, registry, MODEL, "r3", resolve_latest=True)
    _judged(registry, again.sha)
    assert _health(registry) == ("ok", "current")
