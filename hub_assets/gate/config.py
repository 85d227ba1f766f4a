"""The quality gate's versioned configuration: thresholds, target device, per-model overrides."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from hub_assets.comparability import digest
from hub_assets.errors import GateConfigError
from hub_assets.hardware.fit import load_devices
from hub_assets.metrics.claims import CONTAMINATION_POLICIES
from hub_assets.metrics.licence_chain import FAILING_FINDINGS, FINDINGS, USES
from hub_assets.metrics.scoring import GATE_METRICS
from hub_assets.metrics.security import DEFAULT_SCANNER_ALLOWLIST

DEFAULT_GATE_CONFIG = Path(__file__).with_name("quality_gate.yaml")


@dataclass(frozen=True)
class GateConfig:
    """Thresholds per gate metric, the target device, per-model overrides, and a version."""

    version: str
    target_device: str
    thresholds: dict[str, float]
    overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    source: str = "built-in"
    # what the company may do with a model; an inherited licence obligation that forbids
    # one of these fails the licence_obligations check
    allowed_uses: tuple[str, ...] = USES
    # pickle imports (module.name) vetted by a reviewer: a "suspicious" scanner verdict on
    # a file whose flagged imports are all here does not fail the security check
    scanner_allowlist: tuple[str, ...] = DEFAULT_SCANNER_ALLOWLIST
    # licence findings that fail the model (the others are reported)
    licence_findings_fail: tuple[str, ...] = FAILING_FINDINGS
    # per overridden model: the reviewer who accepted the override and the reason
    override_notes: dict[str, dict[str, str]] = field(default_factory=dict)
    # evidence from a set the model was trained on: report (not proof), use, or fail
    contaminated_evidence: str = CONTAMINATION_POLICIES[0]

    def override_of(self, model_id: str) -> dict | None:
        """The override that applies to one model (thresholds, reviewer, reason), if any."""
        if model_id not in self.overrides:
            return None
        return {"thresholds": self.overrides[model_id], **self.override_notes.get(model_id, {})}

    def thresholds_for(self, model_id: str) -> dict[str, float]:
        """The thresholds that apply to one model (overrides win)."""
        return {**self.thresholds, **self.overrides.get(model_id, {})}

    def basis(self) -> dict:
        """What a gate result rests on besides its evidence (`hub_assets.comparability`):
        the digest of every rule in this config (not where it was read from), with its
        version and target device named. A verdict whose basis differs is stale."""
        rules = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source"}
        return {
            "kind": "gate",
            "version": self.version,
            "target_device": self.target_device,
            "config": digest(rules),
        }


def _threshold(where: str, name: str, value: object) -> float:
    if name not in GATE_METRICS:
        raise GateConfigError(
            f"{where}: unknown gate metric {name!r}; expected one of {', '.join(GATE_METRICS)}."
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise GateConfigError(
            f"{where}: threshold of {name} must be a number in [0, 1], got {value!r}."
        )
    return float(value)


def load_gate_config(
    path: str | os.PathLike | None = None, devices: Iterable[str] | None = None
) -> GateConfig:
    """Read and validate a gate config (default: the built-in one; the trust resource passes
    HUB_ASSETS_GATE_CONFIG) against the device profiles' names (default: the built-in
    profiles; the trust resource passes those of HUB_ASSETS_DEVICES)."""
    path = Path(path or DEFAULT_GATE_CONFIG)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GateConfigError(
            f"Gate config {path} does not exist. Set HUB_ASSETS_GATE_CONFIG "
            "to a valid file, or unset it for the built-in one."
        ) from None
    except UnicodeDecodeError as e:
        raise GateConfigError(f"Gate config {path} is not UTF-8 text: {e}") from None
    return parse_gate_config(text, str(path), devices)


def parse_gate_config(text: str, source: str, devices: Iterable[str] | None = None) -> GateConfig:
    """Validate a gate config's YAML text (`source` names it in messages: a file, or the
    registry's applied config) against the device profiles' names."""
    path = source
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise GateConfigError(f"Gate config {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise GateConfigError(f"Gate config {path} must be a mapping.")
    known = {"version", "target_device", "thresholds", "overrides", "allowed_uses"}
    unknown = (
        set(raw)
        - known
        - {
            "scanner_allowlist",
            "licence_findings_fail",
            "contaminated_evidence",
        }
    )
    if unknown:
        raise GateConfigError(f"Gate config {path}: unknown keys {sorted(unknown)}.")
    if not raw.get("version"):
        raise GateConfigError(
            f"Gate config {path}: `version` is required (bump it with every "
            "change: gate results record it)."
        )
    device = raw.get("target_device", "jetson_nano")
    devices = list(devices) if devices is not None else list(load_devices())
    if device not in devices:
        raise GateConfigError(
            f"Gate config {path}: target_device {device!r} is not one of the device "
            f"profiles ({', '.join(devices)}; HUB_ASSETS_DEVICES replaces them)."
        )
    given = raw.get("thresholds") or {}
    thresholds = {m: 0.5 for m in GATE_METRICS}
    thresholds.update({k: _threshold(f"{path} thresholds", k, v) for k, v in given.items()})
    overrides, notes = {}, {}
    for model_id, values in (raw.get("overrides") or {}).items():
        if not isinstance(values, dict):
            raise GateConfigError(f"Gate config {path}: overrides of {model_id} must be a mapping.")
        if "thresholds" in values:  # {thresholds, reviewer, reason}: who accepted it, and why
            note = {k: values.get(k) for k in ("reviewer", "reason")}
            if not all(isinstance(v, str) and v.strip() for v in note.values()) or set(values) - {
                "thresholds",
                "reviewer",
                "reason",
            }:
                raise GateConfigError(
                    f"Gate config {path}: the override of {model_id} needs `thresholds`, "
                    "`reviewer` and `reason` (and nothing else)."
                )
            notes[str(model_id)] = note
            values = values["thresholds"] or {}
        overrides[str(model_id)] = {
            k: _threshold(f"{path} overrides of {model_id}", k, v) for k, v in values.items()
        }
    uses = raw.get("allowed_uses", list(USES))
    if not isinstance(uses, list) or any(u not in USES for u in uses):
        raise GateConfigError(
            f"Gate config {path}: allowed_uses must be a list of {', '.join(USES)}; got {uses!r}."
        )
    allow = raw.get("scanner_allowlist", list(DEFAULT_SCANNER_ALLOWLIST))
    if not isinstance(allow, list) or not all(
        isinstance(a, str) and "." in a and " " not in a for a in allow
    ):
        raise GateConfigError(
            f"Gate config {path}: scanner_allowlist must be a list of module.name imports; "
            f"got {allow!r}."
        )
    failing = raw.get("licence_findings_fail", list(FAILING_FINDINGS))
    if not isinstance(failing, list) or any(f not in FINDINGS for f in failing):
        raise GateConfigError(
            f"Gate config {path}: licence_findings_fail must be a list of "
            f"{', '.join(FINDINGS)}; got {failing!r}."
        )
    policy = raw.get("contaminated_evidence", CONTAMINATION_POLICIES[0])
    if policy not in CONTAMINATION_POLICIES:
        raise GateConfigError(
            f"Gate config {path}: contaminated_evidence must be one of "
            f"{', '.join(CONTAMINATION_POLICIES)}; got {policy!r}."
        )
    return GateConfig(
        version=str(raw["version"]),
        target_device=device,
        thresholds=thresholds,
        overrides=overrides,
        source=str(path),
        allowed_uses=tuple(uses),
        scanner_allowlist=tuple(allow),
        licence_findings_fail=tuple(failing),
        override_notes=notes,
        contaminated_evidence=policy,
    )
