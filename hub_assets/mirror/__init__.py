"""The curated mirror: the Hub protocol over approved packages (see `docs/mirror.md`)."""

from __future__ import annotations

from hub_assets.gate.profiles import load_profiles
from hub_assets.hub_protocol.asgi import MAX_BODY
from hub_assets.hub_protocol.routing import ProtocolState
from hub_assets.mirror.access import RegistryTokens
from hub_assets.mirror.access_log import RegistryAccessLog
from hub_assets.mirror.access_requests import AccessRequestRoutes
from hub_assets.mirror.store import ApprovedStore
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.context import Pipeline
from hub_assets.pipeline.identity import Identity
from hub_assets.registry.store import Registry
from hub_assets.settings import Settings


def mirror_state(
    settings: Settings, registry: Registry, packages: PackageStore, identity: Identity
) -> ProtocolState:
    """What a mirror serves, as the settings say: approved (or promoted) packages, read
    by anyone or by token holders only, each request kept in the access log, and access
    requests in the Hub's gated-access shape; with profiles, each caller's token selects
    the policy they are served under."""
    profiles = load_profiles(settings.mirror_profiles) if settings.mirror_profiles else None
    store = ApprovedStore(
        registry,
        packages,
        require_promoted=settings.mirror_require_promoted,
        refresh_s=settings.mirror_refresh_s,
        verify_key=settings.verify_key,
        service_url=settings.service_url,
        profiles=profiles,
        gate_config=Pipeline(settings).gate_config() if profiles is not None else None,
    )
    return ProtocolState(
        store=store,
        access=RegistryTokens(identity, settings.mirror_public),
        access_log=RegistryAccessLog(registry) if settings.mirror_access_log else None,
        extra=AccessRequestRoutes(registry, identity, store.invalidate),
        max_body=MAX_BODY,  # paths-info lists and access-request forms are small
    )
