"""Dagster resources: one key per outside system, built from the one `Settings` object.

`hub_assets.settings` reads the environment; the `from_settings` builders below turn its
values into resources. docs/configuration.md lists every setting for users.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from hub_assets.discovery.filters import (
    CandidateFilter,
)
from hub_assets.evaluation.api_budget import ApiBudget
from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.contamination import OverlapBudget
from hub_assets.evaluation.datasets import DatasetPin, pins_from
from hub_assets.evaluation.inference_api import InferenceApiConfig, router_for
from hub_assets.gate.config import GateConfig, load_gate_config
from hub_assets.hardware.fit import DeviceProfile, load_devices
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.hub.snapshots import SnapshotStore, store_from
from hub_assets.hub.untrusted import RepoLimits
from hub_assets.metrics.evidence import utc_now
from hub_assets.metrics.reproducibility import ReproducibilityLimits
from hub_assets.metrics.scoring import ScoringContext
from hub_assets.packaging.store import PackageStore
from hub_assets.proof.signature import SigningConfig
from hub_assets.registry.location import registry_at
from hub_assets.registry.store import Registry
from hub_assets.settings import Settings, default


class HubResource(ConfigurableResource):
    """Access to a Hugging Face Hub: the project's own server by default, or huggingface.co.

    The token comes from `HF_TOKEN`; it is never logged, printed or stored.
    """

    endpoint: str = Field(default=default("hub_endpoint"), description="Hub base URL.")
    token: str | None = Field(
        default=None,
        description="Hub token; never logged. Unset: huggingface_hub's own resolution "
        "(HF_TOKEN, the `hf auth login` token file, HF_TOKEN_PATH).",
    )
    requests_per_second: float = Field(
        default=default("hub_rate_limit"),
        description="Client-side rate limit (the free tier allows 1,000 requests / 5 min).",
    )
    offline: bool = Field(
        default=default("hf_hub_offline"), description="Cache only (HF_HUB_OFFLINE=1)."
    )
    max_retries: int = Field(
        default=default("hub_max_retries"), description="Retries of 429/5xx answers."
    )
    cache_dir: str = Field(
        default=str(default("cache_dir")), description="Persistent metadata cache."
    )
    cache_ttl_hours: float = Field(
        default=default("cache_ttl_hours"), description="Metadata cache time-to-live."
    )
    max_files: int = Field(default=default("max_files"), description="Files a repo may list.")
    max_file_gb: float = Field(
        default=default("max_file_gb"), description="Largest file a repo may list."
    )
    max_repo_gb: float = Field(
        default=default("max_repo_gb"), description="Bytes a repo may list in all."
    )
    redirect_hosts: list[str] = Field(
        default=list(default("hub_redirect_hosts")),
        description="Hosts file requests may be redirected to, too.",
    )
    stage_deadline_s: float = Field(
        default=default("stage_deadline_s"),
        description="Wall-clock limit of one stage's Hub work for a model.",
    )

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
                limits=RepoLimits(
                    max_files=self.max_files,
                    max_file_bytes=int(self.max_file_gb * 1e9),
                    max_repo_bytes=int(self.max_repo_gb * 1e9),
                ),
                redirect_hosts=tuple(self.redirect_hosts),
                stage_deadline_s=self.stage_deadline_s,
            )
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> HubResource:
        """The Hub client's settings, HUB_ASSETS_* and the Hub's own (HF_ENDPOINT, HF_TOKEN,
        HF_HUB_OFFLINE)."""
        return cls(
            endpoint=settings.hub_endpoint,
            offline=settings.hf_hub_offline,
            # EnvVar: Dagster resolves it at run time and shows only the variable's name.
            token=EnvVar("HF_TOKEN") if settings.hf_token else None,
            requests_per_second=settings.hub_rate_limit,
            max_retries=settings.hub_max_retries,
            cache_dir=str(settings.cache_dir),
            cache_ttl_hours=settings.cache_ttl_hours,
            max_files=settings.max_files,
            max_file_gb=settings.max_file_gb,
            max_repo_gb=settings.max_repo_gb,
            redirect_hosts=list(settings.hub_redirect_hosts),
            stage_deadline_s=settings.stage_deadline_s,
        )


_OPEN_REGISTRIES: dict[tuple[int, str, float], Registry] = {}
_OPEN_REGISTRIES_LOCK = threading.Lock()


class RegistryResource(ConfigurableResource):
    """The registry: a DuckDB file (writers take turns, retried on lock), or the shared
    registry at a postgresql:// URL (many machines; docs/deployment.md)."""

    path: str = Field(
        default=default("registry"),
        description="DuckDB registry file, or postgresql://USER@HOST:PORT/DB (no password).",
    )
    lock_timeout_s: float = Field(
        default=default("registry_lock_timeout_s"), description="How long a writer waits."
    )

    def get(self) -> Registry:
        """This process's registry at `path`: one object per process, shared by every step
        and thread, since opening the shared registry costs ~250 ms (attaching PostgreSQL
        and building the views) and a stage asks for it several times per model."""
        key = (os.getpid(), self.path, self.lock_timeout_s)
        with _OPEN_REGISTRIES_LOCK:
            if key not in _OPEN_REGISTRIES:
                _OPEN_REGISTRIES[key] = registry_at(self.path, lock_timeout_s=self.lock_timeout_s)
            return _OPEN_REGISTRIES[key]

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryResource:
        """The registry file and the one lock timeout (Dagster and the CLI alike)."""
        return cls(path=str(settings.registry), lock_timeout_s=settings.registry_lock_timeout_s)


