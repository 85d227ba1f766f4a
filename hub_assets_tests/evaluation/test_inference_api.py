"""Shadow evaluation through the inference API: the same scores as locally, misses within
the latency budget, the breaker on a 429 storm, and the client-side quota under a burst.

Rates and counts are measured on the server side (its request counts), never by timing the
test.
"""

from dataclasses import replace
from pathlib import Path

import pytest

from hub_assets.devhub.demo_catalog import MINILM, ORG, QA_MODEL
from hub_assets.evaluation.api_budget import ApiSession, Breaker, Clock, requested_pause
from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.datasets import DEFAULT_PINS, cache_dataset
from hub_assets.evaluation.inference_api import (
    InferenceApiBackend,
    router_for,
)
from hub_assets.evaluation.shadow import evaluate_qa, evaluate_retrieval
from hub_assets.metrics.scoring import cleared_snapshot
from hub_assets_tests.setting_defaults import API, BUDGET

QA_PIN, HELD_OUT_QA_PIN, RETRIEVAL_PIN = DEFAULT_PINS
GPT2 = f"{ORG}/tiny-gpt2-complete"
ROUTE = "^/hf-inference/models/"
# No quota and a budget no loaded CPU misses: for comparing scores, not latency.
UNHURRIED = replace(BUDGET, p95_ms=60_000, median_ms=60_000, per_minute=0, per_hour=0)
# Scores through the API equal the local ones within this (documented in docs/evaluation.md):
# the server answers one sample per request, locally samples are batched with padding.
TOLERANCE = 0.02


def api_backend(url, model_id, task, budget=UNHURRIED):
    config = replace(API, base_url=url, budget=budget)
    session = ApiSession(budget)
    return InferenceApiBackend(model_id, task, config, session), session


def local_snapshot(client, model_id, tmp_path):
    return cleared_snapshot(client, model_id, tmp_path / "snap")


@pytest.mark.parametrize(
    ("model_id", "task"),
    [(QA_MODEL, "question-answering"), (GPT2, "text-generation")],
)
def test_qa_scores_through_the_api_equal_the_local_ones(
    hub_server, hub_client, tmp_path, model_id, task
):
    data = cache_dataset(QA_PIN, hub_server.url, tmp_path / "eval")
    config = GenerationConfig(batch_size=16)
    local = evaluate_qa(local_snapshot(hub_client, model_id, tmp_path), task, data, config, 40)
    backend, session = api_backend(hub_server.url, model_id, task)
    remote = evaluate_qa(None, task, data, config, 40, api=backend)
    assert remote.backend == "inference_api" and remote.coverage == 1.0
    assert {s["backend"] for s in remote.samples} == {"inference_api"}
    for metric in ("f1", "exact_match"):
        assert remote.scores[metric] == pytest.approx(local.scores[metric], abs=TOLERANCE)
    assert remote.baseline == local.baseline
    assert hub_server.state.requests["POST inference"] == 40  # one request per question
    figures = session.summary()
    assert figures["answered"] == 40 and figures["misses"] == 0
    assert figures["p50_ms"] <= figures["p95_ms"]


@pytest.mark.slow
def test_retrieval_scores_through_the_api_equal_the_local_ones(hub_server, hub_client, tmp_path):
    data = cache_dataset(RETRIEVAL_PIN, hub_server.url, tmp_path / "eval")
    config = GenerationConfig(batch_size=32)
    local = evaluate_retrieval(local_snapshot(hub_client, MINILM, tmp_path), data, config, 30)
    backend, _ = api_backend(hub_server.url, MINILM, "sentence-similarity")
    remote = evaluate_retrieval(None, data, config, 30, api=backend)
    assert remote.coverage == 1.0
    assert remote.scores["ndcg_at_10"] == pytest.approx(local.scores["ndcg_at_10"], abs=TOLERANCE)
    assert remote.scores["ndcg_at_10"] > 0.5  # the real encoder, served


