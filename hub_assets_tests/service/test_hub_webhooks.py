"""Events in: the development Hub sends its webhook after a commit, the service queues that
model alone, and its new revision gets a verdict; wrong secrets, duplicates and hostile
payloads are refused or answered without a second request."""

import json
import os
import shutil
import time

import pytest
from huggingface_hub import HfApi

from hub_assets.cli.instance import ensure_dagster_home
from hub_assets.devhub.demo_cases import ORG, QA_MODEL
from hub_assets.devhub.server import HubServer
from hub_assets.devhub.webhooks import WebhookTarget, content_update
from hub_assets.pipeline.context import Pipeline
from hub_assets.registry.identity import audit_events
from hub_assets.registry.store import Registry
from hub_assets.service.app import create_app
from hub_assets.settings import load_settings
from hub_assets_tests import loopback
from hub_assets_tests.conftest import pipeline_env
from hub_assets_tests.local_servers import free_port, running_app

SECRET = "a webhook secret the Hub and the service share"
WRITER = "hf_writer_token_for_the_round_trip"
GPL_CARD = "---\nlicense: gpl-3.0\n---\n# tiny-bert-qa\n\nNow under the GPL.\n"


@pytest.fixture
def round_trip(demo_catalog, tmp_path, monkeypatch):
    """A Hub of the test's own that sends webhooks to a service on a known port."""
    port = free_port()
    target = WebhookTarget(f"http://127.0.0.1:{port}/webhooks/hub", SECRET)
    root = tmp_path / "catalog"
    shutil.copytree(demo_catalog, root, copy_function=os.link)
    registry = Registry(tmp_path / "registry.duckdb")
    with HubServer(root, tokens=[f"{WRITER}:write:{ORG}"], webhooks=[target]) as hub:
        with pipeline_env(hub.url, registry, tmp_path):
            monkeypatch.setenv("HUB_ASSETS_HUB_WEBHOOK_SECRET", SECRET)
            monkeypatch.setenv("HUB_ASSETS_REPRO", "false")  # the verdict, not a model run
            settings = load_settings()
            ensure_dagster_home(settings)
            app = create_app(settings, registry, Pipeline.from_settings(settings).package_store())
            with running_app(app, port) as url:
                yield hub, target, url, registry


def _requests(registry):
    with registry.read() as con:
        return con.execute(
            "SELECT request_id, status, outcome FROM ingest_requests "
            "WHERE requested_by = 'hub-webhook' ORDER BY request_id"
        ).fetchall()


def test_a_commit_to_a_demo_model_gets_its_new_verdict(round_trip):
    hub, target, url, registry = round_trip
    started = time.monotonic()
    commit = HfApi(endpoint=hub.url, token=WRITER).upload_file(
        path_or_fileobj=GPL_CARD.encode(),
        path_in_repo="README.md",
        repo_id=QA_MODEL,
        commit_message="relicense",
    )
    new_sha = commit.oid

    def finished():
        rows = _requests(registry) if registry.exists() else []
        return rows and rows[-1][1] in ("succeeded", "failed")

    deadline = started + 120
    while not finished():
        assert time.monotonic() < deadline, (target.answers, _requests(registry))
        time.sleep(0.25)
    took = time.monotonic() - started
    assert target.answers[0] == 202 and target.sent[0]["repo"]["headSha"] == new_sha
    [(_, status, outcome)] = _requests(registry)
    with registry.read() as con:
        current = con.execute("SELECT sha FROM models WHERE model_id = ?", [QA_MODEL]).fetchone()
        latest = con.execute(
            "SELECT status, reason FROM model_status_events WHERE model_id = ? "
            "ORDER BY event_id DESC LIMIT 1",
            [QA_MODEL],
        ).fetchone()
    assert current[0] == new_sha  # the model alone was re-resolved, to the pushed sha
    # the new revision's verdict: its GPL licence fails the gate's licence check
    assert latest[0] == "gate_failed" and "License (0.00 < 0.50)" in latest[1], latest
    assert status == "failed" and outcome == "gate_failed", (status, outcome)
    print(f"commit to verdict: {took:.1f} s")

    # the Hub's retry of the same delivery: nothing new is queued
    again = loopback.post(
        f"{url}/webhooks/hub", json=target.sent[0], headers={"X-Webhook-Secret": SECRET}
    )
    assert again.status_code == 202 and again.json()["status"] in ("judged", "under_way")
    assert len(_requests(registry)) == 1
    with registry.read() as con:
        audited = [(e["action"], e["outcome"]) for e in audit_events(con, limit=20)]
    assert ("hub_webhook", "queued") in audited


