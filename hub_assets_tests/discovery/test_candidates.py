"""Discovery against the Hub server: filters, incremental rescans, changes, offline."""

import pytest

from hub_assets.devhub.demo_catalog import MINILM, ORG
from hub_assets.devhub.server import HubServer
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.pipeline.discover import candidate_filter_from, discover
from hub_assets.registry import models as reg

GGUF_REASONS = "library gguf not in transformers, sentence-transformers; no safetensors weights"
FILTERED = {
    f"{ORG}/tiny-gpt2-gpl": "license gpl-3.0 not in allowlist",
    f"{ORG}/tiny-gpt2-no-license": "no license declared",
    f"{ORG}/tiny-gpt2-pickle-only": "no safetensors weights",
    f"{ORG}/tiny-gpt2-malicious-pickle": "no safetensors weights",
    f"{ORG}/tiny-gpt2-noncommercial": "license cc-by-nc-4.0 not in allowlist",
    # GGUF and PEFT repos are taken only when configured (docs/hardware.md)
    f"{ORG}/tiny-llama-GGUF": GGUF_REASONS,
    f"{ORG}/tiny-llama-Q8_0-GGUF": GGUF_REASONS,
    f"{ORG}/tiny-llama-malformed-GGUF": GGUF_REASONS,
    f"{ORG}/tiny-llama-lora": "library peft not in transformers, sentence-transformers",
}


def test_each_demo_model_lands_where_it_should(discovered):
    registry, outcome = discovered
    assert not outcome.offline
    with registry.read() as con:
        status = dict(con.execute("SELECT model_id, status FROM v_model_status").fetchall())
        reasons = dict(
            con.execute(
                "SELECT model_id, reason FROM v_model_status WHERE status = 'filtered_out'"
            ).fetchall()
        )
        events = con.execute(
            "SELECT status FROM model_status_events WHERE model_id = ? ORDER BY event_id", [MINILM]
        ).fetchall()
        runs = {r for (r,) in con.execute("SELECT DISTINCT run_id FROM models").fetchall()}
        row = con.execute(
            "SELECT license, library_name, downloads, has_safetensors, tags "
            "FROM models WHERE model_id = ?",
            [MINILM],
        ).fetchone()
    assert len(status) == 26
    assert reasons == FILTERED
    assert {m for m, s in status.items() if s == "candidate"} == set(status) - set(FILTERED)
    assert events == [("discovered",), ("candidate",)]
    assert runs == {"run-discovery-1"}
    assert row[:4] == ("apache-2.0", "sentence-transformers", 92_184_311, True)
    assert "sentence-similarity" in row[4]
    counts = outcome.counts()
    assert counts["new"] == 26 and counts["new_candidates"] == 17 and counts["filtered_out"] == 9
    gpl = next(r for r in outcome.changes() if r["model"] == f"{ORG}/tiny-gpt2-gpl")
    assert gpl["change"] == "new" and gpl["status"] == "filtered_out"
    assert gpl["reason"].startswith("license gpl-3.0 not in allowlist")


def test_rescan_with_nothing_changed_costs_one_page_per_tag(discovered, hub_client, hub_server):
    registry, _ = discovered
    hub_server.reset_requests()
    again = discover(hub_client, registry, run_id="run-2")
    assert again.counts()["new"] == 0 and again.counts()["changed"] == 0
    assert hub_server.requests["total"] == 5, dict(hub_server.requests)  # one page per tag
    with registry.read() as con:
        assert con.execute(
            "SELECT count(*) FROM model_status_events WHERE run_id = 'run-2'"
        ).fetchone() == (0,)
        scans = con.execute("SELECT pages FROM discovery_scans WHERE run_id = 'run-2'").fetchall()
    assert scans == [(1,)] * 5


