"""What each policy profile may use: every live package re-decided under each profile from
its stored evidence (`gate.profiles.profile_decision`), and per model the newest revision
the profile approves. Nothing is measured or fetched; the mirror serves each caller the
view of their token's profile."""

from __future__ import annotations

from dataclasses import dataclass

from hub_assets.gate.config import GateConfig
from hub_assets.gate.profiles import Profile, ProfileSet, profile_decision
from hub_assets.metrics.table import GATE_METRICS
from hub_assets.registry.approved import (
    ApprovedPackage,
    HiddenReason,
    live_evidence,
    live_packages,
    newest_servable,
)
from hub_assets.registry.store import Registry


@dataclass(frozen=True)
class ProfileView:
    """One profile's mirror, by lower-cased model id: the package it serves (the newest
    approved revision), what it may open through an accepted access request (promotion not
    required), and why a model with live packages is refused."""

    approved: dict[str, ApprovedPackage]
    servable: dict[str, ApprovedPackage]
    refused: dict[str, HiddenReason]


def profile_view(
    profile: Profile,
    config: GateConfig,
    live: list[tuple[ApprovedPackage, int | None]],
    evidence: dict,
    require_promoted: bool,
) -> ProfileView:
    """One profile's view of the live packages (`registry.approved.live_packages`) from
    their stored evidence (`registry.approved.live_evidence`)."""
    passing, refusals = [], {}
    for package, promoted_event in live:
        licence, scores, obligations = evidence.get(
            (package.model_id, package.revision_sha), (None, {}, None)
        )
        decision = profile_decision(profile, config, package.model_id, licence, scores, obligations)
        if decision.passed:
            passing.append((package, promoted_event))
        else:  # the newest refusal is the one shown
            refusals[package.model_id.lower()] = HiddenReason(
                "profile_refused",
                f"revision {package.revision_sha[:12]} is not approved for profile "
                f"{profile.name}: {decision.message}",
            )
    promoted = require_promoted if profile.require_promoted is None else profile.require_promoted
    approved = {m.lower(): p for m, p in newest_servable(passing, promoted).items()}
    servable = {m.lower(): p for m, p in newest_servable(passing, False).items()}
    refused = {}
    for key in {p.model_id.lower() for p, _ in live} - approved.keys():
        if key in servable:
            sha = servable[key].revision_sha
            refused[key] = HiddenReason(
                "not_promoted",
                f"revision {sha[:12]} is approved for profile {profile.name}, but it is not "
                f"promoted, and this profile uses promoted revisions only "
                f"(hub-assets promote {servable[key].model_id} --revision {sha}).",
            )
        else:
            refused[key] = refusals[key]
    return ProfileView(approved, servable, refused)


def profile_views(
    registry: Registry, config: GateConfig, profiles: ProfileSet, require_promoted: bool
) -> dict[str, ProfileView]:
    """Every profile's view, from one read of the registry."""
    with registry.read() as con:
        live = live_packages(con)
        evidence = live_evidence(con, list(GATE_METRICS))
    return {
        name: profile_view(profile, config, live, evidence, require_promoted)
        for name, profile in profiles.profiles.items()
    }
