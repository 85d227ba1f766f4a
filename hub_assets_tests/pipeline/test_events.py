"""Events out, on real servers: a receiver the test starts and stops, a deliverer process
killed with SIGKILL in the middle of a burst of 500 events; nothing lost, nothing
reordered, duplicates with the same idempotency key, every signature valid."""

import base64
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from standardwebhooks import Webhook

from hub_assets.cli import main
from hub_assets.errors import SettingsError
from hub_assets.pipeline.events import EventDeliverer, event_body
from hub_assets.registry.events import events_after, find_cursor
from hub_assets.registry.models import append_statuses
from hub_assets.registry.store import Registry
from hub_assets.settings import load_settings
from hub_assets_tests.local_servers import WebhookReceiver, free_port

BIN = Path(sys.executable).parent
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
MODELS = [f"acme/model-{i}" for i in range(10)]
STATUSES = ["discovered", "candidate", "evaluated", "gate_passed", "ingested"]


def _burst(registry: Registry, rounds: range) -> None:
    """Each round: one lifecycle step of every model, in one transaction (as the pipeline
    writes a stage's results)."""
    for r in rounds:
        status = STATUSES[r % len(STATUSES)]
        with registry.write() as con:
            append_statuses(
                con, [(m, status, f"round {r}", None) for m in MODELS], run_id=f"burst-{r}"
            )


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def env(tmp_path):
    registry = Registry(tmp_path / "registry.duckdb")
    registry.ensure_schema()
    port = free_port()
    values = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "HUB_ASSETS_REGISTRY": str(registry.path),
        "HUB_ASSETS_WEBHOOK_URLS": f"http://127.0.0.1:{port}/hooks",
        "HUB_ASSETS_WEBHOOK_SECRET": SECRET,
        "HUB_ASSETS_WEBHOOK_RETRY_S": "0.05",
        "HUB_ASSETS_WEBHOOK_RETRY_MAX_S": "0.4",
    }
    return registry, port, values