class DiscoveryResource(ConfigurableResource):
    """What discovery looks for: pipeline tags and the candidate filters."""

    pipeline_tags: list[str] = Field(default=list(default("pipeline_tags")))
    licenses: list[str] = Field(default=list(default("licenses")))
    libraries: list[str] = Field(default=list(default("libraries")))
    require_safetensors: bool = Field(default=default("require_safetensors"))
    weight_formats: list[str] = Field(default=list(default("weight_formats")))
    min_downloads: int = Field(default=default("min_downloads"))
    min_likes: int = Field(default=default("min_likes"))

    def candidate_filter(self) -> CandidateFilter:
        return CandidateFilter(
            licenses=tuple(self.licenses),
            libraries=tuple(self.libraries),
            require_safetensors=self.require_safetensors,
            weight_formats=tuple(self.weight_formats),
            min_downloads=self.min_downloads,
            min_likes=self.min_likes,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> DiscoveryResource:
        """What discovery looks for, from HUB_ASSETS_PIPELINE_TAGS and the filter settings."""
        return cls(
            pipeline_tags=settings.pipeline_tags,
            licenses=settings.licenses,
            libraries=settings.libraries,
            require_safetensors=settings.require_safetensors,
            weight_formats=settings.weight_formats,
            min_downloads=settings.min_downloads,
            min_likes=settings.min_likes,
        )


class TrustResource(ConfigurableResource):
    """Where and how trust metrics run, and which quality-gate config applies."""

    work_dir: str = Field(
        default=str(default("work_dir")), description="Snapshots and scanned files."
    )
    gate_config: str | None = Field(default=None, description="Gate config file (YAML).")
    devices_file: str | None = Field(default=None, description="Device profiles (YAML).")
    context_length: int = Field(
        default=default("context_length"), description="Tokens the RAM estimate holds."
    )
    run_reproducibility: bool = Field(
        default=default("repro"), description="Run each model once; false: metadata-only scoring."
    )
    reproducibility_timeout_s: float = Field(default=default("repro_timeout_s"))
    reproducibility_memory_mb: int = Field(default=default("repro_memory_mb"))
    reproducibility_max_gb: float = Field(default=default("repro_max_gb"))
    snapshot_cache_gb: float = Field(
        default=default("snapshot_cache_gb"),
        description="Cap of the verified snapshot store (LRU eviction).",
    )
    max_file_gb: float = Field(
        default=default("max_file_gb"),
        description="A repo advertising a bigger file is rejected (unsafe_repo).",
    )

    def snapshots(
        self, progress: Callable[[str, str, int, int], None] | None = None
    ) -> SnapshotStore:
        """The one verified snapshot store every stage reads model files from; downloads
        reported to `progress` (stage, file, done, size), e.g. a run log's lines."""
        return store_from(Path(self.work_dir), self.snapshot_cache_gb, self.max_file_gb, progress)

    def scoring_context(
        self,
        client: HubClient,
        progress: Callable[[str, str, int, int], None] | None = None,
        **evidence: object,
    ) -> ScoringContext:
        """What `score_model` needs from this resource (work folder, snapshots, limits, the
        gate's target device and allowed uses), plus the registry's evidence: parents,
        previous values, measurement, ancestors."""
        gate = self.load_gate_config()
        return ScoringContext(
            client=client,
            work_dir=Path(self.work_dir),
            snapshots=self.snapshots(progress),
            now=utc_now(),
            target_device=gate.target_device,
            devices=self.devices(),
            context_length=self.context_length,
            limits=self.limits(),
            allowed_uses=gate.allowed_uses,
            scanner_allowlist=gate.scanner_allowlist,
            licence_findings_fail=gate.licence_findings_fail,
            contaminated_evidence=gate.contaminated_evidence,
            **{"run_reproducibility": self.run_reproducibility, **evidence},
        )

    def devices(self) -> dict[str, DeviceProfile]:
        """The device profiles size_score and `recommend` judge fit on."""
        return load_devices(self.devices_file)

    def limits(self) -> ReproducibilityLimits:
        return ReproducibilityLimits(
            timeout_s=self.reproducibility_timeout_s,
            memory_mb=self.reproducibility_memory_mb,
            max_weight_bytes=int(self.reproducibility_max_gb * 1e9),
        )

    def load_gate_config(self) -> GateConfig:
        return load_gate_config(self.gate_config, self.devices())

    @classmethod
    def from_settings(cls, settings: Settings) -> TrustResource:
        """Work folder, snapshot store, reproducibility limits and the gate config."""
        return cls(
            work_dir=str(settings.work_dir),
            gate_config=str(settings.gate_config) if settings.gate_config else None,
            run_reproducibility=settings.repro,
            reproducibility_timeout_s=settings.repro_timeout_s,
            reproducibility_memory_mb=settings.repro_memory_mb,
            reproducibility_max_gb=settings.repro_max_gb,
            snapshot_cache_gb=settings.snapshot_cache_gb,
            max_file_gb=settings.max_file_gb,
            devices_file=str(settings.devices) if settings.devices else None,
            context_length=settings.context_length,
        )


class PackageStoreResource(ConfigurableResource):
    """Where packages go: a local folder (default data/packages) or s3://bucket/prefix.

    S3 endpoint and credentials come from the standard AWS settings; never from here.
    """

    uri: str = Field(
        default=default("package_store"), description="Package store (HUB_ASSETS_PACKAGE_STORE)."
    )
    s3_endpoint: str | None = Field(default=None, description="S3-compatible endpoint URL.")
    signing_key: str | None = Field(default=None, description="EC private key (PEM) to sign.")
    signing_key_password: str | None = Field(default=None, description="Its password.")
    signing_cert: str | None = Field(default=None, description="Certificate mode: cert.")
    signing_cert_chain: list[str] = Field(default=[], description="Certificate chain.")

    def get(self) -> PackageStore:
        """The store, with the S3 endpoint when one is configured."""
        options = {"endpoint_url": self.s3_endpoint} if self.s3_endpoint else None
        return PackageStore(self.uri, options)

    def signing(self) -> SigningConfig | None:
        """How packages are signed; None when no key is configured (they are then made
        unsigned, and say so)."""
        if not self.signing_key:
            return None
        return SigningConfig(
            Path(self.signing_key),
            self.signing_key_password or None,
            Path(self.signing_cert) if self.signing_cert else None,
            tuple(Path(c) for c in self.signing_cert_chain),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> PackageStoreResource:
        """The package store URI, for S3 the endpoint of AWS_ENDPOINT_URL(_S3), and the
        signing key (its password through EnvVar: never in the run's config)."""
        return cls(
            uri=settings.package_store,
            s3_endpoint=settings.s3_endpoint,
            signing_key=str(settings.signing_key) if settings.signing_key else None,
            signing_key_password=EnvVar("HUB_ASSETS_SIGNING_KEY_PASSWORD")
            if settings.signing_key_password
            else None,
            signing_cert=str(settings.signing_cert) if settings.signing_cert else None,
            signing_cert_chain=list(settings.signing_cert_chain),
        )


class EvaluationResource(ConfigurableResource):
    """Shadow evaluations: where pinned datasets are cached, how much to evaluate."""

    cache_dir: str = Field(
        default=str(default("eval_cache_dir")), description="Pinned datasets as Parquet."
    )
    sample_limit: int | None = Field(
        default=default("eval_sample_limit"), description="Evaluate at most N samples."
    )
    batch_size: int = Field(default=default("eval_batch_size"), description="Inference batch size.")
    regression_alpha: float = Field(
        default=default("regression_alpha"), description="Regression check's error rate."
    )
    regression_min_samples: int = Field(
        default=default("regression_min_samples"), description="Fewest samples compared."
    )
    overlap_max_rows: int = Field(
        default=default("overlap_max_rows"), description="Training rows read per dataset."
    )
    overlap_budget_s: float = Field(
        default=default("overlap_budget_s"), description="Seconds of overlap checking."
    )
    qa_dataset: str | None = Field(default=None, description="QA pin REPO@REVISION.")
    retrieval_dataset: str | None = Field(default=None, description="Retrieval pin.")

    def pins(self) -> tuple[DatasetPin, ...]:
        """The pinned evaluation datasets (the defaults unless a pin is configured)."""
        return pins_from(self.qa_dataset, self.retrieval_dataset)

    def generation_config(self) -> GenerationConfig:
        return GenerationConfig(batch_size=self.batch_size)

    def overlap_budget(self) -> OverlapBudget | None:
        """How much training data the measured-overlap check may read (None: it is off)."""
        if not self.overlap_max_rows or not self.overlap_budget_s:
            return None
        return OverlapBudget(self.overlap_max_rows, self.overlap_budget_s)

    @classmethod
    def from_settings(cls, settings: Settings) -> EvaluationResource:
        """Dataset cache, pins, sample limit and batch size."""
        return cls(
            cache_dir=str(settings.eval_cache_dir),
            sample_limit=settings.eval_sample_limit,
            batch_size=settings.eval_batch_size,
            regression_alpha=settings.regression_alpha,
            regression_min_samples=settings.regression_min_samples,
            overlap_max_rows=settings.overlap_max_rows,
            overlap_budget_s=settings.overlap_budget_s,
            qa_dataset=settings.qa_dataset,
            retrieval_dataset=settings.retrieval_dataset,
        )


class InferenceApiResource(ConfigurableResource):
    """The inference API that evaluates models too large to run here, and its budget.

    Its token is the `hub` resource's (the usual Hub token resolution when unset).
    """

    mode: str = Field(
        default=default("inference_api"), description="auto: models over the local limit; off."
    )
    models: list[str] = Field(
        default=list(default("inference_api_models")),
        description="Always evaluated through the API.",
    )
    base_url: str | None = Field(default=None, description="Router; unset: the Hub's.")
    provider: str = Field(
        default=default("inference_api_provider"), description="Provider route segment."
    )
    median_ms: float = Field(
        default=default("inference_api_median_ms"), description="Median latency budget."
    )
    p95_ms: float = Field(
        default=default("inference_api_p95_ms"), description="p95 budget = request timeout."
    )
    per_minute: int = Field(
        default=default("inference_api_per_minute"), description="Requests a minute."
    )
    per_hour: int = Field(
        default=default("inference_api_per_hour"), description="Requests an hour."
    )
    breaker_misses: int = Field(
        default=default("inference_api_breaker_misses"), description="Misses to trip."
    )
    cooldown_s: float = Field(
        default=default("inference_api_cooldown_s"), description="Breaker cool-down."
    )
    min_coverage: float = Field(
        default=default("inference_api_min_coverage"), description="To be measured."
    )
    run_budget_s: float = Field(
        default=default("inference_api_run_budget_s"), description="Per evaluation."
    )
    samples: int | None = Field(default=default("inference_api_samples"), description="First N.")
    batch_size: int = Field(
        default=default("inference_api_batch_size"), description="Texts/request."
    )

    def config(self, hub: HubResource) -> InferenceApiConfig:
        """The API's configuration, at `base_url` or the router of `hub`'s endpoint."""
        return InferenceApiConfig(
            base_url=self.base_url or router_for(hub.endpoint),
            provider=self.provider,
            budget=ApiBudget(
                median_ms=self.median_ms,
                p95_ms=self.p95_ms,
                per_minute=self.per_minute,
                per_hour=self.per_hour,
                breaker_misses=self.breaker_misses,
                cooldown_s=self.cooldown_s,
                min_coverage=self.min_coverage,
                run_budget_s=self.run_budget_s,
            ),
            batch_size=self.batch_size,
            samples=self.samples,
            mode=self.mode,
            models=tuple(self.models),
            token=hub.token or None,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> InferenceApiResource:
        """HUB_ASSETS_INFERENCE_API_* (docs/configuration.md)."""
        return cls(
            mode=settings.inference_api,
            models=list(settings.inference_api_models),
            base_url=settings.inference_api_url,
            provider=settings.inference_api_provider,
            median_ms=settings.inference_api_median_ms,
            p95_ms=settings.inference_api_p95_ms,
            per_minute=settings.inference_api_per_minute,
            per_hour=settings.inference_api_per_hour,
            breaker_misses=settings.inference_api_breaker_misses,
            cooldown_s=settings.inference_api_cooldown_s,
            min_coverage=settings.inference_api_min_coverage,
            run_budget_s=settings.inference_api_run_budget_s,
            samples=settings.inference_api_samples,
            batch_size=settings.inference_api_batch_size,
        )


class PublishResource(ConfigurableResource):
    """Where evaluation reports and registry cards are published: a Hub organisation,
    through the `hub` resource's endpoint and token (which must have the write role)."""

    org: str | None = Field(
        default=None, description="Hub organisation to publish to (HUB_ASSETS_PUBLISH_ORG)."
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> PublishResource:
        """The organisation of HUB_ASSETS_PUBLISH_ORG (unset: nothing is published)."""
        return cls(org=settings.publish_org)
