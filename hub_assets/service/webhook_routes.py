"""Events in: `POST /webhooks/hub` takes the Hub's webhooks (docs/operations.md)."""

import hmac

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from hub_assets.errors import InvalidHubWebhookError
from hub_assets.pipeline.hub_events import REQUESTER, accept_hub_change, parse_hub_webhook
from hub_assets.service.context import ServiceContext
from hub_assets.service.schemas import HubWebhookAnswer, errors

_BODY = {"content": {"application/json": {"schema": {"type": "object"}}}, "required": True}


def add_webhook_routes(app: FastAPI, ctx: ServiceContext) -> None:
    """Add the routes to `app`."""

    @app.post(
        "/webhooks/hub",
        tags=["events"],
        status_code=202,
        response_model=HubWebhookAnswer,
        responses=errors(401, 404, 413, 422),
        openapi_extra={"requestBody": _BODY},
    )
    async def hub_webhook(request: Request) -> dict:
        """A webhook of the Hub, with its secret in `X-Webhook-Secret` as the Hub sends it
        (HUB_ASSETS_HUB_WEBHOOK_SECRET). A `repo.content` update of a model queues that model
        alone for ingestion: its new revision is verified, scanned, evaluated and gated,
        and the approved revision stays served until the new one passes. Deliveries of the
        same change are answered without a second request. A wrong secret is a 401,
        audited."""
        secret = ctx.settings.hub_webhook_secret
        if secret is None:
            raise HTTPException(
                404, "Hub webhooks are not enabled: set HUB_ASSETS_HUB_WEBHOOK_SECRET."
            )
        given = request.headers.get("x-webhook-secret", "")
        if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            raise HTTPException(401, "Wrong or missing X-Webhook-Secret.")
        body = await request.body()
        try:
            change = parse_hub_webhook(body)
        except InvalidHubWebhookError as e:
            raise HTTPException(422, str(e)) from None
        if change is None:
            return {"status": "ignored"}
        accepted = await run_in_threadpool(accept_hub_change, ctx.registry, change)
        if accepted.status == "queued":
            await run_in_threadpool(_start, ctx, accepted.request_id)
        await run_in_threadpool(
            ctx.audit,
            request,
            REQUESTER,
            "hub_webhook",
            change.model_id,
            accepted.status,
            202,
            f"head {change.head_sha or 'unknown'}; request {accepted.request_id}",
        )
        rid = accepted.request_id
        return {
            "status": accepted.status,
            "model_id": change.model_id,
            "request_id": rid,
            "poll": f"/ingest-requests/{rid}" if rid is not None else None,
        }


def _start(ctx: ServiceContext, request_id: int) -> None:
    """Start the request's run now (without a Dagster daemon, on a thread here)."""
    from dagster import DagsterInstance

    from hub_assets.local_runs import see_request_through

    with DagsterInstance.get() as instance:
        see_request_through(instance, ctx.registry, request_id, 0)
