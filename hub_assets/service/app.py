"""The registry service: FastAPI over the registry, the package store and the pipeline.

(No `from __future__ import annotations` here: FastAPI reads the route annotations, some of
them local to `create_app`, at definition time.)

A client of the registry and of Dagster, never a second pipeline: ingestion adds an ingest
request, exactly as `hub-assets ingest` does, and waits for it. Every outcome's HTTP status
comes from `hub_assets.errors.HTTP_STATUSES`; every change writes an audit row.
"""

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub_assets.errors import HTTP_STATUSES, HubAssetsError, plain_message
from hub_assets.failures import outcome_of
from hub_assets.hub_protocol.asgi import ProtocolApp
from hub_assets.hub_protocol.routing import HubProtocol
from hub_assets.mirror import mirror_state
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.context import Pipeline
from hub_assets.pipeline.health import HealthPolicy, health_totals
from hub_assets.pipeline.identity import Identity, Principal
from hub_assets.registry import identity as reg_identity
from hub_assets.registry.gate_configs import current_applied
from hub_assets.registry.store import Registry
from hub_assets.service.context import ServiceContext, Strict
from hub_assets.service.ingestion_routes import add_ingestion_routes
from hub_assets.service.mirror_routes import add_mirror_routes
from hub_assets.service.model_routes import add_model_routes
from hub_assets.service.package_routes import add_package_routes
from hub_assets.service.prometheus import RegistryCollector
from hub_assets.service.schemas import Token, errors, json_errors
from hub_assets.service.webhook_routes import add_webhook_routes
from hub_assets.settings import Settings

log = logging.getLogger(__name__)
_bearer = HTTPBearer(
    auto_error=False, description="A token from POST /authenticate or `hub-assets tokens create`."
)


class BodyLimit:
    """Cap a request body on the bytes actually read, whatever its framing: a chunked body
    (no Content-Length) that grows past the cap is refused with 413 as it arrives, never
    read whole. (The declared Content-Length is checked before any byte is read.)"""

    def __init__(self, app: Any, max_bytes: int, max_kb: int) -> None:
        self.app, self.max_bytes, self.max_kb = app, max_bytes, max_kb

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def capped() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, f"Request body over {self.max_kb} KiB.")
            return message

        await self.app(scope, capped, send)


