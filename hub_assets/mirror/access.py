"""Who may read from the mirror: bearer tokens of the registry service's users (any user
holds `read`), and anonymous callers unless `HUB_ASSETS_MIRROR_PUBLIC=false`."""

from __future__ import annotations

from hub_assets.errors import AuthenticationError, HubError
from hub_assets.hub_protocol.repos import Caller
from hub_assets.hub_protocol.routing import INVALID_CREDENTIALS
from hub_assets.pipeline.identity import TOKEN_PREFIX, Identity

LOGIN_HINT = (
    "This mirror serves signed-in users only: set HF_TOKEN to a hub-assets token with the "
    "read permission (hub-assets tokens create --user NAME --name mirror)."
)


class RegistryTokens:
    """Bearer tokens checked against the registry's users and tokens."""

    login_hint = LOGIN_HINT

    def __init__(self, identity: Identity, public: bool = True) -> None:
        self.identity, self.public = identity, public

    def caller(self, token: str) -> Caller | None:
        """The user of a valid registry token; a 401, as the Hub answers, for a registry
        token that is not valid. Any other token (a huggingface.co token that
        huggingface_hub sends because `hf auth login` saved it) is not ours to judge: the
        caller counts as anonymous."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        try:
            principal = self.identity.verify(token)
        except AuthenticationError:
            raise HubError(401, None, INVALID_CREDENTIALS) from None
        if not principal.may("read"):
            raise HubError(403, None, f"User {principal.username!r} lacks the read permission.")
        return Caller(principal.username, "read", principal.profile)