def test_filters_are_configurable(hub_client, registry):
    strict = candidate_filter_from(min_downloads=10_000, min_likes=100)
    outcome = discover(
        hub_client, registry, run_id="r", candidate_filter=strict, pipeline_tags=["text-generation"]
    )
    assert set(outcome.candidates) == {  # 48k downloads, 312 likes; 15k, 120
        f"{ORG}/tiny-gpt2-complete",
        f"{ORG}/tiny-llama",
    }
    assert outcome.result.models[f"{ORG}/gpt2-oversized"].reasons == ["likes 88 < 100"]
    low = outcome.result.models[f"{ORG}/tiny-gpt2-stale"]
    assert low.reasons == ["downloads 610 < 10000", "likes 3 < 100"]


@pytest.mark.parametrize(
    ("license_", "ok"),
    [
        ("apache-2.0", True),
        ("MIT", True),
        ("openrail", True),
        ("creativeml-openrail-m", True),
        ("bigscience-openrail-m", True),
        ("openrail++", True),
        ("gpl-3.0", False),
        ("cc-by-nc-4.0", False),
        (None, False),
    ],
)
def test_license_allowlist_with_openrail_variants(license_, ok):
    model = {"license": license_, "library_name": "transformers", "has_safetensors": True}
    assert (candidate_filter_from().reasons(model) == []) is ok


def test_a_new_revision_is_detected_and_requeued(mutable_hub, registry, tmp_path):
    client = HubClient(
        HubSettings(requests_per_second=0, endpoint=mutable_hub.url, cache_dir=tmp_path / "c")
    )
    first = discover(client, registry, run_id="r1", pipeline_tags=["text-generation"])
    old_sha = first.candidates["acme/small"]
    new = mutable_hub.catalog.commit(
        "model",
        "acme/small",
        {"config.json": b"{}"},
        authors=["bob"],
        title="update",
        date="2026-03-01T00:00:00Z",
    )
    second = discover(client, registry, run_id="r2", pipeline_tags=["text-generation"])
    assert second.counts()["changed"] == 1 and second.candidates == {"acme/small": new.sha}
    with registry.read() as con:
        history = reg.status_history(con, "acme/small")
    assert [h[1] for h in history] == ["discovered", "candidate", "discovered", "candidate"]
    assert history[2][2] == f"new revision {new.sha} (was {old_sha})"
    assert history[3][3] == new.sha and history[3][4] == "r2"


def test_rescan_stops_at_the_first_page_with_nothing_new(demo_catalog, registry, tmp_path):
    with HubServer(demo_catalog, synthetic=3_000) as server:
        client = HubClient(
            HubSettings(requests_per_second=0, endpoint=server.url, cache_dir=tmp_path / "c")
        )
        full = discover(
            client, registry, run_id="r1", pipeline_tags=["text-generation"], page_size=200
        )
        pages_full = full.result.tags[0].pages
        assert pages_full >= 3
        server.reset_requests()
        again = discover(
            client, registry, run_id="r2", pipeline_tags=["text-generation"], page_size=200
        )
        assert again.result.tags[0].pages == 1 and again.counts()["new"] == 0
        forced = discover(
            client,
            registry,
            run_id="r3",
            pipeline_tags=["text-generation"],
            page_size=200,
            full=True,
        )
        assert forced.result.tags[0].pages == pages_full


def test_offline_discovery_keeps_the_registry_and_says_so(discovered, tmp_path):
    from hub_assets_tests.conftest import free_port

    registry, first = discovered
    dead = HubClient(
        HubSettings(
            requests_per_second=0,
            endpoint=f"http://127.0.0.1:{free_port()}",
            cache_dir=tmp_path / "c",
        )
    )
    outcome = discover(dead, registry, run_id="offline-run")
    assert outcome.offline and outcome.candidates == first.candidates
    with registry.read() as con:
        assert con.execute(
            "SELECT count(*) FROM model_status_events WHERE run_id = 'offline-run'"
        ).fetchone() == (0,)