def test_latency_over_the_budget_is_a_miss_never_a_wrong_answer(hub_server, tmp_path):
    data = cache_dataset(QA_PIN, hub_server.url, tmp_path / "eval")
    budget = replace(
        BUDGET, p95_ms=1_500, median_ms=1_000, per_minute=0, per_hour=0, breaker_misses=0
    )
    backend, session = api_backend(hub_server.url, QA_MODEL, "question-answering", budget)
    # the first request is the warm-up (its own timeout); the next three come too late
    hub_server.add_fault("slow", route=ROUTE, delay_s=2.0, times=4)
    result = evaluate_qa(None, "question-answering", data, GenerationConfig(), 12, api=backend)
    missed = [s for s in result.samples if s["error"]]
    assert len(missed) == 3
    assert all(s["error"].startswith("miss:") and s["scores"] == {} for s in missed)
    assert result.coverage == pytest.approx(9 / 12)
    figures = session.summary()
    assert figures["misses"] == 3 and figures["answered"] == 9
    assert figures["p95_ms"] is not None and figures["p95_ms"] <= 1_500
    assert hub_server.state.requests["POST inference"] == 12  # a miss is not retried


def test_a_429_storm_trips_the_breaker_and_the_model_is_not_measured(
    hub_server, hub_client, registry, tmp_path
):
    from hub_assets.hub.snapshots import SnapshotStore
    from hub_assets.pipeline.evaluate import run_shadow_evaluation

    _metadata(hub_server, registry, tmp_path, QA_MODEL)
    hub_server.add_fault("status", route=ROUTE, status=429, retry_after=30, times=None)
    budget = replace(BUDGET, per_minute=0, per_hour=0, cooldown_s=30, run_budget_s=5)
    outcome = run_shadow_evaluation(
        QA_MODEL,
        client=hub_client,
        registry=registry,
        snapshots=SnapshotStore(tmp_path / "snapshots"),
        pins=DEFAULT_PINS,
        cache_dir=Path(tmp_path / "eval"),
        config=GenerationConfig(),
        sample_limit=20,
        max_weight_bytes=10**9,
        run_id="r",
        regression_alpha=0.05,
        regression_min_samples=30,
        api=replace(API, base_url=hub_server.url, budget=budget, models=(QA_MODEL,)),
    )
    assert outcome.status == "not_measured" and outcome.coverage == 0.0
    assert "0 of 20 samples" in outcome.reason and "bypassed" in outcome.reason
    assert outcome.api["rate_limited"] == 1 and outcome.api["breaker_trips"] == 1
    assert outcome.api["bypassed"] == 19
    assert hub_server.state.requests["POST inference"] == 1  # the breaker stopped calling
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM eval_runs").fetchone()[0] == 0
        assert (
            con.execute(
                "SELECT count(*) FROM metric_values WHERE metric LIKE 'shadow_%'"
            ).fetchone()[0]
            == 0
        )  # nothing measured: the gate judges the card, the model is not failed
        row = con.execute("SELECT coverage, samples, reason FROM eval_unmeasured").fetchone()
    assert row[0] == 0.0 and row[1] == 20 and "not measured" in row[2]


def test_the_client_side_quota_holds_under_a_burst(hub_server, tmp_path):
    data = cache_dataset(QA_PIN, hub_server.url, tmp_path / "eval")
    budget = replace(BUDGET, p95_ms=60_000, per_minute=5, per_hour=100, run_budget_s=30)
    backend, session = api_backend(hub_server.url, QA_MODEL, "question-answering", budget)
    result = evaluate_qa(None, "question-answering", data, GenerationConfig(), 20, api=backend)
    assert hub_server.state.requests["POST inference"] == 5  # counted by the server
    assert result.coverage == pytest.approx(5 / 20)
    bypassed = [s["error"] for s in result.samples if s["error"]]
    assert len(bypassed) == 15 and all("quota" in e for e in bypassed)
    assert session.summary()["bypassed"] == 15


