"""Ingestion: `POST /package/ingest-huggingface`, `POST /artifact/ingest` and polling."""

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from hub_assets.errors import HTTP_STATUSES
from hub_assets.hub.ids import check_model_id
from hub_assets.registry import packages as reg_packages
from hub_assets.service.context import ServiceContext, Strict


class IngestBody(Strict):
    model_id: str = Field(max_length=200)
    version: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=2000)


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
                "metrics": package.manifest.get("metrics", {}),
                "request_id": rid,
            }
        )

    @app.post("/package/ingest-huggingface", tags=["ingestion"])
    def ingest(body: IngestBody, request: Request, who: Uploader) -> JSONResponse:
        """Ingest a Hub model: the same ingest request as `hub-assets ingest`, waited for up
        to HUB_ASSETS_API_INGEST_WAIT_S (then 202 and a request to poll)."""
        from dagster import DagsterInstance

        from hub_assets.local_runs import see_request_through
        from hub_assets.packaging.package import check_version

        check_model_id(body.model_id)
        if body.version is not None:
            check_version(body.version)
        with ctx.registry.write() as con:
            rid = reg_packages.add_request(con, body.model_id, body.version or "", body.description)
        with DagsterInstance.get() as instance:
            row = see_request_through(instance, ctx.registry, rid, ctx.settings.api_ingest_wait_s)
        answer = request_answer(row)
        ctx.audit(
            request,
            who.username,
            "ingest",
            body.model_id,
            row["outcome"] or row["status"],
            answer.status_code,
            f"request {rid}",
        )
        return answer

    @app.get("/ingest-requests/{request_id}", tags=["ingestion"])
    def ingest_request(request_id: int, who: Reader) -> JSONResponse:
        """An ingest request's outcome (200 / 4xx / 5xx as the ingestion answered), or 202
        while it runs."""
        with ctx.registry.read() as con:
            row = reg_packages.get_request(con, request_id)
        if row is None:
            raise HTTPException(404, f"No ingest request {request_id}.")
        return request_answer(row)
