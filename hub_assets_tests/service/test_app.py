"""The registry service on a real uvicorn over loopback, driven with httpx: the seed's
workflow, permissions, approvals, bad input, Prometheus and the audit log."""

import hashlib
import io
import math
import re
import shutil
import subprocess
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
import uvicorn
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError
from prometheus_client.parser import text_string_to_metric_families

from hub_assets.cli.instance import ensure_dagster_home
from hub_assets.devhub.demo_catalog import MINILM, ORG, QA_MODEL
from hub_assets.errors import InvalidIdentityError
from hub_assets.pipeline.context import Pipeline
from hub_assets.pipeline.identity import INVALID_TOKEN, Identity
from hub_assets.registry.identity import audit_events
from hub_assets.registry.models import status_history
from hub_assets.registry.store import Registry
from hub_assets.service.app import create_app, server_config
from hub_assets.service.schemas import PackagePage
from hub_assets.settings import load_settings
from hub_assets_tests import loopback
from hub_assets_tests.conftest import free_port, pipeline_env, reload_definitions

ADMIN_PASSWORD = "correct horse battery staple"
PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def service(_hub_server_session, tmp_path_factory):
    """The service on a free port, over a fresh registry and the demo Hub, with users
    `uploader` (upload), `reader` (read), `approver` (approve) and the admin."""
    tmp = tmp_path_factory.mktemp("service")
    registry = Registry(tmp / "registry.duckdb")
    with pipeline_env(_hub_server_session.url, registry, tmp):
        settings = load_settings()
        ensure_dagster_home(settings)  # as `hub-assets serve` does
        store = Pipeline.from_settings(settings).package_store()
        app = create_app(settings, registry, store)
        identity: Identity = app.state.identity
        assert identity.ensure_admin(ADMIN_PASSWORD) is None  # a given password: not echoed
        for name, perms in (
            ("uploader", ["upload"]),
            ("reader", ["read"]),
            ("approver", ["approve"]),
        ):
            identity.add_user(name, perms, PASSWORD)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        while not server.started:
            time.sleep(0.05)
        try:
            yield url, registry, identity
        finally:
            server.should_exit = True
            thread.join(10)