def _deliverer(values: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "hub-assets"), "events", "deliver", "--idle", "0.05"],
        env=values,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_sigkill_mid_burst_and_a_receiver_down_lose_and_reorder_nothing(env):
    registry, port, values = env
    receiver = WebhookReceiver(port)
    # the endpoint's cursor starts at the newest event: events from now on are its
    once = subprocess.run(
        [str(BIN / "hub-assets"), "events", "deliver", "--once"],
        env=values,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert once.returncode == 0 and "Delivered 0" in once.stdout, once.stderr
    receiver.start()
    first = _deliverer(values)
    _burst(registry, range(25))  # 250 events
    _wait(lambda: len(receiver.ids()) >= 60, 60, "the first deliveries")
    first.send_signal(signal.SIGKILL)  # in the middle of the burst
    first.wait(10)
    receiver.stop()  # and the receiver goes down
    _burst(registry, range(25, 50))  # 250 more, while nobody delivers
    second = _deliverer(values)
    _wait(lambda: _failures(registry) >= 2, 30, "failed attempts against the dead receiver")
    with registry.read() as con:
        cursor = find_cursor(con, receiver.url)
    assert cursor.attempts >= 2 and "ConnectError" in (cursor.last_error or "")
    receiver.start()  # back
    _wait(lambda: len(set(receiver.ids())) >= 500, 90, "all 500 events")
    second.send_signal(signal.SIGTERM)
    assert second.wait(20) == 0, second.stderr.read()

    with registry.read() as con:
        expected = events_after(con, 0, 1000, _far_future())
    assert len(expected) == 500
    ids = receiver.ids()
    assert set(ids) == {e.event_id for e in expected}  # 0 lost
    first_seen = list(dict.fromkeys(ids))
    assert first_seen == sorted(first_seen)  # 0 reordered (so in order per model too)
    verifier = Webhook(SECRET)
    bodies: dict[str, bytes] = {}
    for headers, body in receiver.got:
        lowered = {k.lower(): v for k, v in headers.items()}
        verifier.verify(body, lowered)  # raises on a bad signature
        key = lowered["webhook-id"]
        assert bodies.setdefault(key, body) == body  # a duplicate is the same event
    by_id = {e.event_id: e for e in expected}
    for key, body in bodies.items():
        event = by_id[int(key.removeprefix("evt_"))]
        assert body.decode() == event_body(event)
        data = json.loads(body)["data"]
        assert (data["model_id"], data["status"]) == (event.model_id, event.status)
    # a tampered body fails verification
    headers, body = receiver.got[-1]
    with pytest.raises(Exception, match="(?i)signature"):
        verifier.verify(body + b" ", {k.lower(): v for k, v in headers.items()})
    receiver.stop()


def _far_future():
    return datetime.now(UTC) + timedelta(days=1)


def _failures(registry: Registry) -> int:
    with registry.read() as con:
        return con.execute("SELECT count(*) FROM event_deliveries WHERE NOT delivered").fetchone()[
            0
        ]


def test_list_log_and_replay_with_the_same_ids(env, monkeypatch):
    registry, port, values = env
    receiver = WebhookReceiver(port)
    receiver.start()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    deliverer = EventDeliverer(
        registry, [receiver.url], SECRET, retry_s=30, retry_max_s=60, timeout_s=5
    )
    try:
        deliverer.deliver_due()  # the cursor starts here
        _burst(registry, range(3))
        time.sleep(1.1)  # settled
        assert deliverer.deliver_due().delivered == 30
        runner = CliRunner()
        listed = runner.invoke(main, ["events", "list", "--model", MODELS[0]])
        assert listed.exit_code == 0 and listed.output.count("model.") == 3
        assert f"yes {receiver.url}" in listed.output
        replayed = runner.invoke(main, ["events", "replay", "--since", "21"])
        assert replayed.exit_code == 0, replayed.output
        assert deliverer.deliver_due().delivered == 10
        ids = receiver.ids()
        assert ids == list(range(1, 31)) + list(range(21, 31))  # again, with the same ids
        log = runner.invoke(main, ["events", "log", "--limit", "5"])
        assert log.exit_code == 0 and "delivered" in log.output
        audit = runner.invoke(main, ["sql", "SELECT action FROM audit_events"])
        assert "events_replay" in audit.output
        unknown = runner.invoke(
            main, ["events", "replay", "--since", "1", "--endpoint", "http://nope/"]
        )
        assert unknown.exit_code != 0
        # a receiver that answers with an error holds the stream, with back-off
        receiver.stop()
        _burst(registry, range(3, 4))
        time.sleep(1.1)
        assert deliverer.deliver_due().failed == 1
        assert deliverer.deliver_due().failed == 0  # backing off: not tried again yet
        with registry.read() as con:
            cursor = find_cursor(con, receiver.url)
        assert cursor.delivered_through == 30 and cursor.attempts == 1
        wait = (cursor.next_attempt_at - datetime.now(UTC)).total_seconds()
        assert 25 < wait <= 30  # retry_s, kept in the registry across restarts
    finally:
        deliverer.close()


def test_webhook_settings_are_checked_at_the_edge(monkeypatch):
    def settings_with(urls, secret=None):
        monkeypatch.setenv("HUB_ASSETS_WEBHOOK_URLS", urls)
        if secret is None:
            monkeypatch.delenv("HUB_ASSETS_WEBHOOK_SECRET", raising=False)
        else:
            monkeypatch.setenv("HUB_ASSETS_WEBHOOK_SECRET", secret)
        return load_settings()

    with pytest.raises(SettingsError, match="HUB_ASSETS_WEBHOOK_SECRET"):
        settings_with("http://127.0.0.1:1/x")
    with pytest.raises(SettingsError, match="Standard Webhooks secret") as short:
        settings_with("http://127.0.0.1:1/x", "whsec_c2hvcnQ=")
    assert "c2hvcnQ" not in str(short.value)  # a secret is never shown, even a bad one
    with pytest.raises(SettingsError, match="without credentials"):
        settings_with("http://user:pw@127.0.0.1:1/x", SECRET)
    with pytest.raises(SettingsError, match="is a secret"):
        load_settings({"webhook_secret": SECRET})  # never in Dagster's stored config
    settings = settings_with("https://hooks.example.com/a", SECRET)
    assert settings.webhook_urls == ["https://hooks.example.com/a"]
    assert SECRET not in repr(settings)
