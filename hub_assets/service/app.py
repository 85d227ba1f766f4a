"""The registry service: FastAPI over the registry, the package store and the pipeline.

(No `from __future__ import annotations` here: FastAPI reads the route annotations, some of
them local to `create_app`, at definition time.)

A client of the registry and of Dagster, never a second pipeline: ingestion adds an ingest
request, exactly as `hub-assets ingest` does, and waits for it. Every outcome's HTTP status
comes from `hub_assets.errors.HTTP_STATUSES`; every change writes an audit row.
"""

import logging
import re
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from hub_assets.errors import HTTP_STATUSES, HubAssetsError, outcome_of, plain_message
from hub_assets.hub.ids import check_model_id
from hub_assets.packaging.store import PackageStore
from hub_assets.registry import identity as reg_identity
from hub_assets.registry import packages as reg_packages
from hub_assets.registry.metrics import latest_gate_result, revision_metrics
from hub_assets.registry.models import append_status, status_history
from hub_assets.registry.store import Registry
from hub_assets.service.approvals import decide
from hub_assets.service.identity import Identity, Principal
from hub_assets.service.prometheus import RegistryCollector
from hub_assets.settings import Settings

log = logging.getLogger(__name__)
_PACKAGE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_bearer = HTTPBearer(
    auto_error=False, description="A token from POST /authenticate or `hub-assets tokens create`."
)


class Strict(BaseModel):
    """Request bodies refuse unknown fields (422)."""

    model_config = ConfigDict(extra="forbid")


class Credentials(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class IngestBody(Strict):
    model_id: str = Field(max_length=200)
    version: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=2000)


class Decision(Strict):
    reason: str = Field(min_length=1, max_length=500)
    revision: str = Field(min_length=40, max_length=40)