def login(url: str, user: str, password: str = PASSWORD) -> dict:
    # argon2 on a loaded 2-core machine: httpx's 5 s default is not the contract under test
    r = loopback.post(
        f"{url}/authenticate", json={"username": user, "password": password}, timeout=60
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="module")
def ingested(service):
    """The seed's workflow: authenticate, ingest (in-process: no daemon), answer 200."""
    url, registry, _ = service
    up = login(url, "uploader")
    r = loopback.post(
        f"{url}/package/ingest-huggingface", json={"model_id": QA_MODEL}, headers=up, timeout=600
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.slow
def test_a_store_that_fails_answers_502_and_keeps_nothing(service, tmp_path, monkeypatch):
    """First in the module, before anything packages MiniLM."""
    url, registry, _ = service
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the package store's folder should be")
    monkeypatch.setenv("HUB_ASSETS_PACKAGE_STORE", str(blocker / "packages"))
    reload_definitions()
    try:
        up = login(url, "uploader")
        r = loopback.post(
            f"{url}/package/ingest-huggingface", json={"model_id": MINILM}, headers=up, timeout=600
        )
    finally:
        monkeypatch.undo()
        reload_definitions()
    assert r.status_code == 502 and r.json()["outcome"] == "storage_failed", r.text
    with registry.read() as con:
        assert con.execute(
            "SELECT count(*) FROM packages WHERE model_id = ?", [MINILM]
        ).fetchone() == (0,)


@pytest.mark.slow
def test_the_seed_workflow_end_to_end(service, ingested):
    url, registry, _ = service
    body = ingested
    assert body["model_id"] == QA_MODEL and body["version"] == "1.0.0"
    assert body["s3_path"].endswith("package.zip") and body["net_score"] > 0.5
    assert body["metrics"]["reproducibility"] == 1.0
    read = login(url, "reader")
    listed = loopback.get(f"{url}/packages", params={"model_id": QA_MODEL}, headers=read).json()
    assert listed["total"] == 1 and listed["items"][0]["package_id"] == body["package_id"]
    got = loopback.get(f"{url}/packages/{body['package_id']}/download", headers=read)
    assert got.status_code == 200 and got.headers["etag"] == f'"{body["sha256"]}"'
    assert hashlib.sha256(got.content).hexdigest() == body["sha256"]
    part = loopback.get(
        f"{url}/packages/{body['package_id']}/download", headers={**read, "Range": "bytes=100-199"}
    )
    assert part.status_code == 206 and part.content == got.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(got.content)}"
    bundle = loopback.get(f"{url}/packages/{body['package_id']}/bundle", headers=read)
    assert bundle.status_code == 200 and "bundle.zip" in bundle.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
        assert z.namelist() == ["package.zip", "proof/attestation.dsse.json", "proof/bom.cdx.json"]
        assert z.read("package.zip") == got.content  # unsigned: no signing key configured
    assert loopback.get(f"{url}/packages/{body['package_id']}/bundle").status_code == 401
    model = loopback.get(f"{url}/models/{QA_MODEL}", headers=read).json()
    assert model["status"] == "ingested" and model["gate"]["passed"] is True
    chain = model["licence_chain"]  # no base model: its own licence only
    assert chain["passed"] and chain["chain"] == f"{QA_MODEL} (apache-2.0)"
    assert chain["obligations"] == {"attribution": [QA_MODEL], "notice": [QA_MODEL]}
    # the QA model trains on the demo QA set: its scores there are set aside, the held-out
    # set's are the evidence, and the gate's message says so
    sets = {e["dataset"]: (e["contamination"], e["role"]) for e in model["evaluation_sets"]}
    assert sets == {
        "hub-assets-demo/fictional-towns-qa": ("declared_overlap", "set aside (contaminated)"),
        "hub-assets-demo/held-out-towns-qa": ("zero_shot", "evidence"),
    }
    assert (
        "set aside as training data: hub-assets-demo/fictional-towns-qa"
        in (model["gate"]["message"])
    )
    metrics = loopback.get(f"{url}/models/{QA_MODEL}/metrics", headers=read).json()["metrics"]
    assert {m["metric"] for m in metrics} >= {"license", "net_score"}
    assert all(m["fingerprint"] and m["code_version"] and m["run_id"] for m in metrics)
    scrape = text_string_to_metric_families(loopback.get(f"{url}/metrics").text)
    traffic = {
        f.name: {s.labels["stage"]: s.value for s in f.samples}
        for f in scrape
        if f.name.startswith("hub_assets_hub_")
    }
    assert traffic["hub_assets_hub_requests"]["metadata"] >= 1
    assert sum(traffic["hub_assets_hub_downloaded_bytes"].values()) > 400_000  # the weights
    assert sum(traffic["hub_assets_hub_rate_limited"].values()) == 0


def test_samples_without_sql(service, ingested):
    url, _, _ = service
    read = login(url, "reader")
    r = loopback.get(f"{url}/models/{QA_MODEL}/samples", params={"worst": 4}, headers=read)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_id"] == QA_MODEL and body["revision_sha"] == ingested["revision"]
    assert len(body["rows"]) == 4 and body["total"] > 4
    scores = [row["score"] for row in body["rows"]]
    assert scores == sorted(scores)
    assert all(row["input"] and row["reference"] for row in body["rows"])
    missing = loopback.get(f"{url}/models/nobody/nothing/samples", headers=read)
    assert missing.status_code == 404 and missing.json()["detail"] == (
        "Model 'nobody/nothing' is not in the registry."
    )
    assert loopback.get(f"{url}/models/{QA_MODEL}/samples").status_code == 401
    assert (
        loopback.get(f"{url}/models/{QA_MODEL}/samples", params={"worst": -1}, headers=read)
    ).status_code == 422


@pytest.mark.slow
def test_ingestion_outcomes_as_http_statuses(service, ingested):
    url, registry, _ = service
    up = login(url, "uploader")

    def ingest(model_id: str) -> httpx.Response:
        return loopback.post(
            f"{url}/package/ingest-huggingface",
            json={"model_id": model_id},
            headers=up,
            timeout=600,
        )

    with registry.read() as con:
        before = status_history(con, QA_MODEL)
    again = ingest(QA_MODEL)  # the docs' own example, posted again: idempotent
    assert again.status_code == 200 and again.json()["outcome"] == "already_packaged"
    assert again.json()["package_id"] == ingested["package_id"]
    with registry.read() as con:
        after = status_history(con, QA_MODEL)
        assert con.execute(
            "SELECT count(*) FROM packages WHERE model_id = ?", [QA_MODEL]
        ).fetchone() == (1,)
    assert [h[1] for h in after] == [h[1] for h in before]  # still `ingested`
    other = loopback.post(
        f"{url}/package/ingest-huggingface",
        json={"model_id": QA_MODEL, "version": "9.9.9"},
        headers=up,
        timeout=600,
    )
    assert other.status_code == 409 and other.json()["outcome"] == "already_exists"
    assert "already packaged" in other.json()["detail"] and "/" not in other.json()["detail"][:8]
    missing = ingest("nobody/nothing")
    assert missing.status_code == 404
    assert "Model 'nobody/nothing' not found on the Hub" in missing.json()["detail"]
    gate = ingest(f"{ORG}/tiny-gpt2-stale")
    assert gate.status_code == 400
    assert gate.json()["detail"].startswith("Model does not meet quality requirements.")


