"""The gate decision and its versioned config."""

import pytest

from hub_assets.errors import GateConfigError
from hub_assets.gate.config import load_gate_config
from hub_assets.gate.decision import decide
from hub_assets.metrics.scoring import GATE_METRICS

ALL_PASS = {m: 0.9 for m in GATE_METRICS}


def test_default_config():
    config = load_gate_config()
    assert config.target_device == "jetson_nano" and config.version
    assert config.thresholds == {m: 0.5 for m in GATE_METRICS}


def test_exactly_half_passes_and_just_below_fails():
    config = load_gate_config()
    assert decide("a/b", {m: 0.5 for m in GATE_METRICS}, config).passed
    below = decide("a/b", {**ALL_PASS, "security": 0.4999}, config)
    assert not below.passed and below.failed == [
        {"metric": "security", "score": 0.4999, "threshold": 0.5}
    ]


def test_the_message_users_know():
    decision = decide(
        "a/b", {**ALL_PASS, "bus_factor": 0.3, "ramp_up_time": 0.4}, load_gate_config()
    )
    assert decision.message == (
        "Model does not meet quality requirements. Failed metrics: "
        "Bus Factor (0.30 < 0.50), Ramp-Up Time (0.40 < 0.50)"
    )
    missing = decide(
        "a/b", {k: v for k, v in ALL_PASS.items() if k != "license"}, load_gate_config()
    )
    assert missing.message.endswith("Failed metrics: License (not scored)")


def test_per_model_overrides(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text(
        "version: '7'\ntarget_device: desktop_pc\nthresholds:\n  bus_factor: 0.6\n"
        "overrides:\n  org/special:\n    performance_claims: 0.0\n"
    )
    config = load_gate_config(path)
    assert config.version == "7" and config.target_device == "desktop_pc"
    scores = {**ALL_PASS, "performance_claims": 0.0}
    assert decide("org/special", scores, config).passed
    assert not decide("org/other", scores, config).passed
    assert not decide("org/special", {**ALL_PASS, "bus_factor": 0.55}, config).passed


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("thresholds: {license: 0.5}\n", "`version` is required"),
        ("version: 1\nthresholds: {speed: 0.5}\n", "unknown gate metric 'speed'"),
        ("version: 1\nthresholds: {license: 1.5}\n", "must be a number in \\[0, 1\\]"),
        ("version: 1\ntarget_device: toaster\n", "target_device 'toaster'"),
        ("version: 1\nthreshold: {}\n", "unknown keys \\['threshold'\\]"),
        ("version: [1\n", "not valid YAML"),
        ("version: 1\noverrides:\n  a/b: 0.5\n", "overrides of a/b must be a mapping"),
    ],
)
def test_invalid_configs_are_clear_errors(tmp_path, text, error):
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    with pytest.raises(GateConfigError, match=error):
        load_gate_config(path)


def test_missing_config_file(tmp_path, monkeypatch):
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.settings import load_settings

    monkeypatch.setenv("HUB_ASSETS_GATE_CONFIG", str(tmp_path / "nope.yaml"))
    stages = Pipeline.from_settings(load_settings())
    with pytest.raises(GateConfigError, match="does not exist"):
        stages.gate_config()
    with pytest.raises(GateConfigError, match="HUB_ASSETS_GATE_CONFIG"):
        load_gate_config(tmp_path / "nope.yaml")


def test_overrides_carry_their_reviewer_and_reason(tmp_path):
    from hub_assets.errors import GateConfigError
    from hub_assets.gate.config import load_gate_config

    path = tmp_path / "gate.yaml"
    path.write_text(
        "version: t1\noverrides:\n  acme/solo:\n    thresholds: {bus_factor: 0.3}\n"
        "    reviewer: alice@example.com\n    reason: vendored, we maintain it\n"
        "  acme/legacy:\n    bus_factor: 0.2\n"
    )
    config = load_gate_config(path)
    assert config.thresholds_for("acme/solo")["bus_factor"] == 0.3
    assert config.override_of("acme/solo") == {
        "thresholds": {"bus_factor": 0.3},
        "reviewer": "alice@example.com",
        "reason": "vendored, we maintain it",
    }
    assert config.override_of("acme/legacy") == {"thresholds": {"bus_factor": 0.2}}
    assert config.override_of("acme/other") is None
    path.write_text("version: t1\noverrides:\n  acme/x:\n    thresholds: {bus_factor: 0.3}\n")
    with pytest.raises(GateConfigError, match="needs `thresholds`, `reviewer` and `reason`"):
        load_gate_config(path)


def test_policy_lists_are_read_and_validated(tmp_path):
    from hub_assets.errors import GateConfigError
    from hub_assets.gate.config import load_gate_config

    path = tmp_path / "gate.yaml"
    path.write_text(
        "version: t2\nallowed_uses: [modification]\nscanner_allowlist: [collections.OrderedDict]\n"
        "licence_findings_fail: [unknown_licence]\n"
    )
    config = load_gate_config(path)
    assert config.allowed_uses == ("modification",)
    assert config.scanner_allowlist == ("collections.OrderedDict",)
    assert config.licence_findings_fail == ("unknown_licence",)
    for bad, field in (
        ("allowed_uses: [world_domination]", "allowed_uses"),
        ("scanner_allowlist: [not an import]", "scanner_allowlist"),
        ("licence_findings_fail: [vibes]", "licence_findings_fail"),
    ):
        path.write_text(f"version: t2\n{bad}\n")
        with pytest.raises(GateConfigError, match=field):
            load_gate_config(path)


def test_one_pass_rule_for_the_gate_and_the_attestation():
    """The gate decision and the attestation's checks use the same rule (`passes`): a
    score rounded to 4 places at or above its threshold; no score never passes."""
    from hub_assets.gate.decision import passes
    from hub_assets.proof.attestation import evidence_predicate

    assert passes(0.49999, 0.5) and passes(0.5, 0.5) and not passes(0.4999, 0.5)
    assert not passes(None, 0.0)
    evidence = {
        "gate": {"thresholds": {"bus_factor": 0.5, "license": 0.0, "ramp_up_time": 0.5}},
        "metrics": [
            {"metric": m, "value": v, "inputs_fingerprint": "f", "code_version": "1", "run_id": "r"}
            for m, v in (("bus_factor", 0.49999), ("ramp_up_time", 0.2))
        ],
    }
    checks = {
        c["metric"]: c["passed"]
        for c in evidence_predicate({}, evidence, signed=False)["gate"]["checks"]
    }
    assert checks == {"bus_factor": True, "license": False, "ramp_up_time": False}
