"""Ingestion: `POST /package/ingest-huggingface`, `POST /artifact/ingest` and polling."""

import re
import time
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from hub_assets.errors import HTTP_STATUSES
from hub_assets.ids import check_model_id
from hub_assets.registry import packages as reg_packages
from hub_assets.registry.metrics import (
    latest_gate_result,
    require_current_revision,
    revision_metrics,
)
from hub_assets.service.context import ServiceContext, Strict
from hub_assets.service.schemas import (
    AUTHENTICATED,
    Artifact,
    ArtifactRefused,
    IngestedPackage,
    PendingRequest,
    errors,
)

_WHY_424 = "The quality gate refused the model: the failing metrics and their gaps."


class IngestBody(Strict):
    model_id: str = Field(max_length=200)
    version: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=2000)


class ArtifactBody(Strict):
    url: str = Field(max_length=500, description="https://huggingface.co/ORG/NAME or ORG/NAME")


Wait = Annotated[
    float | None, Query(ge=0, le=86_400, description="Seconds to wait for the outcome.")
]
_HUB_URL = re.compile(r"^https?://[^/\s]+/(?P<path>[^?#]*)")


def model_id_of(url: str) -> str:
    """The model id in a Hub URL (`https://huggingface.co/org/name[/tree/...]`) or an id."""
    m = _HUB_URL.match(url.strip())
    path = m.group("path") if m else url.strip()
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in ("models", "api"):
        parts = parts[1:] if parts[0] == "models" else parts[2:]
    candidate = (
        "/".join(parts[:2])
        if len(parts) >= 2 and parts[1] not in ("tree", "blob", "resolve")
        else (parts[0] if parts else "")
    )
    return check_model_id(candidate)


