"""What every route module of the registry service shares."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.identity import Identity
from hub_assets.registry.store import Registry
from hub_assets.settings import Settings


class Strict(BaseModel):
    """Request bodies refuse unknown fields (422)."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class ServiceContext:
    """The registry, the store, identity, the audit writer, and the permission
    dependencies (`Annotated[Principal, Depends(...)]`) the routes declare."""

    settings: Settings
    registry: Registry
    store: PackageStore
    identity: Identity
    audit: Callable[..., None]
    reader: Any
    uploader: Any
    approver: Any
    admin: Any
    approvals_changed: Callable[[], None]  # a decision or a retirement: the mirror re-reads
