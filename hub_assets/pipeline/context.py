"""The pipeline: every stage a model goes through, over one object built from the settings.

`Pipeline.from_settings(settings)` is the one place the settings become the things the
stages use (the Hub client, the registry, the snapshot store, the gate config, the
package store, the evaluation pins and limits, the inference API). The Dagster resource
(`resources.PipelineResource`), the CLI and the registry service each hold one and call
one method per action; the methods call the stage functions of `pipeline/`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import cache, cached_property, lru_cache, partial
from pathlib import Path
from typing import Any

from hub_assets.discovery.filters import CandidateFilter
from hub_assets.evaluation.api_budget import ApiBudget
from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.contamination import OverlapBudget
from hub_assets.evaluation.datasets import CachedDataset, DatasetPin, cache_dataset, pins_from
from hub_assets.evaluation.inference_api import InferenceApiConfig, router_for
from hub_assets.gate.config import (
    DEFAULT_GATE_CONFIG,
    GateConfig,
    load_gate_config,
    parse_gate_config,
)
from hub_assets.hardware.fit import DeviceProfile, load_devices
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.hub.snapshots import SnapshotStore, store_from
from hub_assets.hub.untrusted import RepoLimits
from hub_assets.metrics.evidence import utc_now
from hub_assets.metrics.reproducibility import ReproducibilityLimits
from hub_assets.metrics.scoring import ScoringContext
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.discover import DiscoveryOutcome, candidate_filter_from, discover
from hub_assets.pipeline.evaluate import ShadowOutcome, evaluate_on_every_set
from hub_assets.pipeline.gate import GatedRevision, gate_revision
from hub_assets.pipeline.gate_changes import applied_gate
from hub_assets.pipeline.ingest import IngestResult, ingest_model
from hub_assets.pipeline.metadata import RecordedMetadata, record_metadata
from hub_assets.pipeline.score import (
    ScoredRevision,
    SecurityVerdict,
    judge_revision_security,
    score_revision,
)
from hub_assets.proof.signature import SigningConfig
from hub_assets.registry.gate_configs import AppliedGateConfig
from hub_assets.registry.location import registry_at
from hub_assets.registry.store import Registry
from hub_assets.settings import Settings

Progress = Callable[[str, str, int, int], None]  # (stage, file, done, size)

_OPEN_REGISTRIES: dict[tuple[int, str, float], Registry] = {}
_OPEN_REGISTRIES_LOCK = threading.Lock()


def shared_registry(location: str, lock_timeout_s: float) -> Registry:
    """This process's registry at `location`: one object per process, shared by every step
    and thread, since opening the shared registry costs ~250 ms (attaching PostgreSQL and
    building the views) and a stage asks for it several times per model."""
    key = (os.getpid(), location, lock_timeout_s)
    with _OPEN_REGISTRIES_LOCK:
        if key not in _OPEN_REGISTRIES:
            _OPEN_REGISTRIES[key] = registry_at(location, lock_timeout_s=lock_timeout_s)
        return _OPEN_REGISTRIES[key]


@lru_cache(maxsize=32)
def _parsed_gate(text: str, source: str, devices: tuple[str, ...]) -> GateConfig:
    """A gate config's text parsed and validated once (every model page asks for it)."""
    return parse_gate_config(text, source, devices)


def _device_names(path: Path | None) -> tuple[str, ...]:
    """The device profiles' names, read again only when their file changes."""
    if path is None:
        return _device_names_of(None, None)
    try:
        st = os.stat(path)
    except OSError:
        return tuple(load_devices(str(path)))  # the loader says what is wrong, in words
    return _device_names_of(str(path), (st.st_mtime_ns, st.st_size, st.st_ino))


@cache
def _device_names_of(path: str | None, stamp: tuple | None) -> tuple[str, ...]:
    return tuple(load_devices(path))