def add_ingestion_routes(app: FastAPI, ctx: ServiceContext) -> None:
    """Add the routes to `app`."""
    Reader = ctx.reader  # noqa: N806 - a type for route annotations
    Uploader = ctx.uploader  # noqa: N806 - a type for route annotations

    # -- ingestion -------------------------------------------------------------------------
    def request_answer(request_row: dict) -> JSONResponse:
        rid = request_row["request_id"]
        if request_row["status"] not in ("succeeded", "failed"):
            return JSONResponse(
                {
                    "request_id": rid,
                    "status": request_row["status"],
                    "poll": f"/ingest-requests/{rid}",
                },
                status_code=202,
                headers={"Location": f"/ingest-requests/{rid}"},
            )
        if request_row["status"] == "failed":
            outcome = request_row["outcome"] or "error"
            return JSONResponse(
                {"detail": request_row["message"], "outcome": outcome, "request_id": rid},
                status_code=HTTP_STATUSES.get(outcome, 500),
            )
        with ctx.registry.read() as con:
            package = reg_packages.find_package_by_id(con, request_row["package_id"])
        return JSONResponse(
            {
                "package_id": package.package_id,
                "name": package.name,
                "version": package.version,
                "model_id": package.model_id,
                "revision": package.revision_sha,
                "s3_path": package.uri,
                "net_score": package.net_score,
                "size_bytes": package.size_bytes,
                "sha256": package.sha256,
                "message": request_row["message"] or "Ingested.",
                "outcome": request_row["outcome"] or "ingested",
                "metrics": package.manifest.get("metrics", {}),
                "request_id": rid,
            }
        )

    def run_request(
        model_id: str,
        version: str | None,
        description: str | None,
        wait: float | None,
        who: str,
    ) -> dict:
        """Add an ingest request and see it through, or up to the wait (at most the
        configured one)."""
        from dagster import DagsterInstance

        from hub_assets.local_runs import see_request_through
        from hub_assets.packaging.package import check_version

        check_model_id(model_id)
        if version is not None:
            check_version(version)
        with ctx.registry.write() as con:
            rid = reg_packages.add_request(
                con, model_id, version or "", description, requested_by=who
            )
        with DagsterInstance.get() as instance:
            limit = ctx.settings.api_ingest_wait_s
            return see_request_through(
                instance, ctx.registry, rid, limit if wait is None else min(wait, limit)
            )

    @app.post(
        "/package/ingest-huggingface",
        tags=["ingestion"],
        response_model=IngestedPackage,
        responses={
            202: {"model": PendingRequest, "description": "Still running: poll the request."},
            **errors(*AUTHENTICATED, 400, 404, 409, 413, 502, 503),
        },
    )
    def ingest(
        body: IngestBody, request: Request, who: Uploader, wait: Wait = None
    ) -> JSONResponse:
        """Ingest a Hub model: the same ingest request as `hub-assets ingest`, waited for up
        to `wait` seconds (default and cap: HUB_ASSETS_API_INGEST_WAIT_S), then 202 and a
        request to poll."""
        row = run_request(body.model_id, body.version, body.description, wait, who.username)
        answer = request_answer(row)
        ctx.audit(
            request,
            who.username,
            "ingest",
            body.model_id,
            row["outcome"] or row["status"],
            answer.status_code,
            f"request {row['request_id']}",
        )
        return answer

    @app.post(
        "/artifact/ingest",
        tags=["ingestion"],
        status_code=201,
        response_model=Artifact,
        responses={
            200: {"model": Artifact, "description": "The revision was already packaged."},
            202: {"model": PendingRequest, "description": "Still running: poll the request."},
            424: {"model": ArtifactRefused, "description": _WHY_424},
            **errors(*AUTHENTICATED, 400, 404, 409, 413, 502, 503),
        },
    )
    def ingest_artifact(
        body: ArtifactBody, request: Request, who: Uploader, wait: Wait = None
    ) -> JSONResponse:
        """Ingest by Hub URL or id: 201 with every score, or 424 with the failing metrics
        and their gaps to the thresholds."""
        started = time.monotonic()
        model_id = model_id_of(body.url)
        row = run_request(model_id, None, None, wait, who.username)
        latency_ms = round((time.monotonic() - started) * 1000)
        if row["status"] == "succeeded":
            with ctx.registry.read() as con:
                package = reg_packages.find_package_by_id(con, row["package_id"])
            answer = JSONResponse(
                {
                    "model_name": model_id,
                    "artifact_id": package.package_id,
                    "is_ingestible": True,
                    "all_scores": package.manifest.get("metrics", {}),
                    "latency_ms": latency_ms,
                },
                # asked again for a packaged revision: its package, nothing created
                status_code=200 if row["outcome"] == "already_packaged" else 201,
            )
        elif row["status"] == "failed" and row["outcome"] == "gate_failed":
            with ctx.registry.read() as con:
                sha, _ = require_current_revision(con, model_id)
                gate = latest_gate_result(con, model_id, sha) or {"failed_metrics": []}
                scores = {k: m.value for k, m in revision_metrics(con, model_id, sha).items()}
            failing = [
                {
                    "metric": f["metric"],
                    "score": f["score"],
                    "required": f["threshold"],
                    "gap": round(f["threshold"] - f["score"], 4),
                }
                for f in gate["failed_metrics"]
            ]
            answer = JSONResponse(
                {
                    "model_name": model_id,
                    "is_ingestible": False,
                    "detail": row["message"],
                    "failing_metrics": failing,
                    "all_scores": scores,
                    "latency_ms": latency_ms,
                },
                status_code=424,
            )
        else:
            answer = request_answer(row)
        ctx.audit(
            request,
            who.username,
            "ingest_artifact",
            model_id,
            row["outcome"] or row["status"],
            answer.status_code,
            f"request {row['request_id']}",
        )
        return answer

    @app.get(
        "/ingest-requests/{request_id}",
        tags=["ingestion"],
        response_model=IngestedPackage,
        responses={
            202: {"model": PendingRequest, "description": "Still running."},
            **errors(*AUTHENTICATED, 400, 404, 409, 502, 503),
        },
    )
    def ingest_request(request_id: int, who: Reader) -> JSONResponse:
        """An ingest request's outcome (200 / 4xx / 5xx as the ingestion answered), or 202
        while it runs."""
        with ctx.registry.read() as con:
            row = reg_packages.get_request(con, request_id)
        if row is None:
            raise HTTPException(404, f"No ingest request {request_id}.")
        return request_answer(row)
