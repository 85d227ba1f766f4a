"""A proposed gate config tried on stored evidence: its flips equal a full re-gate."""

import json

from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.devhub.demo_cases import ORG
from hub_assets.gate.config import load_gate_config
from hub_assets.hub_protocol.exchange import AccessRecord
from hub_assets.mirror.access_log import RegistryAccessLog
from hub_assets.pipeline.gate import gate_revision
from hub_assets.pipeline.gate_diff import gate_diff
from hub_assets.registry import metrics as reg_metrics
from hub_assets.registry.packages import record_lockfile

COMPLETE, T5, GPL = f"{ORG}/tiny-gpt2-complete", f"{ORG}/tiny-t5-qa", f"{ORG}/tiny-gpt2-gpl"


def _score(registry, model_id: str, **values: float) -> str:
    with registry.write() as con:
        sha, _ = reg_metrics.require_current_revision(con, model_id)
        reg_metrics.write_metrics(
            con,
            model_id,
            sha,
            [
                {
                    "metric": m,
                    "value": v,
                    "latency_ms": 1.0,
                    "inputs_fingerprint": "f",
                    "code_version": "test",
                    "details": None,
                }
                for m, v in values.items()
            ],
            "rescored",
        )
    return sha


def test_the_flips_of_a_proposed_config_equal_a_full_regate(gated_registry, tmp_path, monkeypatch):
    gated_registry(COMPLETE, True)
    gated_registry(T5, True)
    registry = gated_registry(GPL, False)
    current = load_gate_config()
    complete = _score(registry, COMPLETE, bus_factor=0.55)  # passes at 0.5
    for model in (COMPLETE, T5, GPL):  # the recorded verdicts, under the current config
        gate_revision(registry, model, current, "gate-now")
    # someone pulled tiny-gpt2-complete through the mirror
    log = RegistryAccessLog(registry, flush_s=3600)
    log.record(
        AccessRecord(
            1.8e9,
            "bob",
            "GET",
            "resolve",
            COMPLETE,
            "main",
            complete,
            "config.json",
            200,
            10,
            None,
            "127.0.0.1",
        )
    )
    log.close()
    with registry.write() as con:  # and a lockfile pins it (as `hub-assets lock` records)
        record_lockfile(con, "/srv/app/models.lock", {COMPLETE: complete, T5: "t" * 40}, "ops")

    thresholds = {**current.thresholds, "bus_factor": 0.6}  # tightened
    proposed_file = tmp_path / "proposed.yaml"
    proposed_file.write_text(
        json.dumps(
            {"version": "2027.1", "target_device": current.target_device, "thresholds": thresholds}
        )
    )
    proposed = load_gate_config(proposed_file)
    diff = gate_diff(registry, current, proposed)
    assert diff.judged == 3 and diff.newly_failing == 1 and diff.newly_passing == 0
    [flip] = diff.flips
    assert (flip.model_id, flip.sha, flip.was_passed, flip.now_passed) == (
        COMPLETE,
        complete,
        True,
        False,
    )
    assert flip.metrics == [("bus_factor", 0.55, 0.5, 0.6)]
    assert flip.mirror_users == ["bob"] and flip.lockfiles == ["/srv/app/models.lock"]

    # the same decisions as gating every model again under the proposed config
    predicted = {m: m != COMPLETE and m != GPL for m in (COMPLETE, T5, GPL)}
    for model, passed in predicted.items():
        assert gate_revision(registry, model, proposed, "regate").decision.passed is passed
    assert gate_diff(registry, proposed, proposed).flips == []  # now recorded: no flip

    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    loose = tmp_path / "loose.yaml"
    loose.write_text(
        json.dumps({"version": "2027.2", "thresholds": {"license": 0.1, "bus_factor": 0.5}})
    )
    shown = CliRunner().invoke(main, ["gate", "diff", "--proposed", str(loose)])
    assert shown.exit_code == 0, shown.output
    assert "3 judged revisions" in shown.output and "would pass" in shown.output
    assert COMPLETE in shown.output and "bob" in shown.output
    assert "/srv/app/models.lock" in shown.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: x\nthresholds: {bus_factor: 7}\n")
    refused = CliRunner().invoke(main, ["gate", "diff", "--proposed", str(bad)])
    assert refused.exit_code == 2 and "must be a number in [0, 1]" in refused.output
