"""Every setting of the product, read from the environment once, in one place.

`load_settings()` is called once per entry point (the Dagster definitions, each CLI
command); resources and the CLI are built from the object it returns, and no other module
reads `os.environ`. docs/configuration.md lists the same settings for users.

pydantic-settings rather than Dagster `EnvVar`: the CLI and the registry service need the
same values outside Dagster, and it validates each value with its type and bounds, so a bad
value is refused at start-up with the variable's name instead of failing mid-run.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from hub_assets.errors import InvalidRepoIdError, RegistryError, SettingsError
from hub_assets.ids import validate_repo_id

PREFIX = "HUB_ASSETS_"
DEFAULT_HUB_ENDPOINT = "http://127.0.0.1:8765"
# The Hub's free API quota is 1,000 requests per 5 minutes (3.3/s): stay under it.
DEFAULT_REQUESTS_PER_SECOND = 3.0
DEFAULT_REGISTRY_PATH = "data/registry.duckdb"
# HUB_ASSETS_REGISTRY values that name the shared registry rather than a file
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# How long a registry writer waits for another (HUB_ASSETS_REGISTRY_LOCK_TIMEOUT_S).
DEFAULT_LOCK_TIMEOUT_S = 120.0
# What discovery looks for (HUB_ASSETS_PIPELINE_TAGS, _LICENSES, _LIBRARIES, _WEIGHT_FORMATS)
DEFAULT_PIPELINE_TAGS = (
    "text-generation",
    "text2text-generation",
    "question-answering",
    "feature-extraction",
    "sentence-similarity",
)
DEFAULT_LICENSES = (
    "apache-2.0",
    "mit",
    "bsd-3-clause",
    "openrail",
    "openrail++",
    "*-openrail-*",
    "openrail-*",
)
DEFAULT_LIBRARIES = ("transformers", "sentence-transformers")
DEFAULT_WEIGHT_FORMATS = ("safetensors",)
_CRON = re.compile(r"^\S+ \S+ \S+ \S+ \S+$")

CsvList = Annotated[list[str], NoDecode]


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """The product's settings: `HUB_ASSETS_*` variables and the Hub's own `HF_*` ones."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True
    )

    # The Hub
    hub_endpoint: str = Field(
        default=DEFAULT_HUB_ENDPOINT,
        validation_alias=_env("HUB_ASSETS_HUB_ENDPOINT", "HF_ENDPOINT"),
        description="Hub base URL (the Hub's own HF_ENDPOINT when unset).",
    )
    hf_token: SecretStr | None = Field(
        default=None,
        validation_alias="HF_TOKEN",
        description="Hub token; never logged. Unset: huggingface_hub's own resolution.",
    )
    hf_hub_offline: bool = Field(default=False, validation_alias="HF_HUB_OFFLINE")
    hub_rate_limit: float = Field(default=DEFAULT_REQUESTS_PER_SECOND, ge=0)
    hub_max_retries: int = Field(default=5, ge=0, le=50)
    cache_dir: Path = Path("data/cache/hub")
    cache_ttl_hours: float = Field(default=24.0, ge=0)
    # The registry
    # a DuckDB file, or postgresql://USER@HOST:PORT/DB for the shared registry
    registry: str = DEFAULT_REGISTRY_PATH
    registry_lock_timeout_s: float = Field(default=DEFAULT_LOCK_TIMEOUT_S, gt=0)
    # Discovery
    pipeline_tags: CsvList = list(DEFAULT_PIPELINE_TAGS)
    licenses: CsvList = list(DEFAULT_LICENSES)
    libraries: CsvList = list(DEFAULT_LIBRARIES)
    require_safetensors: bool = True
    weight_formats: CsvList = ["safetensors"]  # safetensors, gguf: one of them is needed
    min_downloads: int = Field(default=0, ge=0)
    min_likes: int = Field(default=0, ge=0)
    discovery_cron: str = "0 1 * * *"
    # Trust metrics, snapshots and the gate
    work_dir: Path = Path("data/work")
    gate_config: Path | None = None
    repro: bool = True  # false: metadata-only scoring, the model is never run (reported 0)
    repro_timeout_s: float = Field(default=180.0, gt=0)
    repro_memory_mb: int = Field(default=4096, ge=256)
    repro_max_gb: float = Field(default=1.0, ge=0)
    snapshot_cache_gb: float = Field(default=20.0, gt=0)
    max_file_gb: float = Field(default=50.0, gt=0)
    # A repo over these is refused from its listing, before any byte is fetched
    max_repo_gb: float = Field(default=200.0, gt=0)
    max_files: int = Field(default=10_000, ge=1, le=1_000_000)
    # wall-clock limit of one stage's Hub work for one model (each request has its own)
    stage_deadline_s: float = Field(default=3600.0, gt=0)
    # hosts (".example.com": its subdomains) a Hub file request may be redirected to,
    # beyond the Hub's own (and huggingface.co's CDN for huggingface.co)
    hub_redirect_hosts: CsvList = []
    # Hardware fit: device profiles (YAML; default hub_assets/hardware/devices.yaml) and the
    # context length the RAM estimate's KV cache is sized for
    devices: Path | None = None
    context_length: int = Field(default=4096, gt=0, le=10_000_000)
    # Packages
    package_store: str = "data/packages"
    s3_endpoint: str | None = Field(
        default=None, validation_alias=_env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    )
    # Proof: signing packages, verifying them (hub-assets verify, the mirror, fetch)
    signing_key: Path | None = Field(default=None, description="EC private key (PEM).")
    signing_key_password: SecretStr | None = Field(default=None, repr=False)
    signing_cert: Path | None = Field(default=None, description="Certificate mode: cert.")
    signing_cert_chain: CsvList = []
    verify_key: Path | None = Field(default=None, description="Public key packages must match.")
    # Shadow evaluation
    qa_dataset: str | None = None
    retrieval_dataset: str | None = None
    eval_cache_dir: Path = Path("data/eval")
    eval_sample_limit: int | None = Field(default=None, gt=0)
    eval_batch_size: int = Field(default=16, ge=1, le=4096)
    # the regression check: the family-wise error rate over a task's metrics (Holm), and
    # the fewest paired samples it compares (fewer: "not compared", never "passed")
    regression_alpha: float = Field(default=0.05, gt=0, lt=1)
    regression_min_samples: int = Field(default=30, ge=1)
    # the measured-overlap check: rows read of each declared training dataset, and the
    # seconds it may take per evaluation (docs/evaluation.md)
    overlap_max_rows: int = Field(default=200_000, ge=0)
    overlap_budget_s: float = Field(default=120.0, ge=0)
    shadow_eval_cron: str = "0 2 * * *"
    # Shadow evaluation through an inference API (models over the local limit, or listed)
    inference_api: Literal["auto", "off"] = "auto"
    inference_api_models: CsvList = []
    inference_api_url: str | None = Field(
        default=None, description="Router base URL; unset: the Hub's (router.huggingface.co)."
    )
    inference_api_provider: str = Field(default="hf-inference", pattern=r"^[a-z0-9-]+$")
    inference_api_median_ms: float = Field(default=500.0, gt=0)
    inference_api_p95_ms: float = Field(default=800.0, gt=0)
    inference_api_per_minute: int = Field(default=10, ge=0)
    inference_api_per_hour: int = Field(default=100, ge=0)
    inference_api_breaker_misses: int = Field(default=3, ge=0)
    inference_api_cooldown_s: float = Field(default=60.0, ge=0)
    inference_api_min_coverage: float = Field(default=0.8, ge=0, le=1)
    inference_api_run_budget_s: float = Field(default=1800.0, gt=0)
    inference_api_samples: int | None = Field(default=100, gt=0)
    inference_api_batch_size: int = Field(default=16, ge=1, le=256)
    # The registry service (hub-assets serve)
    admin_password: SecretStr | None = Field(default=None, repr=False)
    metrics_public: bool = True
    api_session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    api_ingest_wait_s: float = Field(default=600.0, ge=0)
    api_max_body_kb: int = Field(default=64, ge=1, le=10_240)
    # the approver of a revision may not be whoever asked for its ingestion (promote)
    two_person_rule: bool = True
    # proxies (IPs or CIDRs) whose X-Forwarded-For the service believes; none by default
    trusted_proxies: CsvList = []
    # the service's address as its users reach it: the Dagster UI's evidence links point here
    service_url: str = "http://127.0.0.1:8000"
    # Publishing evaluation reports and registry cards to a Hub organisation
    publish_org: str | None = None
    # The curated mirror (hub-assets mirror serve, and /hub in the service)
    mirror_require_promoted: bool = False
    mirror_public: bool = True
    mirror_refresh_s: float = Field(default=2.0, ge=0, le=3600)
    # every mirror request kept in the registry (hub-assets usage, /metrics)
    mirror_access_log: bool = True
    # A judged model is `stale` when its latest evaluation (else its verdict) is older than
    # this (docs/operations.md)
    evidence_max_age_days: float = Field(default=7.0, gt=0, le=3650)
    # After a scanner upgrade (or an allowlist change), a security verdict made under the
    # earlier scanners is fresh this long; later it is `stale` (docs/operations.md)
    scan_grace_hours: float = Field(default=24.0, ge=0, le=8760)
    # Events out (docs/operations.md): each lifecycle change POSTed to these URLs, signed
    # with the Standard Webhooks secret (whsec_ and base64), retried with back-off
    webhook_urls: CsvList = []
    webhook_secret: SecretStr | None = Field(default=None, repr=False)
    webhook_retry_s: float = Field(default=1.0, gt=0, le=3600)
    webhook_retry_max_s: float = Field(default=600.0, gt=0, le=86400)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Events in: the secret the Hub sends in X-Webhook-Secret with its webhooks to the
    # service's POST /webhooks/hub (unset: the route answers 404)
    hub_webhook_secret: SecretStr | None = Field(default=None, repr=False)
    # policy profiles (YAML; docs/mirror.md, Profiles): the caller's token selects one;
    # unset: one policy for everyone, the gate config's
    mirror_profiles: Path | None = None
    # Where a run's steps execute (docs/deployment.md): this machine's processes, Celery
    # workers (broker and result backend from HUB_ASSETS_CELERY_BROKER / _BACKEND, read by
    # the executor and the workers from the environment only), or Kubernetes jobs
    executor: Literal["multiprocess", "in_process", "celery", "k8s"] = "multiprocess"
    max_concurrent_steps: int | None = Field(default=None, ge=1, le=1024)  # None: CPUs
    # model partitions per run of the nightly evaluation and of backfills
    models_per_run: int = Field(default=25, ge=1, le=1000)
    celery_broker: SecretStr | None = Field(default=None, repr=False)
    celery_backend: SecretStr | None = Field(default=None, repr=False)
    # The development Hub and Dagster's home (read by the CLI)
    hub_tokens: CsvList = Field(default=[], repr=False)
    dagster_home: Path | None = Field(default=None, validation_alias="DAGSTER_HOME")

    @field_validator(
        "pipeline_tags",
        "licenses",
        "libraries",
        "weight_formats",
        "hub_tokens",
        "inference_api_models",
        "signing_cert_chain",
        "hub_redirect_hosts",
        "trusted_proxies",
        "webhook_urls",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("discovery_cron", "shadow_eval_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if not _CRON.match(value.strip()):
            raise ValueError("expected a cron expression of five fields, e.g. '0 1 * * *'")
        return value.strip()

    @field_validator("qa_dataset", "retrieval_dataset")
    @classmethod
    def _pin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        for one in value.split(","):
            repo, sep, rev = one.strip().partition("@")
            if not sep or not rev:
                raise ValueError("expected REPO@REVISION[,REPO@REVISION...] (pinned revisions)")
            try:
                validate_repo_id(repo)
            except InvalidRepoIdError as e:
                raise ValueError(str(e)) from None
        return value

    @field_validator("hub_endpoint", "inference_api_url", "service_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("webhook_urls")
    @classmethod
    def _webhook_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not re.fullmatch(r"https?://[^/\s@]+(/\S*)?", url):
                raise ValueError(
                    f"expected http:// or https:// URLs without credentials; got {url!r}"
                )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().removeprefix("whsec_")
        try:
            key = base64.b64decode(raw + "==", validate=False)
        except ValueError:
            key = b""
        if len(key) < 24:
            raise ValueError(
                "expected a Standard Webhooks secret: whsec_ and at least 24 bytes in base64 "
                "(e.g. python -c \"import base64, os; print('whsec_' + "
                'base64.b64encode(os.urandom(32)).decode())")'
            )
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        if value.startswith(POSTGRES_SCHEMES):
            try:
                check_registry_url(value)
            except RegistryError as e:
                raise ValueError(str(e)) from None
        return value

    @model_validator(mode="after")
    def _webhooks_need_a_secret(self) -> Settings:
        if self.webhook_urls and self.webhook_secret is None:
            raise ValueError(
                "HUB_ASSETS_WEBHOOK_URLS needs HUB_ASSETS_WEBHOOK_SECRET: events are always signed"
            )
        return self

    @model_validator(mode="after")
    def _celery_needs_a_broker(self) -> Settings:
        if self.executor == "celery" and self.celery_broker is None:
            raise ValueError(
                "HUB_ASSETS_EXECUTOR=celery needs HUB_ASSETS_CELERY_BROKER (e.g. "
                "redis://HOST:6379/0), the broker its workers read"
            )
        return self

    def token(self) -> str | None:
        """The configured Hub token in clear, for the one call that needs it."""
        return self.hf_token.get_secret_value() if self.hf_token else None


# Fields whose values no message shows (a registry URL may carry a password by mistake).
SECRET_FIELDS = (
    "hf_token",
    "admin_password",
    "hub_tokens",
    "signing_key_password",
    "webhook_secret",
    "hub_webhook_secret",
    "celery_broker",
    "celery_backend",
    "registry",
)


def env_names(field: str) -> tuple[str, ...]:
    """The environment variable(s) that set one field, as a user writes them."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(str(a) for a in alias.choices)
    if isinstance(alias, str):
        return (alias,)
    return (PREFIX + field.upper(),)


def _field_of(loc: object) -> str:
    name = str(loc)
    for field in Settings.model_fields:
        if name == field or name in env_names(field):
            return field
    return name


def default(name: str) -> Any:
    """The default of setting `name`, written once in `Settings`: resources and the Hub
    client take their defaults from here rather than writing them again."""
    return Settings.model_fields[name].default


# Settings a resource's config may not carry: Dagster shows and stores run config, so
# these come from the environment only.
ENVIRONMENT_ONLY = tuple(f for f in SECRET_FIELDS if f != "registry")  # a URL is config


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Read and validate the environment, with `overrides` (setting name → value, e.g. a
    Dagster resource's config) on top; a bad value raises `SettingsError` naming the
    variable, its value and what is allowed."""
    given: dict[str, Any] = {}
    for name, value in (overrides or {}).items():
        if name not in Settings.model_fields:
            raise SettingsError(
                f"Unknown setting {name!r}: the names are Settings' fields, e.g. "
                "'hub_endpoint' for HUB_ASSETS_HUB_ENDPOINT (docs/configuration.md)."
            )
        if name in ENVIRONMENT_ONLY:
            raise SettingsError(
                f"Setting {name!r} is a secret: set {env_names(name)[0]} in the environment "
                "rather than in configuration Dagster shows and stores."
            )
        aliased = Settings.model_fields[name].validation_alias is not None
        given[env_names(name)[0] if aliased else name] = value
    try:
        return Settings(**given)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            message = err["msg"].removeprefix("Value error, ").rstrip(".")
            if not err["loc"]:  # a rule across settings: its message names them
                problems.append(message)
                continue
            field = _field_of(err["loc"][0])
            names = env_names(field) if field in Settings.model_fields else (field,)
            secret = field in SECRET_FIELDS
            shown = "<hidden>" if secret else repr(err.get("input"))
            problems.append(f"{' / '.join(names)}={shown}: {message}")
        raise SettingsError(
            "Invalid setting: "
            + "; ".join(problems)
            + ". Fix or unset the variable (docs/configuration.md lists what each accepts)."
        ) from None


def check_registry_url(url: str) -> str:
    """The URL if it can name the shared registry; a clear error if it carries a password
    (Dagster shows resource config) or no database."""
    parts = urlsplit(url)
    if parts.password:
        raise RegistryError(
            "HUB_ASSETS_REGISTRY must not carry a password (Dagster and the logs show it). "
            "Put it in PGPASSWORD or ~/.pgpass, which PostgreSQL's client library reads."
        )
    if "'" in url or any(c.isspace() for c in url):
        raise RegistryError(f"HUB_ASSETS_REGISTRY={url!r} is not a PostgreSQL URL.")
    if not parts.path.strip("/"):
        raise RegistryError(
            f"HUB_ASSETS_REGISTRY={url} names no database: use "
            "postgresql://USER@HOST:PORT/DATABASE."
        )
    return url