@pytest.mark.slow
def test_concurrent_duplicate_ingests_make_one_package(service):
    """Two /artifact/ingest calls for the same model at once (same automatic version): one
    201 with every score, one duplicate, one package."""
    url, registry, _ = service
    up = login(url, "uploader")
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda _: loopback.post(
                    f"{url}/artifact/ingest",
                    json={"url": f"https://huggingface.co/{MINILM}"},
                    headers=up,
                    timeout=600,
                ),
                range(2),
            )
        )
    # one made it, the other answers with the same package
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert len({a.json()["artifact_id"] for a in answers}) == 1
    created = next(a.json() for a in answers if a.status_code == 201)
    assert created["model_name"] == MINILM and created["is_ingestible"] is True
    assert created["all_scores"]["license"] == 1.0 and created["latency_ms"] > 0
    with registry.read() as con:
        assert con.execute(
            "SELECT package_id FROM packages WHERE model_id = ?", [MINILM]
        ).fetchall() == [(created["artifact_id"],)]


def test_permissions(service):
    url, _, identity = service
    body = {"model_id": QA_MODEL}
    assert loopback.get(f"{url}/packages").status_code == 401
    assert (
        loopback.get(
            f"{url}/packages", headers={"Authorization": "Bearer hat_1_" + "x" * 43}
        ).status_code
        == 401
    )  # forged
    assert (
        loopback.get(f"{url}/packages", headers={"Authorization": "Bearer nonsense"}).status_code
        == 401
    )
    read = login(url, "reader")
    assert loopback.get(f"{url}/packages", headers=read).status_code == 200
    denied = loopback.post(f"{url}/package/ingest-huggingface", json=body, headers=read)
    assert denied.status_code == 403 and "'upload'" in denied.json()["detail"]
    up = login(url, "uploader")
    decision = {"reason": "fine", "revision": "0" * 40}
    assert (
        loopback.post(f"{url}/models/{QA_MODEL}/promote", json=decision, headers=up).status_code
        == 403
    )
    assert (
        loopback.delete(
            f"{url}/packages/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=up
        ).status_code
        == 403
    )
    issued = identity.create_token("reader", "ci", None)
    token = {"Authorization": f"Bearer {issued.token}"}
    assert loopback.get(f"{url}/packages", headers=token).status_code == 200
    identity.revoke(issued.token_id)
    revoked = loopback.get(f"{url}/packages", headers=token)
    assert revoked.status_code == 401 and revoked.json()["detail"] == INVALID_TOKEN
    from datetime import timedelta

    with pytest.raises(InvalidIdentityError, match="positive"):  # no token born expired
        identity.create_token("reader", "old", timedelta(seconds=-1))
    expired = identity.create_token("reader", "old", timedelta(milliseconds=1))
    time.sleep(0.01)
    gone = loopback.get(f"{url}/packages", headers={"Authorization": f"Bearer {expired.token}"})
    assert gone.status_code == 401 and gone.json()["detail"] == INVALID_TOKEN


def test_failed_logins_back_off(service):
    url, _, _ = service
    codes = [
        loopback.post(
            f"{url}/authenticate", json={"username": "somebody-else", "password": "wrong"}
        )
        for _ in range(4)
    ]
    assert [c.status_code for c in codes[:2]] == [401, 401]
    assert codes[3].status_code == 429 and int(codes[3].headers["retry-after"]) >= 1


