"""Users, tokens and decisions from the command line; the first admin's password."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.errors import AuthenticationError
from hub_assets.pipeline.identity import Identity, parse_duration
from hub_assets.registry.identity import list_tokens
from hub_assets_tests import loopback
from hub_assets_tests.conftest import free_port


def test_users_and_tokens_from_the_cli(registry, monkeypatch):
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "ci-bot", "--permission", "upload"])
    assert added.exit_code == 0, added.output
    bad = runner.invoke(main, ["users", "add", "Not Valid", "--permission", "read"])
    assert bad.exit_code == 2 and "Invalid username" in bad.output
    made = runner.invoke(
        main, ["tokens", "create", "--user", "ci-bot", "--name", "ci", "--expires", "90d"]
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    principal = Identity(registry).verify(token)
    assert principal.username == "ci-bot" and principal.may("upload")
    assert not principal.may("approve")
    with registry.read() as con:
        rows = list_tokens(con, "ci-bot")
        stored = con.execute("SELECT secret_hash FROM api_tokens").fetchall()
    assert rows[0][5] is not None  # expires
    assert all(token.split("_", 2)[2] not in h for (h,) in stored)  # only hashes
    assert runner.invoke(main, ["tokens", "revoke", str(rows[0][0])]).exit_code == 0
    assert runner.invoke(main, ["tokens", "revoke", str(rows[0][0])]).exit_code == 3
    nobody = runner.invoke(main, ["tokens", "create", "--user", "ghost", "--name", "x"])
    assert nobody.exit_code == 2 and "No user 'ghost'" in nobody.output
    # an admin lists a user's tokens (never a secret), disables and enables the user, and
    # revokes every token of theirs at once
    second = runner.invoke(main, ["tokens", "create", "--user", "ci-bot", "--name", "two"])
    listed = runner.invoke(main, ["tokens", "list", "--user", "ci-bot"])
    assert listed.exit_code == 0 and len(listed.stdout.splitlines()) == 2
    assert "revoked" in listed.stdout.splitlines()[0] and "live" in listed.stdout.splitlines()[1]
    assert second.stdout.strip().split("_", 2)[2] not in listed.stdout
    assert runner.invoke(main, ["users", "disable", "ci-bot"]).exit_code == 0
    assert "(disabled)" in runner.invoke(main, ["users", "list"]).stdout
    with pytest.raises(AuthenticationError):
        Identity(registry).verify(second.stdout.strip())
    assert runner.invoke(main, ["users", "enable", "ci-bot"]).exit_code == 0
    assert Identity(registry).verify(second.stdout.strip()).username == "ci-bot"
    assert runner.invoke(main, ["users", "disable", "ghost"]).exit_code == 2
    everything = runner.invoke(main, ["tokens", "revoke", "--user", "ci-bot"])
    assert everything.exit_code == 0 and "Revoked 1 token(s) of ci-bot" in everything.stdout
    assert runner.invoke(main, ["tokens", "revoke"]).exit_code == 2  # an id or --user
    assert parse_duration("12h").total_seconds() == 43200
    # a token that never expires is asked for by giving no --expires, never by a zero
    for never in ("0m", "0d", "00h", "١٢h", "12 h", "-5m"):
        refused = runner.invoke(
            main, ["tokens", "create", "--user", "ci-bot", "--name", "x", "--expires", never]
        )
        assert refused.exit_code == 2 and "Invalid duration" in refused.output, never
    from hub_assets.registry.identity import audit_events

    with registry.read() as con:
        actions = [(e["action"], e["target"]) for e in audit_events(con)]
    assert ("users_add", "ci-bot") in actions and ("tokens_create", "ci-bot") in actions
    assert ("tokens_revoke", str(rows[0][0])) in actions
    with registry.read() as con:
        assert not any(token in str(v) for e in audit_events(con) for v in e.values())


def test_the_first_admin_password_is_shown_once(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HUB_ASSETS_ADMIN_PASSWORD"}
    env.update(HUB_ASSETS_REGISTRY=str(tmp_path / "r.duckdb"), DAGSTER_HOME=str(tmp_path / "dh"))

    def start() -> tuple[str, int]:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub_assets.cli", "serve", "--port", str(port)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                loopback.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        return err, port

    first, port = start()
    assert "created user 'admin' with password" in first
    password = first.split("with password ", 1)[1].split()[0]
    second, _ = start()
    assert "password" not in second  # never again
    from hub_assets.registry.store import Registry

    identity = Identity(Registry(tmp_path / "r.duckdb"))
    assert identity.authenticate("admin", password, "test").token.startswith("hat_")


def test_decisions_from_the_cli_follow_the_same_rules(discovered, monkeypatch):
    registry, _ = discovered
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    runner = CliRunner()
    with registry.read() as con:
        model_id, sha = con.execute(
            "SELECT model_id, sha FROM models WHERE model_id LIKE '%tiny-gpt2-stale'"
        ).fetchone()
    refused = runner.invoke(main, ["promote", model_id, "--revision", sha, "--reason", "ok"])
    assert refused.exit_code == 15 and "has not passed the quality gate" in refused.output
    bad = runner.invoke(main, ["reject", model_id, "--revision", "main", "--reason", "x"])
    assert bad.exit_code == 2 and "not a commit sha" in bad.output
    done = runner.invoke(
        main, ["reject", model_id, "--revision", sha, "--reason", "stale", "--user", "ops"]
    )
    assert done.exit_code == 0, done.output
    with registry.read() as con:
        last = con.execute(
            "SELECT status, reason FROM model_status_events WHERE model_id = ? "
            "ORDER BY event_id DESC LIMIT 1",
            [model_id],
        ).fetchone()
        audit = con.execute(
            "SELECT username, action FROM audit_events ORDER BY event_id DESC LIMIT 1"
        ).fetchone()
    assert last == ("rejected", "rejected by ops: stale") and audit == ("ops", "reject")
