"""The development Hub: the Hub protocol over a catalog folder, with synthetic listings,
gated-access tokens and fault injection.

`huggingface_hub`, `datasets` and `transformers`, pointed at it with `endpoint=` (or
`HF_ENDPOINT`), list and download repos from a catalog folder (see `catalog.py`) exactly as
they would from the Hub.
"""

from __future__ import annotations

import os
from typing import Any

from hub_assets.devhub.catalog import Catalog
from hub_assets.devhub.faults import FaultList, FaultRule
from hub_assets.devhub.inference import InferenceRoutes
from hub_assets.devhub.synthetic import SyntheticModels
from hub_assets.devhub.webhooks import HubWebhooks, WebhookTarget
from hub_assets.hub_protocol.http import ProtocolServer
from hub_assets.hub_protocol.repos import Caller, StaticTokens
from hub_assets.hub_protocol.routing import ProtocolState
from hub_assets.hub_protocol.uploads import WriteState

ROLES = ("read", "write")


def parse_token(spec: str) -> tuple[str, Caller]:
    """`TOKEN[:ROLE[:USER]]` (role `read` or `write`, default `read`; user default
    `dev-user`) as the token and the caller it names."""
    token, _, rest = spec.partition(":")
    role, _, user = rest.partition(":")
    role = role or "read"
    if not token or role not in ROLES:
        raise ValueError(
            f"Invalid Hub token spec {spec.split(':')[0][:4]}…: use TOKEN[:read|write[:USER]]."
        )
    return token, Caller(user or "dev-user", role)


class HubServer(ProtocolServer):
    """The development Hub over a catalog folder; start it in a thread or serve forever.

    `tokens` are `TOKEN[:read|write[:USER]]`: read tokens open gated and private repos,
    write tokens also create repos and commit (as USER). `webhooks` receive the Hub's
    `repo.content` update after each commit.

    >>> server = HubServer("data/demo_hub").start()
    >>> HfApi(endpoint=server.url).model_info("sentence-transformers/all-MiniLM-L6-v2")
    """

    def __init__(
        self,
        catalog: str | os.PathLike | Catalog,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        synthetic: int = 0,
        synthetic_seed: int = 0,
        tokens: tuple[str, ...] | list[str] = (),
        max_file_bytes: int = 50 * 1024**3,
        webhooks: list[WebhookTarget] | None = None,
    ) -> None:
        cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
        if not cat.root.is_dir():
            raise FileNotFoundError(
                f"Catalog folder {str(cat.root)!r} does not exist. "
                "Build the demo catalog with `hub-assets-dev build-demo`."
            )
        state = ProtocolState(
            store=cat,
            extension=SyntheticModels(synthetic, synthetic_seed),
            access=StaticTokens(dict(parse_token(t) for t in tokens)),
            writes=WriteState(cat, max_file_bytes=max_file_bytes),
            extra=InferenceRoutes(cat),
        )
        self.faults = FaultList(state.requests, state.lock)
        state.faults = self.faults
        super().__init__(state, host=host, port=port)
        # after each commit, the Hub's `repo.content` webhook to each target (and `repo`
        # delete after a deletion)
        self.webhooks = list(webhooks or [])
        if self.webhooks:
            hooks = HubWebhooks(self.url, self.webhooks)
            cat.commit_listeners.append(hooks)
            cat.delete_listeners.append(hooks.deleted)

    @property
    def catalog(self) -> Catalog:
        """The catalog this server answers from (commits show at once)."""
        return self.state.store  # type: ignore[return-value]

    def add_fault(self, kind: str, **kwargs: Any) -> FaultRule:
        """Inject a fault into matching requests (see `FaultRule`)."""
        return self.faults.add(FaultRule(kind=kind, **kwargs))

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    def start(self) -> HubServer:
        """Serve in a background thread and return self."""
        super().start()
        return self

    def __enter__(self) -> HubServer:
        return self.start()
