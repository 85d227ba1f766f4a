"""Applying a gate config as an audited change: shown first, recorded with who and why,
and from then on the gate every decision uses."""

import json

from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.devhub.demo_cases import ORG
from hub_assets.gate.config import load_gate_config
from hub_assets.pipeline.context import Pipeline
from hub_assets.pipeline.gate import gate_revision
from hub_assets.registry.identity import audit_events
from hub_assets.registry.metrics import latest_gate_result
from hub_assets.settings import load_settings
from hub_assets_tests.pipeline.test_gate_diff import _score

COMPLETE = f"{ORG}/tiny-gpt2-complete"


def test_a_gate_change_is_shown_then_applied_with_who_and_why(
    gated_registry, tmp_path, monkeypatch
):
    registry = gated_registry(COMPLETE, True)
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    pipeline = Pipeline(load_settings())
    current = pipeline.gate_config()
    assert current.source.endswith("quality_gate.yaml")  # nothing applied: the file's
    sha = _score(registry, COMPLETE, bus_factor=0.55)
    gate_revision(registry, COMPLETE, current, "gate-now")
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(
        json.dumps({"version": "2027.1", "thresholds": {**current.thresholds, "bus_factor": 0.6}})
    )
    runner = CliRunner()
    args = ["gate", "apply", "--proposed", str(proposed), "--user", "rita", "--reason", "x"]

    dry = runner.invoke(main, args)  # without --yes: shown, not applied
    assert dry.exit_code == 0, dry.output
    assert "1 would fail" in dry.output and "Not applied" in dry.output
    assert pipeline.gate_config().version == current.version

    done = runner.invoke(main, [*args[:-1], "bus factor under 0.6 is a risk", "--yes"])
    assert done.exit_code == 0, done.output
    gate = pipeline.gate_config()
    assert gate.version == "2027.1" and "applied by rita" in gate.source
    assert gate.thresholds["bus_factor"] == 0.6
    # the next decision is made under it, and records its version
    gate_revision(registry, COMPLETE, gate, "gate-later")
    with registry.read() as con:
        result = latest_gate_result(con, COMPLETE, sha)
        audited = [e for e in audit_events(con) if e["action"] == "gate_apply"]
    assert result["passed"] is False and result["config_version"] == "2027.1"
    assert audited[0]["username"] == "rita" and "bus factor under 0.6" in audited[0]["detail"]
    assert "1 of 1 verdicts flip" in audited[0]["detail"]

    listed = runner.invoke(main, ["gate", "history"])
    assert "2027.1" in listed.output and "rita" in listed.output
    assert current.version in listed.output  # what it replaced

    again = runner.invoke(main, [*args, "--yes"])  # the same version twice: refused
    assert again.exit_code == 2 and "bump `version`" in again.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 2027.2\nthresholds: {bus_factor: 7}\n")
    refused = runner.invoke(
        main, ["gate", "apply", "--proposed", str(bad), "--user", "rita", "--reason", "x", "--yes"]
    )
    assert refused.exit_code == 2 and pipeline.gate_config().version == "2027.1"


def test_without_a_registry_the_gate_is_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(tmp_path / "none.duckdb"))
    assert Pipeline(load_settings()).gate_config().version == load_gate_config().version
    assert not (tmp_path / "none.duckdb").exists()  # reading the gate creates nothing