class Credentials(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


def server_config(app: FastAPI, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """How `hub-assets serve` runs the app: `X-Forwarded-For` is believed only from the
    proxies HUB_ASSETS_TRUSTED_PROXIES names (none by default: a client cannot pick the
    address its failed logins count against)."""
    trusted = ",".join(settings.trusted_proxies)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


@asynccontextmanager
async def _closing_the_access_log(app: FastAPI) -> AsyncIterator[None]:
    """At shutdown, the mirror's access log writes what it still has queued."""
    yield
    mirror = getattr(app.state, "mirror", None)
    if mirror is not None and mirror.access_log is not None:
        mirror.access_log.close()


def create_app(settings: Settings, registry: Registry, store: PackageStore) -> FastAPI:
    """The service over one registry and package store (`hub-assets serve` builds them
    from the settings)."""
    # Swagger UI and ReDoc from the installed package, never a CDN (works offline)
    app = FastAPIOffline(
        lifespan=_closing_the_access_log,
        title="hub-assets registry",
        version="1",
        description="Curated, evaluated, auditable models from the Hugging Face Hub.",
    )
    registry.ensure_schema()
    identity = Identity(registry, session_hours=settings.api_session_hours)
    app.state.identity = identity
    metrics_registry = CollectorRegistry(auto_describe=False)

    gates, policy = Pipeline(settings), HealthPolicy.of(settings)

    def health_now() -> dict[str, int]:
        return registry.cached(
            ("health_counts",),
            lambda con: health_totals(con, gates.gate_config_given(current_applied(con)), policy),
        )

    metrics_registry.register(RegistryCollector(registry, health_now))
    max_body = settings.api_max_body_kb * 1024
    app.add_middleware(BodyLimit, max_bytes=max_body, max_kb=settings.api_max_body_kb)

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

    def audit_refused_write(request: Request, outcome: str, status: int, why: str) -> None:
        """A write refused for who asked (401, 403, 429) is audited: who, what, why."""
        if request.method in ("GET", "HEAD", "OPTIONS") or request.url.path == "/authenticate":
            return
        audit(
            request,
            getattr(request.state, "username", None),
            f"{request.method} {request.url.path}"[:200],
            None,
            outcome,
            status,
            why[:300],
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        if e.status_code in (401, 403):
            outcome = "unauthorized" if e.status_code == 401 else "forbidden"
            audit_refused_write(request, outcome, e.status_code, str(e.detail))
        return await http_exception_handler(request, e)

    @app.exception_handler(HubAssetsError)
    async def hub_assets_error(request: Request, e: HubAssetsError) -> JSONResponse:
        outcome = outcome_of(e)
        if outcome in ("unauthorized", "forbidden", "throttled"):
            audit_refused_write(request, outcome, HTTP_STATUSES.get(outcome, 500), plain_message(e))
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
        # this answer leaves outside the middleware that stamps the others: stamp it here
        return JSONResponse(
            headers={"X-Request-ID": request.state.request_id},
            content={
                "detail": f"Internal error; request id {request.state.request_id} is in "
                "the service log.",
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
        def check(who: Annotated[Principal, Depends(principal)], request: Request) -> Principal:
            request.state.username = who.username  # a refusal's audit row names them
            identity.require(who, permission)
            return who

        return check

    Reader = Annotated[Principal, Depends(needs("read"))]
    Uploader = Annotated[Principal, Depends(needs("upload"))]
    Approver = Annotated[Principal, Depends(needs("approve"))]
    Admin = Annotated[Principal, Depends(needs("admin"))]

    @app.post(
        "/authenticate", tags=["identity"], response_model=Token, responses=errors(401, 422, 429)
    )
    def authenticate(body: Credentials, request: Request) -> dict:
        """A session bearer token for a username and password."""
        client = request.client.host if request.client else "?"
        try:
            issued = identity.authenticate(body.username, body.password, client)
        except HubAssetsError as e:
            # a failed login's username is kept only if it names a user: what a person
            # types there may be their password
            audit(
                request,
                body.username if identity.user_exists(body.username) else None,
                "authenticate",
                None,
                outcome_of(e),
                HTTP_STATUSES.get(outcome_of(e), 500),
                None if identity.user_exists(body.username) else "an unknown username",
            )
            raise
        audit(request, body.username, "authenticate", None, "ok", 200)
        return {"token": issued.token, "expires_at": issued.expires_at.isoformat()}

    # -- the curated mirror at /hub (HF_ENDPOINT=http://host:port/hub) ---------------------------
    mirror = mirror_state(settings, registry, store, identity)
    app.state.mirror = mirror
    app.mount("/hub", ProtocolApp(HubProtocol(mirror)), name="mirror")

    ctx = ServiceContext(
        settings,
        registry,
        store,
        identity,
        audit,
        Reader,
        Uploader,
        Approver,
        Admin,
        approvals_changed=mirror.store.invalidate,
    )
    add_ingestion_routes(app, ctx)
    add_package_routes(app, ctx)
    add_webhook_routes(app, ctx)
    add_model_routes(app, ctx)
    add_mirror_routes(app, ctx)

    # -- Prometheus ----------------------------------------------------------------------------
    def metrics_access(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if not settings.metrics_public:
            identity.require(principal(creds), "read")

    @app.get(
        "/metrics",
        tags=["observability"],
        dependencies=[Depends(metrics_access)],
        response_class=PlainTextResponse,
        responses={
            200: {
                "description": "Prometheus text exposition format.",
                "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            },
            **json_errors(401, 403),
        },
    )
    def metrics() -> Response:
        """Prometheus text format, read from the registry at scrape time."""
        return Response(generate_latest(metrics_registry), media_type=CONTENT_TYPE_LATEST)

    return app