@pytest.mark.slow
def test_approval_rules(service, ingested):
    url, registry, _ = service
    # A revision the gate refused (this test may run on a worker where no other test has
    # asked for it).
    judged = loopback.post(
        f"{url}/package/ingest-huggingface",
        headers=login(url, "uploader"),
        json={"model_id": f"{ORG}/tiny-gpt2-stale"},
        timeout=600,
    )
    assert judged.status_code == 400
    approve = login(url, "approver")
    sha = ingested["revision"]
    ok = loopback.post(
        f"{url}/models/{QA_MODEL}/promote",
        json={"reason": "measured F1 0.61, above chance", "revision": sha},
        headers=approve,
    )
    assert ok.status_code == 200 and ok.json()["status"] == "promoted"
    assert "promoted by approver: measured F1" in ok.json()["reason"]
    with registry.read() as con:
        stale_sha = con.execute(
            "SELECT revision_sha FROM gate_results WHERE model_id = ? AND NOT passed",
            [f"{ORG}/tiny-gpt2-stale"],
        ).fetchone()[0]
    refused = loopback.post(
        f"{url}/models/{ORG}/tiny-gpt2-stale/promote",
        json={"reason": "please", "revision": stale_sha},
        headers=approve,
    )
    assert refused.status_code == 409 and "has not passed the quality gate" in refused.text
    rejected = loopback.post(
        f"{url}/models/{ORG}/tiny-gpt2-stale/reject",
        json={"reason": "stale", "revision": stale_sha},
        headers=approve,
    )
    assert rejected.status_code == 200
    history = loopback.get(f"{url}/models/{QA_MODEL}", headers=approve).json()["history"]
    assert history[-1]["status"] == "promoted"


def test_bad_input_is_refused_and_writes_nothing(service):
    url, registry, _ = service
    up = login(url, "uploader")
    with registry.read() as con:
        before = con.execute("SELECT count(*) FROM ingest_requests").fetchone()
    post = lambda body: loopback.post(  # noqa: E731
        f"{url}/package/ingest-huggingface", json=body, headers=up
    )
    assert post({"model_id": "../../etc/passwd"}).status_code == 422
    assert post({"model_id": QA_MODEL, "extra": 1}).status_code == 422
    assert post({"model_id": QA_MODEL, "version": "one"}).status_code == 422
    big = loopback.post(
        f"{url}/package/ingest-huggingface", headers=up, content=b"{" + b" " * 100_000 + b"}"
    )
    assert big.status_code == 413

    def chunks():  # no Content-Length: 1 MiB in chunks, refused on the bytes read
        for _ in range(64):
            yield b" " * 16384

    chunked = loopback.post(f"{url}/package/ingest-huggingface", headers=up, content=chunks())
    assert chunked.status_code == 413 and chunked.headers["X-Request-ID"]
    for bad in ("org/name\n", "org/name\r\nX: y"):
        assert (
            loopback.post(
                f"{url}/package/ingest-huggingface", headers=up, json={"model_id": bad}
            ).status_code
            == 422
        ), bad
    for bad in ("1.0.0\n", "١.٠.٠", "01.0.0"):
        answer = loopback.post(
            f"{url}/package/ingest-huggingface",
            headers=up,
            json={"model_id": QA_MODEL, "version": bad},
        )
        assert answer.status_code == 422 and "Invalid package version" in answer.text, bad
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM ingest_requests").fetchone() == before
    read = login(url, "reader")
    sql = loopback.get(
        f"{url}/packages", params={"name": "'; DROP TABLE packages; --"}, headers=read
    )
    assert sql.status_code == 200 and sql.json()["total"] == 0
    # a pattern is checked by the engine that runs it: what Python accepts and RE2 refuses
    # (look-around, back-references, a bad class) is a 422 in words, never a 500
    for pattern in ("(", "(?=a)", "(a)\\1", "[[:alpha:]"):
        refused = loopback.get(f"{url}/packages", params={"name": pattern}, headers=read)
        assert refused.status_code == 422, (pattern, refused.text)
        assert refused.json()["detail"].startswith("Invalid name pattern")
    assert loopback.get(f"{url}/packages/..%2F..%2Fetc", headers=read).status_code in (404, 422)
    assert loopback.get(f"{url}/packages/not-an-id", headers=read).status_code == 422
    assert loopback.get(f"{url}/models/a%20b", headers=read).status_code == 422
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM packages").fetchone()[0] >= 0  # still there