def test_wrong_secrets_and_hostile_payloads(round_trip):
    hub, target, url, registry = round_trip
    repo = hub.catalog.repo("model", QA_MODEL)
    good = content_update(hub.url, repo, "main", None, "a" * 40)

    def post(payload, secret=SECRET, raw=None):
        return loopback.post(
            f"{url}/webhooks/hub",
            content=raw if raw is not None else json.dumps(payload).encode(),
            headers={"X-Webhook-Secret": secret, "Content-Type": "application/json"},
        )

    assert post(good, secret="not it").status_code == 401
    assert post(good, secret="").status_code == 401
    with registry.read() as con:
        refused = [e for e in audit_events(con, limit=20) if e["status"] == 401]
    assert refused and refused[0]["action"] == "POST /webhooks/hub"
    assert SECRET not in json.dumps(refused, default=str)
    bad_sha = json.loads(json.dumps(good))
    bad_sha["repo"]["headSha"] = "../../etc"
    bad_name = json.loads(json.dumps(good))
    bad_name["repo"]["name"] = "../../etc/passwd"
    for payload, raw in [
        (None, b"not json"),
        (None, b"[1, 2]"),
        ({"event": {"action": "update"}}, None),
        (bad_sha, None),
        (bad_name, None),
        (None, b"\xff\xfe"),
    ]:
        answer = post(payload, raw=raw)
        assert answer.status_code == 422, (payload, raw, answer.text)
    discussion = json.loads(json.dumps(good))
    discussion["event"]["scope"] = "discussion"
    dataset = json.loads(json.dumps(good))
    dataset["repo"]["type"] = "dataset"
    for payload in (discussion, dataset):
        answer = post(payload)
        assert answer.status_code == 202 and answer.json()["status"] == "ignored"
    assert _requests(registry) == []  # nothing hostile queued anything
    big = post(None, raw=b"{" + b" " * (1024 * 1024) + b"}")
    assert big.status_code == 413


def test_a_deleted_repo_is_recorded_from_the_hubs_webhook(round_trip):
    hub, target, url, registry = round_trip
    registry.ensure_schema()
    with registry.write() as con:  # a judged model the registry knows
        con.execute(
            "INSERT INTO models (model_id, sha, first_seen, last_seen) VALUES (?, ?, now(), now())",
            [QA_MODEL, "a" * 40],
        )
        con.execute(
            "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, "
            "message, thresholds, config_version, target_device, run_id, created_at) "
            "VALUES (?, ?, true, '[]', 'ok', '{}', 'g', 'cpu', 'r', now())",
            [QA_MODEL, "a" * 40],
        )
    HfApi(endpoint=hub.url, token=WRITER).delete_repo(QA_MODEL)
    deadline = time.monotonic() + 30
    while not target.answers:
        assert time.monotonic() < deadline, "the Hub sent no delete webhook"
        time.sleep(0.1)
    assert target.answers == [202]
    assert target.sent[0]["event"] == {"action": "delete", "scope": "repo"}
    with registry.read() as con:
        deleted = con.execute(
            "SELECT upstream_deleted_at FROM models WHERE model_id = ?", [QA_MODEL]
        ).fetchone()[0]
        audited = [(e["action"], e["outcome"]) for e in audit_events(con, limit=5)]
    assert deleted is not None and ("hub_webhook", "deleted") in audited
    assert _requests(registry) == []  # a deletion queues no ingestion
    # the same event for a model the registry does not know changes nothing
    unknown = json.loads(json.dumps(target.sent[0]))
    unknown["repo"]["name"] = f"{ORG}/never-seen"
    answer = loopback.post(
        f"{url}/webhooks/hub", json=unknown, headers={"X-Webhook-Secret": SECRET}
    )
    assert answer.status_code == 202 and answer.json()["status"] == "ignored"
