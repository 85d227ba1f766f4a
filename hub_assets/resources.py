"""Dagster resources: one key per outside system, configured from the environment."""

from __future__ import annotations

from dagster import ConfigurableResource
from huggingface_hub import HfApi
from pydantic import Field

DEFAULT_HUB_ENDPOINT = "http://127.0.0.1:8765"


class HubResource(ConfigurableResource):
    """Access to a Hugging Face Hub: the project's own server by default, or huggingface.co.

    The token is read from `HF_TOKEN` by the definitions and is never logged or stored.
    """

    endpoint: str = Field(
        default=DEFAULT_HUB_ENDPOINT,
        description="Hub base URL (HUB_ASSETS_HUB_ENDPOINT); https://huggingface.co for the Hub.",
    )
    token: str | None = Field(default=None, description="Hub token (HF_TOKEN); never logged.")

    def api(self) -> HfApi:
        """A real `HfApi` client bound to this endpoint (never to ambient HF_ENDPOINT)."""
        return HfApi(endpoint=self.endpoint.rstrip("/"), token=self.token or False)