def create_app(settings: Settings, registry: Registry, store: PackageStore) -> FastAPI:
    """The service over one registry and package store (`hub-assets serve` builds them
    from the settings)."""
    app = FastAPI(
        title="hub-assets registry",
        version="1",
        description="Curated, evaluated, auditable models from the Hugging Face Hub.",
    )
    registry.ensure_schema()
    identity = Identity(registry, session_hours=settings.api_session_hours)
    app.state.identity = identity
    metrics_registry = CollectorRegistry(auto_describe=False)
    metrics_registry.register(RegistryCollector(registry))
    max_body = settings.api_max_body_kb * 1024

    @app.middleware("http")
    async def request_id_and_body_cap(request: Request, call_next):  # noqa: ANN202
        request.state.request_id = uuid.uuid4().hex
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > max_body):
            response: Response = JSONResponse(
                {"detail": f"Request body over {settings.api_max_body_kb} KiB."}, status_code=413
            )
        else:
            response = await call_next(request)
        response.headers["X-Request-ID"] = request.state.request_id
        return response

    @app.exception_handler(HubAssetsError)
    async def hub_assets_error(request: Request, e: HubAssetsError) -> JSONResponse:
        outcome = outcome_of(e)
        headers = {}
        if outcome == "unauthorized":
            headers["WWW-Authenticate"] = "Bearer"
        if hasattr(e, "retry_after_s"):
            headers["Retry-After"] = str(max(1, round(e.retry_after_s)))
        return JSONResponse(
            {"detail": plain_message(e), "outcome": outcome},
            status_code=HTTP_STATUSES.get(outcome, 500),
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, e: Exception) -> JSONResponse:
        log.exception("request %s failed", request.state.request_id)
        return JSONResponse(
            {
                "detail": f"Internal error ({type(e).__name__}); request id "
                f"{request.state.request_id} in the service log.",
                "outcome": "error",
            },
            status_code=500,
        )

    def audit(
        request: Request,
        user: str | None,
        action: str,
        target: str | None,
        outcome: str,
        status: int,
        detail: str | None = None,
    ) -> None:
        with registry.write() as con:
            reg_identity.record_audit(
                con,
                username=user,
                action=action,
                target=target,
                outcome=outcome,
                status=status,
                request_id=request.state.request_id,
                client=request.client.host if request.client else None,
                detail=detail,
            )

    def principal(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "Missing bearer token.", {"WWW-Authenticate": "Bearer"})
        return identity.verify(creds.credentials)

    def needs(permission: str):  # noqa: ANN202 - a FastAPI dependency
        def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
            identity.require(who, permission)
            return who

        return check

    Reader = Annotated[Principal, Depends(needs("read"))]
    Uploader = Annotated[Principal, Depends(needs("upload"))]
    Approver = Annotated[Principal, Depends(needs("approve"))]
    Admin = Annotated[Principal, Depends(needs("admin"))]

    @app.post("/authenticate", tags=["identity"])
    def authenticate(body: Credentials, request: Request) -> dict:
        """A session bearer token for a username and password."""
        client = request.client.host if request.client else "?"
        try:
            issued = identity.authenticate(body.username, body.password, client)
        except HubAssetsError as e:
            audit(
                request,
                body.username,
                "authenticate",
                None,
                outcome_of(e),
                HTTP_STATUSES.get(outcome_of(e), 500),
            )
            raise
        audit(request, body.username, "authenticate", None, "ok", 200)
        return {"token": issued.token, "expires_at": issued.expires_at.isoformat()}

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
        with registry.read() as con:
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
        with registry.write() as con:
            rid = reg_packages.add_request(con, body.model_id, body.version or "", body.description)
        with DagsterInstance.get() as instance:
            row = see_request_through(instance, registry, rid, settings.api_ingest_wait_s)
        answer = request_answer(row)
        audit(
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
        with registry.read() as con:
            row = reg_packages.get_request(con, request_id)
        if row is None:
            raise HTTPException(404, f"No ingest request {request_id}.")
        return request_answer(row)

    # -- packages ------------------------------------------------------------------------
    def package_or_404(package_id: str) -> dict:
        if not _PACKAGE_ID.match(package_id):
            raise HTTPException(422, f"Invalid package id {package_id[:80]!r}: expected a UUID.")
        with registry.read() as con:
            record = reg_packages.package_record(con, package_id)
        if record is None:
            raise HTTPException(404, f"No package {package_id}.")
        return record

    @app.get("/packages", tags=["packages"])
    def list_packages(
        who: Reader,
        name: Annotated[str | None, Query(max_length=200, description="regex on the name")] = None,
        model_id: Annotated[str | None, Query(max_length=200)] = None,
        status: Annotated[str | None, Query(pattern="^(live|retired)$")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict:
        """Packages, newest first, filtered and paginated."""
        if name is not None:
            try:
                re.compile(name)
            except re.error as e:
                raise HTTPException(400, f"Invalid name pattern: {e}.") from None
        if model_id is not None:
            check_model_id(model_id)
        with registry.read() as con:
            total, items = reg_packages.list_packages(
                con,
                name_regex=name,
                model_id=model_id,
                status=status,
                limit=limit,
                offset=offset,
            )
        return {"total": total, "limit": limit, "offset": offset, "items": items}

    @app.get("/packages/{package_id}", tags=["packages"])
    def get_package(package_id: str, who: Reader) -> dict:
        """One package's record."""
        return package_or_404(package_id)

    @app.get("/packages/{package_id}/download", tags=["packages"])
    def download_package(package_id: str, request: Request, who: Reader) -> Response:
        """The package zip, streamed, with Range and its sha256 as ETag."""
        record = package_or_404(package_id)
        if record["retired_at"] is not None:
            raise HTTPException(410, f"Package {package_id} was retired.")
        size, etag = record["size_bytes"], f'"{record["sha256"]}"'
        start, end, status = 0, size - 1, 200
        rng = request.headers.get("range")
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or not (m.group(1) or m.group(2)):
                raise HTTPException(416, "Invalid Range header.")
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start = max(size - int(m.group(2)), 0)
            if start > end or start >= size:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
            status = 206

        def body() -> Iterator[bytes]:
            with store.fs.open(store.path(record["name"], record["version"]), "rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = f.read(min(1024 * 1024, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    yield chunk

        headers = {
            "ETag": etag,
            "Accept-Ranges": "bytes",
            "Content-Length": str(end - start + 1),
            "Content-Disposition": f'attachment; filename="{record["name"]}-'
            f'{record["version"]}.zip"',
        }
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return StreamingResponse(
            body(), status_code=status, media_type="application/zip", headers=headers
        )

    @app.delete("/packages/{package_id}", tags=["packages"])
    def retire_package(package_id: str, request: Request, who: Admin) -> dict:
        """Retire a package: its object is removed, its row kept for audit."""
        record = package_or_404(package_id)
        with registry.write() as con:
            if not reg_packages.retire_package(con, package_id, who.username):
                raise HTTPException(409, f"Package {package_id} is already retired.")
            append_status(
                con,
                record["model_id"],
                "retired",
                run_id=f"api:{request.state.request_id}",
                reason=f"package {record['name']}@{record['version']} retired by {who.username}",
                revision_sha=record["revision_sha"],
            )
        path = store.path(record["name"], record["version"])
        if store.fs.exists(path):
            store.fs.rm(path)
        audit(request, who.username, "retire_package", package_id, "ok", 200)
        return {"package_id": package_id, "status": "retired"}

    # -- models and approvals ---------------------------------------------------------------
    def model_or_404(model_id: str) -> list[tuple]:
        check_model_id(model_id)
        with registry.read() as con:
            history = status_history(con, model_id)
        if not history:
            raise HTTPException(404, f"Model {model_id!r} is not in the registry.")
        return history

    @app.get("/models/{model_id:path}/metrics", tags=["models"])
    def model_metrics(model_id: str, who: Reader) -> dict:
        """Every current metric of the model's revisions, with its lineage."""
        history = model_or_404(model_id)
        revisions = list(dict.fromkeys(sha for *_, sha, _ in history if sha))
        out = []
        with registry.read() as con:
            for sha in revisions:
                for m in revision_metrics(con, model_id, sha).values():
                    out.append(
                        {
                            "revision": sha,
                            "metric": m.metric,
                            "value": m.value,
                            "fingerprint": m.inputs_fingerprint,
                            "code_version": m.code_version,
                            "run_id": m.run_id,
                        }
                    )
        return {"model_id": model_id, "metrics": out}

    @app.post("/models/{model_id:path}/{action}", tags=["approvals"])
    def decide_model(
        model_id: str, action: str, body: Decision, request: Request, who: Approver
    ) -> dict:
        """Promote, retire or reject one revision (the `approve` permission)."""
        if action not in ("promote", "retire", "reject"):
            raise HTTPException(404, f"No action {action!r}: promote, retire or reject.")
        model_or_404(model_id)
        try:
            event = decide(
                registry,
                model_id,
                action,
                body.revision,
                body.reason,
                who.username,
                request.state.request_id,
            )
        except HubAssetsError as e:
            audit(
                request,
                who.username,
                action,
                model_id,
                outcome_of(e),
                HTTP_STATUSES.get(outcome_of(e), 500),
                plain_message(e),
            )
            raise
        audit(request, who.username, action, model_id, "ok", 200, body.reason)
        return event

    @app.get("/models/{model_id:path}", tags=["models"])
    def get_model(model_id: str, who: Reader) -> dict:
        """Status, history, current metrics and the gate result with its reasons."""
        history = model_or_404(model_id)
        current = history[-1]
        sha = next((h[3] for h in reversed(history) if h[3]), None)
        with registry.read() as con:
            metrics = revision_metrics(con, model_id, sha) if sha else {}
            gate = latest_gate_result(con, model_id, sha) if sha else None
        return {
            "model_id": model_id,
            "status": current[1],
            "revision": sha,
            "history": [
                {
                    "at": h[0].isoformat(),
                    "status": h[1],
                    "reason": h[2],
                    "revision": h[3],
                    "run_id": h[4],
                }
                for h in history
            ],
            "metrics": {k: m.value for k, m in sorted(metrics.items())},
            "gate": gate,
        }

    # -- Prometheus ----------------------------------------------------------------------------
    def metrics_access(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if not settings.metrics_public:
            identity.require(principal(creds), "read")

    @app.get("/metrics", tags=["observability"], dependencies=[Depends(metrics_access)])
    def metrics() -> Response:
        """Prometheus text format, read from the registry at scrape time."""
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    return app
