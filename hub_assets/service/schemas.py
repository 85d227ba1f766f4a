"""What each route of the registry service answers, declared for `/openapi.json` and the
API page: the success bodies as models, and the error statuses each route can give (every
error body is a `Problem`)."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """Every error answer: what went wrong in words, and the outcome's name where the
    product classified it (`hub_assets/errors.py`)."""

    detail: str | list[Any] = Field(description="In words; a list of field errors for 422.")
    outcome: str | None = Field(default=None, description="e.g. gate_failed, not_found")


_WHY = {
    400: "Refused after judging: the gate failed, or the repo is unsafe or oversized.",
    401: "No valid bearer token (or a wrong password).",
    403: "The token lacks the permission this route needs.",
    404: "Not found.",
    409: "Conflicts with what exists (a package of this version or revision).",
    410: "The package was retired.",
    413: "The request body is over HUB_ASSETS_API_MAX_BODY_KB.",
    416: "The Range header cannot be served.",
    422: "Malformed input: an invalid id, version, query or body.",
    424: "The quality gate refused the model (the failing metrics are in the body).",
    429: "Too many failed logins; wait the Retry-After seconds.",
    502: "The Hub or the package store failed.",
    503: "Offline and not cached.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each error status it can answer, with its meaning."""
    return {s: {"model": Problem, "description": _WHY[s]} for s in statuses}


# The statuses every authenticated route can answer.
AUTHENTICATED = (401, 403, 422)


def json_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`errors` for a route whose own answer is not JSON (its errors still are)."""
    ref = {"$ref": "#/components/schemas/Problem"}
    return {
        s: {"description": _WHY[s], "content": {"application/json": {"schema": ref}}}
        for s in statuses
    }


def binary(description: str) -> dict[int | str, dict[str, Any]]:
    """A 200 whose body is a zip."""
    return {
        200: {
            "description": description,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    }


class Token(BaseModel):
    token: str = Field(description="A bearer token (shown once).")
    expires_at: datetime


class SearchHit(BaseModel):
    model_id: str
    status: str | None = None
    pipeline_tag: str | None = None
    license: str | None = None
    downloads: int | None = None
    matched: str = Field(description="id, tag or card: where `q` was found")


class SearchResults(BaseModel):
    q: str
    items: list[SearchHit]


class MetricValue(BaseModel):
    revision: str
    metric: str
    value: float
    fingerprint: str = Field(description="sha256 of the metric's inputs")
    code_version: str
    run_id: str


class ModelMetrics(BaseModel):
    model_id: str
    metrics: list[MetricValue]


class Sample(BaseModel):
    sample_id: str
    input: str = Field(description="The question with its context, or the query.")
    reference: str = Field(description="The reference answers, or the relevant passages.")
    prediction: str = Field(description="The model's answer, or its top-ranked passages.")
    score: float | None = Field(description="The task's primary metric; null: unanswered.")
    error: str | None


class Samples(BaseModel):
    model_id: str
    revision_sha: str
    eval_run_id: str
    task: str
    metric: str
    dataset: str = Field(description="repo@revision of the pinned dataset")
    total: int = Field(description="Samples in the evaluation (rows: the worst of them).")
    rows: list[Sample]


class DecisionEvent(BaseModel):
    model_id: str
    revision: str
    status: str
    reason: str


class HistoryEvent(BaseModel):
    at: str
    status: str
    reason: str | None
    revision: str | None
    run_id: str | None


class GateResult(BaseModel):
    passed: bool
    message: str
    failed_metrics: list[dict[str, Any]]
    config_version: str | None


class LicenceChain(BaseModel):
    chain: str | None
    obligations: dict[str, list[str]] | None
    findings: list[str] | None
    violations: list[str] | None
    passed: bool


class EvaluationSet(BaseModel):
    dataset: str
    contamination: str = Field(
        description="zero_shot, declared_overlap, measured_overlap or not_checked"
    )
    contamination_detail: str | None = None
    measured: str | None = Field(None, description="the primary metric with its interval")
    role: str = Field(
        description="evidence, refutes, set aside (contaminated) or not needed: what the "
        "gate's performance_claims made of it"
    )


class ModelHealthState(BaseModel):
    health: str = Field(description="ok, stale, at_risk or revoked (docs/operations.md).")
    reason: str
    revision: str | None = Field(description="The revision the health is about.")


class Model(BaseModel):
    model_id: str
    status: str
    revision: str | None
    history: list[HistoryEvent]
    metrics: dict[str, float]
    gate: GateResult | None
    licence_chain: LicenceChain | None
    evaluation_sets: list[EvaluationSet] = []
    health: ModelHealthState | None = Field(
        default=None, description="Under the current gate; None until the model is judged."
    )


class IngestedPackage(BaseModel):
    package_id: str
    name: str
    version: str
    model_id: str
    revision: str
    s3_path: str = Field(description="The package's storage URI.")
    net_score: float | None
    size_bytes: int
    sha256: str
    message: str
    outcome: str = Field(description="ingested, or already_packaged")
    metrics: dict[str, float]
    request_id: int


class PendingRequest(BaseModel):
    request_id: int
    status: str
    poll: str = Field(description="GET this to see the outcome.")


class Artifact(BaseModel):
    model_name: str
    artifact_id: str
    is_ingestible: bool
    all_scores: dict[str, float]
    latency_ms: int


class FailingMetric(BaseModel):
    metric: str
    score: float | None
    required: float
    gap: float | None


class ArtifactRefused(BaseModel):
    model_name: str
    is_ingestible: bool
    detail: str
    failing_metrics: list[FailingMetric]
    all_scores: dict[str, float]
    latency_ms: int


class PackageRecord(BaseModel):
    package_id: str
    name: str
    version: str
    model_id: str
    revision_sha: str
    uri: str
    size_bytes: int
    sha256: str
    net_score: float | None
    description: str | None
    created_at: datetime
    retired_at: datetime | None
    retired_by: str | None


class PackagePage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[PackageRecord]


class Retired(BaseModel):
    package_id: str
    status: str


class MirrorDownloads(BaseModel):
    caller: str = Field(description="A registry user, or anonymous.")
    model_id: str
    revision_sha: str | None
    downloads: int = Field(description="File GETs answered 200 or 206.")
    files: int = Field(description="Distinct files among them.")
    bytes: int
    first_at: str
    last_at: str


class MirrorRefusal(BaseModel):
    caller: str
    model_id: str | None
    revision: str | None = Field(description="The revision as asked (main, a tag, a sha).")
    refusal: str = Field(description="Why, as one word (gate_failed, retired, ...).")
    status: int
    requests: int
    last_at: str


class MirrorUsage(BaseModel):
    since: str | None
    model_id: str | None
    caller: str | None
    downloads: list[MirrorDownloads]
    refusals: list[MirrorRefusal]


class HubWebhookAnswer(BaseModel):
    status: str = Field(
        description="queued (a new ingest request), under_way (one was already pending or "
        "running), judged (that sha already has a verdict) or ignored (not a model content "
        "update)."
    )
    model_id: str | None = None
    request_id: int | None = None
    poll: str | None = Field(default=None, description="GET this to see the outcome.")