def test_ratelimit_headers_and_retry_after_pause_the_client(hub_server):
    budget = replace(BUDGET, per_minute=0, per_hour=0, cooldown_s=1, run_budget_s=5)
    backend, session = api_backend(hub_server.url, MINILM, "feature-extraction", budget)
    hub_server.add_fault(
        "status",
        route=ROUTE,
        status=429,
        retry_after=2,
        headers={
            "RateLimit": '"api";r=0;t=45',
            "RateLimit-Policy": '"fixed window";"api";q=10;w=60',
        },
    )
    rows, missing, problems = backend.embed(["a", "b"])
    assert missing == {0, 1} and problems[0] == "bypassed: rate limited (429)"
    # the API asked for 45 s (RateLimit); more than Retry-After and the 1 s cool-down
    assert session.quota.paused_until - session.clock.now() > 40
    assert session.breaker.open_until - session.clock.now() > 40
    assert hub_server.state.requests["POST inference"] == 1


def test_requested_pause_reads_retry_after_and_ratelimit():
    assert requested_pause({"Retry-After": "12"}) == 12
    assert requested_pause({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert requested_pause({"ratelimit": '"api";r=0;t=55'}) == 55
    assert requested_pause({"ratelimit": '"api";r=3;t=55'}) is None  # quota left
    assert requested_pause({"Retry-After": "-1"}) is None


def test_the_breaker_opens_after_misses_in_a_row_and_a_success_resets_it():
    now = [100.0]
    clock = Clock(now=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    breaker = Breaker(misses=3, cooldown_s=60, clock=clock)
    breaker.miss("budget misses")
    breaker.miss("budget misses")
    breaker.success()
    breaker.miss("budget misses")
    breaker.miss("budget misses")
    assert breaker.trips == 0 and breaker.open_until == 0
    breaker.miss("budget misses")
    assert breaker.trips == 1 and breaker.open_until == 160
    assert breaker.reason == "3 budget misses in a row"


def _metadata(hub_server, registry, tmp_path, model_id):
    """The model's metadata and security verdict in the registry, as the pipeline's first
    assets record them."""
    import dagster as dg

    from hub_assets.defs.discovery.assets import model_metadata
    from hub_assets.defs.trust.security import security_scan
    from hub_assets.hub.client import HubClient, HubSettings
    from hub_assets.pipeline.discover import discover
    from hub_assets_tests.pipeline_resource import pipeline_resources

    client = HubClient(
        HubSettings(requests_per_second=0, endpoint=hub_server.url, cache_dir=tmp_path / "c")
    )
    discover(client, registry, run_id="d")
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [model_id])
        dg.materialize(
            [model_metadata, security_scan],
            partition_key=model_id,
            instance=instance,
            resources=pipeline_resources(
                hub_server.url, registry, tmp_path, work_dir=str(tmp_path)
            ),
        )


def test_the_oversized_model_is_evaluated_through_the_api_by_the_pipeline(
    hub_server, hub_client, registry, tmp_path
):
    import dagster as dg
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from hub_assets.defs.discovery.assets import model_metadata
    from hub_assets.defs.evaluation.assets import eval_datasets, leaderboard, shadow_eval_scores
    from hub_assets.defs.trust.security import security_scan
    from hub_assets.pipeline.discover import discover
    from hub_assets.service.prometheus import RegistryCollector
    from hub_assets_tests.pipeline_resource import pipeline_resources

    discover(hub_client, registry, run_id="d")
    big = f"{ORG}/gpt2-oversized"
    # the router defaults to the Hub's own endpoint when it is not huggingface.co
    res = pipeline_resources(
        hub_server.url,
        registry,
        tmp_path,
        inference_api_per_minute=0,
        inference_api_per_hour=0,
        inference_api_p95_ms=30_000,
        inference_api_samples=30,
    )
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [big])
        assert dg.materialize([eval_datasets], instance=instance, resources=res).success
        run = dg.materialize(
            [model_metadata, security_scan, shadow_eval_scores],
            partition_key=big,
            instance=instance,
            resources=res,
        )
        meta = run.asset_materializations_for_node("shadow_eval_scores")[0].metadata
        assert meta["outcome"].value == "evaluated" and meta["backend"].value == "inference_api"
        assert meta["coverage"].value == 1.0 and meta["api_requests"].value == 30
        assert meta["api_p95_ms"].value >= meta["api_p50_ms"].value > 0
        assert meta["api_misses"].value == 0 and meta["api_within_budget"].value is True
        board = dg.materialize([leaderboard], instance=instance, resources=res)
        table = board.asset_materializations_for_node("leaderboard")[0].metadata["leaderboard"]
        rows = {r.data["model_id"]: r.data for r in table.value.records}
        assert rows[big]["backend"] == "inference_api"
    # 30 questions on each of the two QA sets
    assert hub_server.state.requests["POST inference"] == 60
    with registry.read() as con:
        details = con.execute(
            "SELECT details FROM metric_values WHERE model_id = ? AND metric = 'shadow_f1'", [big]
        ).fetchone()[0]
        backends = con.execute("SELECT DISTINCT backend FROM eval_samples").fetchall()
    assert '"backend": "inference_api"' in details and '"coverage": 1.0' in details
    assert backends == [("inference_api",)]
    prom = CollectorRegistry()
    prom.register(RegistryCollector(registry))
    text = generate_latest(prom).decode()
    assert 'hub_assets_inference_api_requests_total{outcome="answered"} 60.0' in text
    assert f'hub_assets_inference_api_latency_seconds{{model_id="{big}",quantile="0.95"}}' in text


def test_offline_an_api_evaluation_is_not_attempted(hub_server, hub_client, registry, tmp_path):
    from hub_assets.hub.snapshots import SnapshotStore
    from hub_assets.pipeline.evaluate import run_shadow_evaluation

    big = f"{ORG}/gpt2-oversized"
    _metadata(hub_server, registry, tmp_path, big)
    hub_server.reset_requests()
    outcome = run_shadow_evaluation(
        big,
        client=hub_client,
        registry=registry,
        snapshots=SnapshotStore(tmp_path / "snapshots"),
        pins=DEFAULT_PINS,
        cache_dir=Path(tmp_path / "eval"),
        config=GenerationConfig(),
        sample_limit=None,
        max_weight_bytes=10**9,
        run_id="r",
        regression_alpha=0.05,
        regression_min_samples=30,
        offline=True,
        api=replace(API, base_url=hub_server.url),
    )
    assert outcome.status == "not_evaluated"
    assert (
        "HF_HUB_OFFLINE=1" in outcome.reason and "exceed the 1.0 GB local limit" in outcome.reason
    )
    assert hub_server.state.requests["total"] == 0
    off = replace(API, base_url=hub_server.url, mode="off", models=(big,))
    assert not off.chosen_for(big, True)
    assert router_for("https://huggingface.co/") == "https://router.huggingface.co"
    assert router_for(hub_server.url) == hub_server.url  # another Hub serves the routes
    listed = replace(API, models=(QA_MODEL.upper(),))
    assert listed.chosen_for(QA_MODEL, False) and not listed.chosen_for(MINILM, False)


def test_inference_api_settings_are_validated(monkeypatch):
    from hub_assets.errors import SettingsError
    from hub_assets.settings import load_settings

    monkeypatch.setenv("HUB_ASSETS_INFERENCE_API_URL", "router.example")
    with pytest.raises(SettingsError) as e:
        load_settings()
    assert "HUB_ASSETS_INFERENCE_API_URL='router.example'" in str(e.value)
    monkeypatch.setenv("HUB_ASSETS_INFERENCE_API_URL", "https://router.example/")
    monkeypatch.setenv("HUB_ASSETS_INFERENCE_API_MODELS", "acme/a, acme/b")
    monkeypatch.setenv("HUB_ASSETS_INFERENCE_API_MIN_COVERAGE", "0.5")
    s = load_settings()
    assert s.inference_api_url == "https://router.example"
    assert s.inference_api_models == ["acme/a", "acme/b"] and s.inference_api_min_coverage == 0.5
    monkeypatch.setenv("HUB_ASSETS_INFERENCE_API_MIN_COVERAGE", "1.5")
    with pytest.raises(SettingsError, match="HUB_ASSETS_INFERENCE_API_MIN_COVERAGE"):
        load_settings()