class Pipeline:
    """The stages of one deployment, with everything they use made from one `Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        """The pipeline these settings describe; what it holds is built when first used."""
        return cls(settings)

    # -- what the stages use, each built here only --------------------------------------

    @cached_property
    def hub_settings(self) -> HubSettings:
        """The Hub client's settings (HUB_ASSETS_* and the Hub's own HF_* variables)."""
        s = self.settings
        return HubSettings(
            endpoint=s.hub_endpoint,
            token=s.token(),
            requests_per_second=s.hub_rate_limit,
            max_retries=s.hub_max_retries,
            cache_dir=Path(s.cache_dir),
            cache_ttl_s=s.cache_ttl_hours * 3600,
            offline=s.hf_hub_offline,
            limits=RepoLimits(
                max_files=s.max_files,
                max_file_bytes=int(s.max_file_gb * 1e9),
                max_repo_bytes=int(s.max_repo_gb * 1e9),
            ),
            redirect_hosts=tuple(s.hub_redirect_hosts),
            stage_deadline_s=s.stage_deadline_s,
        )

    def client(self) -> HubClient:
        """A new Hub client (its own rate limit, counters and stage deadline)."""
        return HubClient(self.hub_settings)

    @property
    def endpoint(self) -> str:
        return self.settings.hub_endpoint

    @property
    def offline(self) -> bool:
        return self.settings.hf_hub_offline

    @property
    def registry(self) -> Registry:
        """The registry (a DuckDB file or the shared PostgreSQL one), one per process."""
        return shared_registry(str(self.settings.registry), self.settings.registry_lock_timeout_s)

    @property
    def work_dir(self) -> Path:
        return Path(self.settings.work_dir)

    def snapshots(self, progress: Progress | None = None) -> SnapshotStore:
        """The one verified snapshot store every stage reads model files from; downloads
        reported to `progress` (stage, file, done, size), e.g. a run log's lines."""
        s = self.settings
        return store_from(self.work_dir, s.snapshot_cache_gb, s.max_file_gb, progress)

    def devices(self) -> dict[str, DeviceProfile]:
        """The device profiles size_score and `recommend` judge fit on."""
        return load_devices(str(self.settings.devices) if self.settings.devices else None)

    def gate_config(self) -> GateConfig:
        """The gate: the config applied last through the registry (`hub-assets gate
        apply`), else HUB_ASSETS_GATE_CONFIG's file or the built-in one. Read again at
        each call (an applied config or an edited file applies to the next decision);
        the same text is parsed once."""
        return self.gate_config_given(applied_gate(self.registry))

    def gate_config_given(self, applied: AppliedGateConfig | None) -> GateConfig:
        """`gate_config` with the registry's applied config already read (by a caller that
        holds a connection)."""
        names = _device_names(self.settings.devices)
        if applied is not None:
            source = f"the registry's gate {applied.version} (applied by {applied.applied_by})"
            return _parsed_gate(applied.config_yaml, source, names)
        path = Path(self.settings.gate_config or DEFAULT_GATE_CONFIG)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):  # the loader says what is wrong, in words
            return load_gate_config(path, names)
        return _parsed_gate(text, str(path), names)

    @cached_property
    def limits(self) -> ReproducibilityLimits:
        s = self.settings
        return ReproducibilityLimits(
            timeout_s=s.repro_timeout_s,
            memory_mb=s.repro_memory_mb,
            max_weight_bytes=int(s.repro_max_gb * 1e9),
        )

    def candidate_filter(self) -> CandidateFilter:
        return candidate_filter_from(self.settings)

    @property
    def pipeline_tags(self) -> list[str]:
        return list(self.settings.pipeline_tags)

    @cached_property
    def pins(self) -> tuple[DatasetPin, ...]:
        """The pinned evaluation datasets (the defaults unless a pin is configured)."""
        return pins_from(self.settings.qa_dataset, self.settings.retrieval_dataset)

    @property
    def eval_cache_dir(self) -> Path:
        return Path(self.settings.eval_cache_dir)

    def cache_dataset(self, pin: DatasetPin) -> CachedDataset:
        """One pinned evaluation dataset loaded through the Hub once, then kept as Parquet."""
        s = self.settings
        return cache_dataset(
            pin, s.hub_endpoint, self.eval_cache_dir, s.token(), offline=s.hf_hub_offline
        )

    def overlap_budget(self) -> OverlapBudget | None:
        """How much training data the measured-overlap check may read (None: it is off)."""
        s = self.settings
        if not s.overlap_max_rows or not s.overlap_budget_s:
            return None
        return OverlapBudget(s.overlap_max_rows, s.overlap_budget_s)

    def inference_api(self) -> InferenceApiConfig:
        """The inference API's configuration, at its URL or the router of the Hub's."""
        s = self.settings
        return InferenceApiConfig(
            base_url=s.inference_api_url or router_for(s.hub_endpoint),
            provider=s.inference_api_provider,
            budget=ApiBudget(
                median_ms=s.inference_api_median_ms,
                p95_ms=s.inference_api_p95_ms,
                per_minute=s.inference_api_per_minute,
                per_hour=s.inference_api_per_hour,
                breaker_misses=s.inference_api_breaker_misses,
                cooldown_s=s.inference_api_cooldown_s,
                min_coverage=s.inference_api_min_coverage,
                run_budget_s=s.inference_api_run_budget_s,
            ),
            batch_size=s.inference_api_batch_size,
            samples=s.inference_api_samples,
            mode=s.inference_api,
            models=tuple(s.inference_api_models),
            token=s.token(),
        )

    def package_store(self, uri: str | None = None) -> PackageStore:
        """The package store (or the one at `uri`), with the S3 endpoint when one is
        configured."""
        s = self.settings
        options = {"endpoint_url": s.s3_endpoint} if s.s3_endpoint else None
        return PackageStore(uri or s.package_store, options)

    def signing(self) -> SigningConfig | None:
        """How packages are signed; None when no key is configured (they are then made
        unsigned, and say so)."""
        s = self.settings
        if not s.signing_key:
            return None
        password = s.signing_key_password
        return SigningConfig(
            Path(s.signing_key),
            password.get_secret_value() if password else None,
            Path(s.signing_cert) if s.signing_cert else None,
            tuple(Path(c) for c in s.signing_cert_chain),
        )

    def scoring_context(
        self, client: HubClient, progress: Progress | None = None, **evidence: Any
    ) -> ScoringContext:
        """What `score_model` needs (work folder, snapshots, limits, the gate's target device
        and allowed uses), plus the registry's evidence: parents, previous values,
        measurement, ancestors."""
        gate = self.gate_config()
        return ScoringContext(
            client=client,
            work_dir=self.work_dir,
            snapshots=self.snapshots(progress),
            now=utc_now(),
            target_device=gate.target_device,
            devices=self.devices(),
            context_length=self.settings.context_length,
            limits=self.limits,
            allowed_uses=gate.allowed_uses,
            scanner_allowlist=gate.scanner_allowlist,
            licence_findings_fail=gate.licence_findings_fail,
            contaminated_evidence=gate.contaminated_evidence,
            **{"run_reproducibility": self.settings.repro, **evidence},
        )

    # -- one method per stage ------------------------------------------------------------

    def discover(self, client: HubClient, run_id: str, *, full: bool = False) -> DiscoveryOutcome:
        """An incremental (or `full`) discovery scan, recorded in the registry."""
        return discover(
            client,
            self.registry,
            run_id=run_id,
            pipeline_tags=self.pipeline_tags,
            candidate_filter=self.candidate_filter(),
            full=full,
        )

    def record_metadata(
        self, client: HubClient, model_id: str, run_id: str, *, resolve_latest: bool = False
    ) -> RecordedMetadata:
        """The model's metadata at its current revision, stored by sha."""
        return record_metadata(
            client, self.registry, model_id, run_id, resolve_latest=resolve_latest
        )

    def judge_security(
        self, client: HubClient, model_id: str, run_id: str, progress: Progress | None = None
    ) -> SecurityVerdict:
        """The current revision's security verdict, on its whole verified snapshot."""
        return judge_revision_security(
            client,
            self.registry,
            model_id,
            run_id,
            scoring_context=partial(self.scoring_context, progress=progress),
        )

    def score(
        self,
        client: HubClient,
        model_id: str,
        run_id: str,
        progress: Progress | None = None,
        *,
        revision: tuple[str, dict] | None = None,
        record: bool = True,
        **context: Any,
    ) -> ScoredRevision:
        """The revision's trust metrics (unchanged inputs reused); `context` overrides the
        scoring context's fields (e.g. `run_reproducibility`, `hub_reachable`)."""
        return score_revision(
            client,
            self.registry,
            model_id,
            run_id,
            pins=self.pins,
            scoring_context=partial(self.scoring_context, progress=progress, **context),
            revision=revision,
            record=record,
        )

    def evaluate(
        self, client: HubClient, model_id: str, run_id: str, progress: Progress | None = None
    ) -> list[ShadowOutcome]:
        """The shadow evaluation of the current revision on every pinned set of its task."""
        s = self.settings
        return evaluate_on_every_set(
            model_id,
            client=client,
            registry=self.registry,
            snapshots=self.snapshots(progress),
            pins=self.pins,
            cache_dir=self.eval_cache_dir,
            config=GenerationConfig(batch_size=s.eval_batch_size),
            sample_limit=s.eval_sample_limit,
            max_weight_bytes=self.limits.max_weight_bytes,
            run_id=run_id,
            regression_alpha=s.regression_alpha,
            regression_min_samples=s.regression_min_samples,
            offline=s.hf_hub_offline,
            api=self.inference_api(),
            overlap=self.overlap_budget(),
        )

    def gate(self, model_id: str, run_id: str, config: GateConfig | None = None) -> GatedRevision:
        """The gate's decision on the current revision, from stored evidence."""
        return gate_revision(self.registry, model_id, config or self.gate_config(), run_id)

    def ingest(
        self,
        client: HubClient,
        model_id: str,
        run_id: str,
        *,
        version: str | None = None,
        description: str | None = None,
        progress: Any = None,
        wait_for_claim_s: float = 0.0,
    ) -> IngestResult:
        """The gated revision downloaded, verified, packaged, signed and recorded."""
        return ingest_model(
            client,
            self.registry,
            self.package_store(),
            model_id,
            version=version,
            description=description,
            run_id=run_id,
            work_dir=self.work_dir,
            snapshots=self.snapshots(),
            progress=progress,
            signing=self.signing(),
            wait_for_claim_s=wait_for_claim_s,
        )