def test_metrics_are_prometheus_text_read_from_the_registry(service):
    url, registry, _ = service
    r = loopback.get(f"{url}/metrics")  # public by default, as scrapers expect
    assert r.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert {
        "hub_assets_models",
        "hub_assets_gate_results",
        "hub_assets_packages",
        "hub_assets_shadow_eval_runs",
        "hub_assets_ingest_requests",
    } <= set(families)
    with registry.read() as con:
        live = con.execute("SELECT count(*) FROM packages WHERE retired_at IS NULL").fetchone()[0]
    shown = {s.labels.get("state"): s.value for s in families["hub_assets_packages"].samples}
    assert shown.get("live", 0) == live
    per_metric = {
        (s.labels["metric"], s.labels["result"]): s.value
        for s in families["hub_assets_gate_metric_results"].samples
    }
    assert {m for m, _ in per_metric} >= {"license", "bus_factor", "performance_claims"}
    health = {s.labels["health"]: s.value for s in families["hub_assets_model_health"].samples}
    assert set(health) == {"ok", "stale", "at_risk", "revoked"}
    with registry.read() as con:
        judged = con.execute("SELECT count(DISTINCT model_id) FROM gate_results").fetchone()[0]
    assert sum(health.values()) == judged


def test_audit_rows_name_who_and_never_a_token(service):
    url, registry, _ = service
    headers = login(url, "reader")
    token = headers["Authorization"].split()[1]
    loopback.post(f"{url}/authenticate", json={"username": "reader", "password": "nope"})
    with registry.read() as con:
        rows = audit_events(con, limit=500)
    logins = [r for r in rows if r["action"] == "authenticate" and r["username"] == "reader"]
    assert {"ok", "unauthorized"} <= {r["outcome"] for r in logins}
    assert all(r["request_id"] and r["created_at"] for r in rows)
    assert not any(token in str(v) for r in rows for v in r.values())


@pytest.mark.slow
def test_artifact_ingest_answers_201_or_424_with_gaps(service, ingested):
    url, _, _ = service
    up = login(url, "uploader")
    stale = loopback.post(
        f"{url}/artifact/ingest",
        headers=up,
        timeout=600,
        json={"url": f"https://huggingface.co/{ORG}/tiny-gpt2-stale/tree/main"},
    )
    assert stale.status_code == 424, stale.text
    failing = {f["metric"]: f for f in stale.json()["failing_metrics"]}
    assert "bus_factor" in failing
    bus = failing["bus_factor"]
    assert bus["gap"] == pytest.approx(bus["required"] - bus["score"], abs=1e-4) and bus["gap"] > 0
    again = loopback.post(f"{url}/artifact/ingest", json={"url": QA_MODEL}, headers=up, timeout=600)
    # already packaged at this revision: its package, nothing created
    assert again.status_code == 200 and again.json()["artifact_id"] == ingested["package_id"]
    bad = loopback.post(f"{url}/artifact/ingest", json={"url": "https://x/../../etc"}, headers=up)
    assert bad.status_code == 422


