"""The Dagster resource: a thin holder of the one `Pipeline`, built from the settings.

Every setting is read from the environment by `hub_assets.settings` (docs/configuration.md
lists them); `overrides` puts values on top for one deployment or test, by setting name.
Secrets (the Hub token, passwords) are refused there: they come from the environment only,
so Dagster never shows or stores them.
"""

from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from hub_assets.pipeline.context import Pipeline
from hub_assets.settings import Settings, load_settings


class PipelineResource(ConfigurableResource):
    """The stages a model goes through and what they use (Hub client, registry, snapshots,
    gate config, package store, evaluation pins): `get()` returns the `Pipeline`."""

    overrides: dict[str, Any] = Field(
        default={},
        description="Settings over the environment's, by name (e.g. {'hub_endpoint': "
        "'https://huggingface.co', 'eval_sample_limit': 100}); docs/configuration.md.",
    )
    _pipeline: Pipeline | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, **overrides: Any) -> PipelineResource:
        """The resource with these settings over the environment's; a None value leaves
        the setting as the environment has it."""
        return cls(overrides={k: v for k, v in overrides.items() if v is not None})

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._pipeline = None  # each run reads the settings afresh

    def settings(self) -> Settings:
        """The environment's settings with this resource's overrides on top."""
        return load_settings(self.overrides)

    def get(self) -> Pipeline:
        """The pipeline of these settings, built once per run (or sensor tick)."""
        if self._pipeline is None:
            self._pipeline = Pipeline.from_settings(self.settings())
        return self._pipeline
