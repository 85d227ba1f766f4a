"""Policy profiles: several named policies decided from the same stored evidence.

A company's teams may use different models: a research team may keep a non-commercial
licence a product team may not. Each profile narrows the quality gate (whose config stays
the widest policy: only what passed it is packaged) by:

- `thresholds`: stricter (or looser, for metrics the gate config sets lower) thresholds
  per gate metric, over the gate config's;
- `allowed_licenses`: the licences (the Hub's ids) a model may declare;
- `allowed_uses`: what the team may do with a model; an inherited licence obligation that
  forbids one fails it, re-judged from the stored licence chain;
- `require_promoted`: serve promoted revisions only (default: the mirror's setting).

The caller's registry token names its profile; a caller without one (anonymous, or a
token made without `--profile`) gets `default`. Nothing is re-measured: a profile's
decision reads the scores and details the pipeline stored (docs/mirror.md, Profiles).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from hub_assets.errors import GateConfigError
from hub_assets.gate.config import GateConfig
from hub_assets.gate.decision import GateDecision, decide
from hub_assets.metrics.licence_chain import USES, obligations_verdict
from hub_assets.metrics.scoring import GATE_METRICS

PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}", re.ASCII)
_KEYS = {"thresholds", "allowed_licenses", "allowed_uses", "require_promoted", "description"}


@dataclass(frozen=True)
class Profile:
    """One named policy: what it changes of the gate config (None: the gate's own)."""

    name: str
    thresholds: dict[str, float] = dataclasses.field(default_factory=dict)
    allowed_licenses: tuple[str, ...] | None = None
    allowed_uses: tuple[str, ...] | None = None
    require_promoted: bool | None = None
    description: str = ""


@dataclass(frozen=True)
class ProfileSet:
    """The configured profiles and the one callers without a profile get."""

    profiles: dict[str, Profile]
    default: str
    source: str = ""

    def of(self, name: str | None) -> Profile | None:
        """The profile a token names (None: the default); None for a name not configured."""
        return self.profiles.get(name or self.default)

    def named(self, name: str | None) -> Profile:
        """`of`, or an error naming the configured profiles (a command's `--profile`)."""
        found = self.of(name)
        if found is None:
            raise GateConfigError(
                f"No profile {name!r} in {self.source}: expected one of {', '.join(self.profiles)}."
            )
        return found


NO_PROFILES = (
    "This registry has no policy profiles: set HUB_ASSETS_MIRROR_PROFILES to a profiles "
    "file (docs/mirror.md, Profiles)."
)


def _error(path: Path, text: str) -> GateConfigError:
    return GateConfigError(f"Profiles file {path}: {text} (docs/mirror.md, Profiles).")


def _names(path: Path, where: str, value: object, allowed: tuple[str, ...] | None) -> tuple:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _error(path, f"{where} must be a list of names; got {value!r}")
    if allowed is not None and (bad := [v for v in value if v not in allowed]):
        raise _error(path, f"{where}: unknown {bad}; expected some of {', '.join(allowed)}")
    return tuple(v.lower() for v in value)


def _profile(path: Path, name: object, raw: object) -> Profile:
    if not isinstance(name, str) or not PROFILE_NAME.fullmatch(name):
        raise _error(path, f"profile name {name!r} must match {PROFILE_NAME.pattern}")
    raw = raw or {}
    if not isinstance(raw, dict):
        raise _error(path, f"profile {name} must be a mapping")
    if unknown := set(raw) - _KEYS:
        raise _error(path, f"profile {name}: unknown keys {sorted(unknown)}")
    thresholds = raw.get("thresholds") or {}
    if not isinstance(thresholds, dict):
        raise _error(path, f"profile {name}: thresholds must be a mapping")
    for metric, value in thresholds.items():
        if metric not in GATE_METRICS:
            raise _error(path, f"profile {name}: unknown gate metric {metric!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise _error(path, f"profile {name}: threshold of {metric} must be in [0, 1]")
    promoted = raw.get("require_promoted")
    if promoted is not None and not isinstance(promoted, bool):
        raise _error(path, f"profile {name}: require_promoted must be true or false")
    licences = raw.get("allowed_licenses")
    uses = raw.get("allowed_uses")
    return Profile(
        name=name,
        thresholds={m: float(v) for m, v in thresholds.items()},
        allowed_licenses=None
        if licences is None
        else _names(path, f"profile {name}: allowed_licenses", licences, None),
        allowed_uses=None
        if uses is None
        else _names(path, f"profile {name}: allowed_uses", uses, USES),
        require_promoted=promoted,
        description=str(raw.get("description") or ""),
    )


def load_profiles(path: str | os.PathLike) -> ProfileSet:
    """Read and validate a profiles file (`HUB_ASSETS_MIRROR_PROFILES`):
    `profiles: {name: {...}}` and `default: name`."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise GateConfigError(
            f"Profiles file {path} does not exist. Set HUB_ASSETS_MIRROR_PROFILES to a "
            "valid file, or unset it for one policy (the gate config's)."
        ) from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise GateConfigError(f"Profiles file {path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict) or set(raw) - {"profiles", "default"}:
        raise _error(path, "expected a mapping with `profiles` and `default` only")
    profiles = raw.get("profiles")
    if not isinstance(profiles, dict) or not profiles:
        raise _error(path, "`profiles` must map at least one name to its policy")
    parsed = {str(n): _profile(path, n, p) for n, p in profiles.items()}
    default = raw.get("default")
    if default not in parsed:
        raise _error(path, f"`default` must name one of the profiles ({', '.join(parsed)})")
    return ProfileSet(parsed, default, str(path))


def profile_config(config: GateConfig, profile: Profile) -> GateConfig:
    """The gate config as a profile sees it: its thresholds over the gate's, and its
    allowed uses."""
    return dataclasses.replace(
        config,
        thresholds={**config.thresholds, **profile.thresholds},
        allowed_uses=profile.allowed_uses
        if profile.allowed_uses is not None
        else config.allowed_uses,
    )


def profile_decision(
    profile: Profile,
    config: GateConfig,
    model_id: str,
    license_id: str | None,
    scores: Mapping[str, float],
    obligations: Mapping | None,
) -> GateDecision:
    """Decide one revision for one profile from its stored evidence: the stored gate
    scores against the profile's thresholds, the licence obligations re-judged for the
    profile's allowed uses (`obligations`: the stored details of that metric), and the
    model's own licence against the profile's allowed licences."""
    seen = profile_config(config, profile)
    scores = dict(scores)
    notes: list[str] = []
    explanations: dict[str, str] = {}
    if profile.allowed_uses is not None:
        if obligations is None:  # no stored chain to re-judge: fail closed
            scores.pop("licence_obligations", None)
        else:
            score, why = obligations_verdict(
                obligations, profile.allowed_uses, config.licence_findings_fail
            )
            scores["licence_obligations"] = score
            if why:
                explanations["licence_obligations"] = why
    decision = decide(model_id, scores, seen, explanations, notes)
    if profile.allowed_licenses is None:
        return decision
    if (license_id or "").lower() in profile.allowed_licenses:
        return decision
    why = (
        f"its licence {license_id or 'none'} is not one profile {profile.name} allows "
        f"({', '.join(profile.allowed_licenses)})"
    )
    failed = [f for f in decision.failed if f["metric"] != "license"]
    failed.insert(0, {"metric": "license", "score": 0.0, "threshold": 1.0})
    message = (
        f"{decision.message} Also: {why}."
        if not decision.passed
        else f"Model does not meet profile {profile.name}'s requirements: {why}."
    )
    return GateDecision(False, failed, decision.thresholds, message)