@pytest.mark.slow
def test_the_mirror_at_hub_keeps_an_access_log_usage_and_metrics_read(service, ingested, tmp_path):
    """Before the retirement below: a download through /hub with the real client, and a
    refusal, then who pulled what over the API and the counts in /metrics."""
    url, _, _ = service
    read = login(url, "reader")
    token = read["Authorization"].removeprefix("Bearer ")
    config = hf_hub_download(
        QA_MODEL, "config.json", endpoint=f"{url}/hub", token=token, cache_dir=tmp_path
    )
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"{ORG}/nowhere", "config.json", endpoint=f"{url}/hub", token=token)
    admin = login(url, "admin", ADMIN_PASSWORD)
    deadline = time.monotonic() + 30  # the access log is written about once a second
    while True:
        usage = loopback.get(f"{url}/mirror/usage", params={"since": "1h"}, headers=admin)
        assert usage.status_code == 200, usage.text
        body = usage.json()
        if body["downloads"] and body["refusals"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [pulled] = body["downloads"]
    assert (pulled["caller"], pulled["model_id"]) == ("reader", QA_MODEL)
    assert pulled["revision_sha"] == ingested["revision"]
    assert pulled["bytes"] == len(open(config, "rb").read())
    [refused] = body["refusals"]
    assert (refused["model_id"], refused["refusal"], refused["status"]) == (
        f"{ORG}/nowhere",
        "repo_not_found",
        404,
    )
    assert loopback.get(f"{url}/mirror/usage", headers=read).status_code == 403  # names people
    assert loopback.get(f"{url}/mirror/usage").status_code == 401
    bad = loopback.get(f"{url}/mirror/usage", params={"since": "soon"}, headers=admin)
    assert bad.status_code == 422 and "30m, 24h, 7d, 2w" in bad.text
    deadline = time.monotonic() + 10  # /metrics may answer from a read up to 2 s old
    while True:
        families = {
            f.name: f for f in text_string_to_metric_families(loopback.get(f"{url}/metrics").text)
        }
        downloads = {
            s.labels["model_id"]: s.value
            for s in families["hub_assets_mirror_downloads"].samples
            if s.name.endswith("_total")
        }
        if downloads or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert downloads == {QA_MODEL: 1}
    refusals = {
        s.labels["reason"]: s.value
        for s in families["hub_assets_mirror_refusals"].samples
        if s.name.endswith("_total")
    }
    assert refusals == {"repo_not_found": 1}


def test_search_and_retire(service, ingested):
    url, registry, _ = service
    read = login(url, "reader")
    found = loopback.get(f"{url}/search", params={"q": "span-prediction"}, headers=read).json()
    assert QA_MODEL in [i["model_id"] for i in found["items"]]
    by_tag = loopback.get(f"{url}/search", params={"q": "extractive-qa"}, headers=read).json()
    assert {i["matched"] for i in by_tag["items"]} == {"tag"}
    assert loopback.get(f"{url}/search", params={"q": "%'"}, headers=read).json()["items"] == []
    admin = login(url, "admin", ADMIN_PASSWORD)
    pid = ingested["package_id"]
    gone = loopback.delete(f"{url}/packages/{pid}", headers=admin)
    assert gone.status_code == 200
    assert loopback.delete(f"{url}/packages/{pid}", headers=admin).status_code == 409
    record = loopback.get(f"{url}/packages/{pid}", headers=read).json()
    assert record["retired_at"] and record["retired_by"] == "admin"  # the row stays
    assert loopback.get(f"{url}/packages/{pid}/download", headers=read).status_code == 410
    assert loopback.get(f"{url}/packages/{pid}/bundle", headers=read).status_code == 410
    retired = loopback.get(f"{url}/packages", params={"status": "retired"}, headers=read).json()
    assert [i["package_id"] for i in retired["items"]] == [pid]
    assert PackagePage.model_validate(retired).items[0].retired_by == "admin"  # as declared


@pytest.mark.slow
def test_a_request_past_its_wait_answers_202_then_polls_to_the_outcome(service, ingested):
    url, _, _ = service
    up = login(url, "uploader")
    first = loopback.post(
        f"{url}/package/ingest-huggingface",
        params={"wait": 0},
        json={"model_id": f"{ORG}/tiny-bert-embedder"},
        headers=up,
    )
    assert first.status_code == 202, first.text
    poll = first.json()["poll"]
    assert first.headers["location"] == poll
    deadline = time.monotonic() + 300
    while (answer := loopback.get(f"{url}{poll}", headers=up)).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert answer.status_code == 400 and answer.json()["outcome"] == "gate_failed"


def test_swagger_offers_bearer_authorization(service):
    url, _, _ = service
    assert "swagger-ui" in loopback.get(f"{url}/docs").text
    spec = loopback.get(f"{url}/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {
        "/authenticate",
        "/package/ingest-huggingface",
        "/artifact/ingest",
        "/packages",
        "/metrics",
        "/search",
    } <= set(spec["paths"])


def test_every_route_declares_what_it_answers(service):
    """Each operation in /openapi.json has a schema for its success body and declares the
    error statuses it can give, each with the Problem body."""
    url, _, _ = service
    spec = loopback.get(f"{url}/openapi.json").json()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            answers = op["responses"]
            ok = [c for c in answers if c.startswith("2")]
            assert ok, (method, path)
            for code in ok:
                content = answers[code]["content"]
                assert all(media["schema"] for media in content.values()), (method, path, code)
            assert "401" in answers or path == "/authenticate", (method, path)
            for code, answer in answers.items():
                if code[0] in "45" and code not in ("422", "424"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Problem"}, (path, code)
    samples = spec["paths"]["/models/{model_id}/samples"]["get"]["responses"]
    assert samples["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Samples"
    }
    ingest = spec["paths"]["/package/ingest-huggingface"]["post"]["responses"]
    assert {"200", "202", "400", "401", "403", "404", "409", "422", "502"} <= set(ingest)


def test_the_api_page_renders_offline_in_a_browser(service, tmp_path):
    """Debian's chromium, headless, with every host but loopback unresolvable, renders the
    Swagger page's operations: its files come from the service itself, not a CDN."""
    url, _, _ = service
    page = loopback.get(f"{url}/docs").text
    assert "cdn" not in page.lower() and "https://" not in page
    dom = subprocess.run(
        [
            shutil.which("chromium") or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{url}/docs",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    ).stdout
    shown = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    spec = loopback.get(f"{url}/openapi.json").json()
    assert shown == set(spec["paths"]), dom[-2000:]


@contextmanager
def own_service(registry, tmp_path, extend=None):
    """A service of the test's own (its own throttles and registry) on a free port; `extend`
    may add to the app first. Yields (url, identity)."""
    with pipeline_env("http://127.0.0.1:9", registry, tmp_path):
        settings = load_settings()
        app = create_app(settings, registry, Pipeline.from_settings(settings).package_store())
        if extend is not None:
            extend(app)
        port = free_port()
        server = uvicorn.Server(server_config(app, settings, "127.0.0.1", port))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            while not server.started:
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}", app.state.identity
        finally:
            server.should_exit = True
            thread.join(10)


def test_parallel_logins_cannot_get_around_the_back_off(registry, tmp_path):
    """32 logins for one user at once (31 wrong, 1 right): each takes its failure slot
    before its password is checked, so at most the free attempts and one more are checked;
    every other answer is 429 with Retry-After."""
    with own_service(registry, tmp_path) as (url, identity):
        identity.add_user("target", ["read"], PASSWORD)
        passwords = ["wrong password " + str(i) for i in range(31)] + [PASSWORD]
        started = time.monotonic()
        with ThreadPoolExecutor(32) as pool:
            answers = list(
                pool.map(
                    lambda pw: loopback.post(
                        f"{url}/authenticate",
                        json={"username": "target", "password": pw},
                        timeout=60,
                    ),
                    passwords,
                )
            )
        spread = time.monotonic() - started
    # the free attempts and one more; on a loaded machine the burst may outlast a back-off
    # window (1 s, then 2, 4, ...): each one that ran out lets one more attempt through
    windows_run_out = int(math.log2(spread + 1))
    checked = [a for a in answers if a.status_code != 429]
    assert len(checked) <= 3 + windows_run_out, ([a.status_code for a in answers], spread)
    assert all(a.status_code in (200, 401) for a in checked)
    throttled = [a for a in answers if a.status_code == 429]
    assert len(throttled) >= 29 - windows_run_out
    assert all(int(a.headers["retry-after"]) >= 1 for a in throttled)


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    registry, tmp_path, monkeypatch, trusted
):
    """Failed logins count against the client's address (10 free): a local client that
    names a new address in X-Forwarded-For each time does not get a fresh count, unless
    the service is told that this address is a proxy it trusts."""
    monkeypatch.setenv("HUB_ASSETS_TRUSTED_PROXIES", trusted)
    with own_service(registry, tmp_path) as (url, _):
        codes = [
            loopback.post(
                f"{url}/authenticate",
                json={"username": f"guess{i}", "password": "not it"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            ).status_code
            for i in range(14)
        ]
    if trusted:  # each forwarded address is its own client: only 401s
        assert set(codes) == {401}, codes
    else:  # one client, whatever it claims: throttled after its 10 free failures
        assert codes[:10] == [401] * 10 and 429 in codes[10:], codes


def test_an_unexpected_failure_answers_500_in_words_with_its_request_id(registry, tmp_path):
    """A route that breaks (here one added for the test) answers 500 without class names or
    paths, and with the X-Request-ID every other answer carries."""

    def broken() -> dict:
        raise OSError("/secret/path/of/the/machine is gone")

    with own_service(registry, tmp_path, lambda app: app.add_api_route("/broken", broken)) as (
        url,
        _,
    ):
        answer = loopback.get(f"{url}/broken")
    assert answer.status_code == 500
    request_id = answer.headers["X-Request-ID"]
    assert answer.json() == {
        "detail": f"Internal error; request id {request_id} is in the service log.",
        "outcome": "error",
    }


def test_identity_an_auditor_accepts(registry, tmp_path):
    """Disabled users and revoked users' tokens stop at once; a new password ends the old
    sessions; forged tokens naming a real id back off; unknown, revoked and wrong tokens
    get one answer; refused writes are audited with who and why, and a failed login's
    unknown username (perhaps a password typed in the wrong field) is not stored."""
    with own_service(registry, tmp_path) as (url, identity):
        identity.add_user("alice", ["read", "upload"], PASSWORD)
        session = login(url, "alice")
        api = identity.create_token("alice", "ci", timedelta(days=1))
        api_headers = {"Authorization": f"Bearer {api.token}"}
        assert loopback.get(f"{url}/packages", headers=session).status_code == 200

        identity.set_disabled("alice", True)
        for headers in (session, api_headers):
            gone = loopback.get(f"{url}/packages", headers=headers)
            assert gone.status_code == 401 and gone.json()["detail"] == INVALID_TOKEN
        identity.set_disabled("alice", False)
        assert loopback.get(f"{url}/packages", headers=api_headers).status_code == 200

        identity.add_user("alice", ["read", "upload"], "a brand new password!")  # new password
        assert loopback.get(f"{url}/packages", headers=session).status_code == 401  # session over
        assert loopback.get(f"{url}/packages", headers=api_headers).status_code == 200  # API token

        assert sorted(identity.revoke_all("alice")) == [api.token_id]
        assert loopback.get(f"{url}/packages", headers=api_headers).status_code == 401

        # forged secrets for a real id: a few are checked, then 429 (no argon2 per guess)
        bob = identity.create_token("alice", "bob", timedelta(days=1))
        forged = [
            loopback.get(
                f"{url}/packages",
                headers={"Authorization": f"Bearer hat_{bob.token_id}_{'x' * 30}{i:02d}"},
            )
            for i in range(8)
        ]
        codes = [f.status_code for f in forged]
        assert codes[:3] == [401, 401, 401] and 429 in codes[3:], codes
        assert {f.json()["detail"] for f in forged if f.status_code == 401} == {INVALID_TOKEN}
        unknown = loopback.get(
            f"{url}/packages", headers={"Authorization": f"Bearer hat_99999_{'y' * 32}"}
        )
        assert unknown.status_code == 401 and unknown.json()["detail"] == INVALID_TOKEN

        # refused writes are audited; the failed login of an unknown name stores no name
        anonymous = loopback.delete(f"{url}/packages/{'0' * 8}-0000-0000-0000-{'0' * 12}")
        assert anonymous.status_code == 401
        identity.add_user("reader2", ["read"], PASSWORD)
        reader = login(url, "reader2")
        assert (
            loopback.post(
                f"{url}/models/a/b/promote",
                json={"reason": "x", "revision": "0" * 40},
                headers=reader,
            ).status_code
            == 403
        )
        typed = "my-secret-password-123"
        loopback.post(f"{url}/authenticate", json={"username": typed, "password": "whatever"})
    with registry.read() as con:
        rows = audit_events(con, limit=500)
    refused = {(r["action"], r["username"], r["status"]) for r in rows if r["status"] in (401, 403)}
    assert ("DELETE /packages/00000000-0000-0000-0000-000000000000", None, 401) in refused
    assert ("POST /models/a/b/promote", "reader2", 403) in refused
    assert not any(typed in str(v) for r in rows for v in r.values())
    assert any(r["action"] == "authenticate" and r["detail"] == "an unknown username" for r in rows)


def test_the_two_person_rule(registry, tmp_path, hub_server):
    """Whoever asked for a revision's ingestion may not promote it; another approver may,
    and the rule can be turned off."""
    from hub_assets.errors import ApprovalRefusedError
    from hub_assets.pipeline.approvals import decide
    from hub_assets.registry import packages as reg_packages
    from hub_assets.registry.metrics import write_gate_result
    from hub_assets.registry.models import append_status

    registry.ensure_schema()
    sha = "a" * 40
    with registry.write() as con:
        append_status(con, "acme/model", "gate_passed", run_id="r", revision_sha=sha)
        write_gate_result(
            con,
            model_id="acme/model",
            sha=sha,
            passed=True,
            failed=[],
            message="ok",
            thresholds={},
            config_version="1",
            target_device="x",
            run_id="r",
        )
        con.execute(
            "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
            "size_bytes, sha256, manifest, model_card, net_score, run_id, created_at) VALUES "
            "('p1', 'acme--model', '1.0.0', 'acme/model', ?, 'x', 1, 's', '{}', '', 0.9, 'r', "
            "now())",
            [sha],
        )
        request = reg_packages.add_request(con, "acme/model", "", None, requested_by="carol")
        reg_packages.update_request(
            con, request, status="succeeded", outcome="ingested", package_id="p1"
        )
    with pytest.raises(ApprovalRefusedError, match="Two-person rule: carol asked"):
        decide(registry, "acme/model", "promote", sha, "looks good", "carol", "r1")
    decided = decide(registry, "acme/model", "promote", sha, "reviewed", "dave", "r2")
    assert decided["status"] == "promoted"
    off = decide(
        registry, "acme/model", "promote", sha, "alone", "carol", "r3", two_person_rule=False
    )
    assert off["status"] == "promoted"
