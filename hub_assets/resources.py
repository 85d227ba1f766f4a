"""Dagster resources: one key per outside system, configured from the environment.

Every setting, its environment variable and its default are listed in docs/configuration.md;
`from_env` builders below are the one place that reads those variables.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from hub_assets.discovery.filters import (
    DEFAULT_LIBRARIES,
    DEFAULT_LICENSES,
    DEFAULT_PIPELINE_TAGS,
    CandidateFilter,
)
from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.datasets import DatasetPin, pins_from_env
from hub_assets.gate.config import GateConfig, load_gate_config
from hub_assets.hub.client import DEFAULT_REQUESTS_PER_SECOND, HubClient, HubSettings
from hub_assets.hub.snapshots import SnapshotStore, store_from
from hub_assets.metrics.evidence import utc_now
from hub_assets.metrics.reproducibility import ReproducibilityLimits
from hub_assets.metrics.scoring import ScoringContext
from hub_assets.packaging.store import DEFAULT_STORE, PackageStore
from hub_assets.registry.store import DEFAULT_REGISTRY_PATH, Registry

DEFAULT_HUB_ENDPOINT = "http://127.0.0.1:8765"


class HubResource(ConfigurableResource):
    """Access to a Hugging Face Hub: the project's own server by default, or huggingface.co.

    The token comes from `HF_TOKEN`; it is never logged, printed or stored.
    """

    endpoint: str = Field(default=DEFAULT_HUB_ENDPOINT, description="Hub base URL.")
    token: str | None = Field(
        default=None,
        description="Hub token; never logged. Unset: huggingface_hub's own resolution "
        "(HF_TOKEN, the `hf auth login` token file, HF_TOKEN_PATH).",
    )
    requests_per_second: float = Field(
        default=DEFAULT_REQUESTS_PER_SECOND,
        description="Client-side rate limit (the free tier allows 1,000 requests / 5 min).",
    )
    offline: bool = Field(default=False, description="Cache only (HF_HUB_OFFLINE=1).")
    max_retries: int = Field(default=5, description="Retries of 429/5xx answers.")
    cache_dir: str = Field(default="data/cache/hub", description="Persistent metadata cache.")
    cache_ttl_hours: float = Field(default=24.0, description="Metadata cache time-to-live.")

    def client(self) -> HubClient:
        """A `HubClient` over the real `HfApi`, bound to this endpoint."""
        return HubClient(
            HubSettings(
                endpoint=self.endpoint,
                token=self.token or None,
                requests_per_second=self.requests_per_second,
                max_retries=self.max_retries,
                cache_dir=Path(self.cache_dir),
                cache_ttl_s=self.cache_ttl_hours * 3600,
                offline=self.offline,
            )
        )

    @classmethod
    def from_env(cls) -> HubResource:
        """Settings from HUB_ASSETS_* variables and the Hub's own (HF_ENDPOINT, HF_TOKEN,
        HF_HUB_OFFLINE)."""
        env = os.environ
        return cls(
            endpoint=env.get("HUB_ASSETS_HUB_ENDPOINT")
            or env.get("HF_ENDPOINT")
            or DEFAULT_HUB_ENDPOINT,
            offline=env.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"),
            # EnvVar: Dagster resolves it at run time and shows only the variable's name.
            token=EnvVar("HF_TOKEN") if env.get("HF_TOKEN") else None,
            requests_per_second=float(
                env.get("HUB_ASSETS_HUB_RATE_LIMIT", str(DEFAULT_REQUESTS_PER_SECOND))
            ),
            max_retries=int(env.get("HUB_ASSETS_HUB_MAX_RETRIES", "5")),
            cache_dir=env.get("HUB_ASSETS_CACHE_DIR", "data/cache/hub"),
            cache_ttl_hours=float(env.get("HUB_ASSETS_CACHE_TTL_HOURS", "24")),
        )


class RegistryResource(ConfigurableResource):
    """The DuckDB registry file (writers serialised by the `registry` pool, retried on lock)."""

    path: str = Field(default=DEFAULT_REGISTRY_PATH, description="DuckDB registry file.")
    lock_timeout_s: float = Field(default=120.0, description="How long a writer waits.")

    def get(self) -> Registry:
        return Registry(self.path, lock_timeout_s=self.lock_timeout_s)

    @classmethod
    def from_env(cls) -> RegistryResource:
        return cls(path=os.environ.get("HUB_ASSETS_REGISTRY", DEFAULT_REGISTRY_PATH))


def _csv(value: str | None, default: tuple[str, ...]) -> list[str]:
    if not value:
        return list(default)
    return [v.strip() for v in value.split(",") if v.strip()]


class DiscoveryResource(ConfigurableResource):
    """What discovery looks for: pipeline tags and the candidate filters."""

    pipeline_tags: list[str] = Field(default=list(DEFAULT_PIPELINE_TAGS))
    licenses: list[str] = Field(default=list(DEFAULT_LICENSES))
    libraries: list[str] = Field(default=list(DEFAULT_LIBRARIES))
    require_safetensors: bool = True
    min_downloads: int = 0
    min_likes: int = 0

    def candidate_filter(self) -> CandidateFilter:
        return CandidateFilter(
            licenses=tuple(self.licenses),
            libraries=tuple(self.libraries),
            require_safetensors=self.require_safetensors,
            min_downloads=self.min_downloads,
            min_likes=self.min_likes,
        )

    @classmethod
    def from_env(cls) -> DiscoveryResource:
        env = os.environ
        return cls(
            pipeline_tags=_csv(env.get("HUB_ASSETS_PIPELINE_TAGS"), DEFAULT_PIPELINE_TAGS),
            licenses=_csv(env.get("HUB_ASSETS_LICENSES"), DEFAULT_LICENSES),
            libraries=_csv(env.get("HUB_ASSETS_LIBRARIES"), DEFAULT_LIBRARIES),
            require_safetensors=env.get("HUB_ASSETS_REQUIRE_SAFETENSORS", "true").lower()
            not in ("0", "false", "no"),
            min_downloads=int(env.get("HUB_ASSETS_MIN_DOWNLOADS", "0")),
            min_likes=int(env.get("HUB_ASSETS_MIN_LIKES", "0")),
        )


class TrustResource(ConfigurableResource):
    """Where and how trust metrics run, and which quality-gate config applies."""

    work_dir: str = Field(default="data/work", description="Snapshots and scanned files.")
    gate_config: str | None = Field(default=None, description="Gate config file (YAML).")
    reproducibility_timeout_s: float = 180.0
    reproducibility_memory_mb: int = 4096
    reproducibility_max_gb: float = 1.0
    snapshot_cache_gb: float = Field(
        default=20.0, description="Cap of the verified snapshot store (LRU eviction)."
    )
    max_file_gb: float = Field(
        default=50.0, description="A repo advertising a bigger file is rejected (unsafe_repo)."
    )

    def snapshots(self) -> SnapshotStore:
        """The one verified snapshot store every stage reads model files from."""
        return store_from(Path(self.work_dir), self.snapshot_cache_gb, self.max_file_gb)

    def scoring_context(self, client: HubClient, **evidence: object) -> ScoringContext:
        """What `score_model` needs from this resource (work folder, snapshots, limits, the
        gate's target device), plus the registry's evidence: parents, previous values,
        measurement."""
        return ScoringContext(
            client=client,
            work_dir=Path(self.work_dir),
            snapshots=self.snapshots(),
            now=utc_now(),
            target_device=self.load_gate_config().target_device,
            limits=self.limits(),
            **evidence,
        )

    def limits(self) -> ReproducibilityLimits:
        return ReproducibilityLimits(
            timeout_s=self.reproducibility_timeout_s,
            memory_mb=self.reproducibility_memory_mb,
            max_weight_bytes=int(self.reproducibility_max_gb * 1e9),
        )

    def load_gate_config(self) -> GateConfig:
        return load_gate_config(self.gate_config)

    @classmethod
    def from_env(cls) -> TrustResource:
        env = os.environ
        return cls(
            work_dir=env.get("HUB_ASSETS_WORK_DIR", "data/work"),
            gate_config=env.get("HUB_ASSETS_GATE_CONFIG") or None,
            reproducibility_timeout_s=float(env.get("HUB_ASSETS_REPRO_TIMEOUT_S", "180")),
            reproducibility_memory_mb=int(env.get("HUB_ASSETS_REPRO_MEMORY_MB", "4096")),
            reproducibility_max_gb=float(env.get("HUB_ASSETS_REPRO_MAX_GB", "1.0")),
            snapshot_cache_gb=float(env.get("HUB_ASSETS_SNAPSHOT_CACHE_GB", "20")),
            max_file_gb=float(env.get("HUB_ASSETS_MAX_FILE_GB", "50")),
        )


class PackageStoreResource(ConfigurableResource):
    """Where packages go: a local folder (default data/packages) or s3://bucket/prefix.

    S3 endpoint and credentials come from the standard AWS settings; never from here.
    """

    uri: str = Field(default=DEFAULT_STORE, description="Package store (HUB_ASSETS_PACKAGE_STORE).")

    def get(self) -> PackageStore:
        return PackageStore(self.uri)

    @classmethod
    def from_env(cls) -> PackageStoreResource:
        return cls(uri=os.environ.get("HUB_ASSETS_PACKAGE_STORE", DEFAULT_STORE))


class EvaluationResource(ConfigurableResource):
    """Shadow evaluations: where pinned datasets are cached, how much to evaluate."""

    cache_dir: str = Field(default="data/eval", description="Pinned datasets as Parquet.")
    sample_limit: int | None = Field(default=None, description="Evaluate at most N samples.")
    batch_size: int = Field(default=16, description="Inference batch size.")

    def pins(self) -> tuple[DatasetPin, ...]:
        return pins_from_env()

    def generation_config(self) -> GenerationConfig:
        return GenerationConfig(batch_size=self.batch_size)

    @classmethod
    def from_env(cls) -> EvaluationResource:
        env = os.environ
        limit = env.get("HUB_ASSETS_EVAL_SAMPLE_LIMIT")
        return cls(
            cache_dir=env.get("HUB_ASSETS_EVAL_CACHE_DIR", "data/eval"),
            sample_limit=int(limit) if limit else None,
            batch_size=int(env.get("HUB_ASSETS_EVAL_BATCH_SIZE", "16")),
        )
