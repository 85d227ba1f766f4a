"""The mirror's access log over HTTP: who pulled what, and who was refused what."""

from typing import Annotated

from fastapi import FastAPI, HTTPException, Query

from hub_assets.pipeline.usage import since_of, usage_report
from hub_assets.service.context import ServiceContext
from hub_assets.service.schemas import AUTHENTICATED, MirrorUsage, errors


def add_mirror_routes(app: FastAPI, ctx: ServiceContext) -> None:
    """Add the routes to `app`."""
    Admin = ctx.admin  # noqa: N806 - a type for route annotations

    @app.get(
        "/mirror/usage",
        tags=["mirror"],
        response_model=MirrorUsage,
        responses=errors(*AUTHENTICATED),
    )
    def mirror_usage(
        who: Admin,
        model_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        since: Annotated[
            str | None,
            Query(
                min_length=2,
                max_length=40,
                description="A duration ago (30m, 24h, 7d, 2w) or an ISO date or time.",
            ),
        ] = None,
        caller: Annotated[
            str | None,
            Query(min_length=1, max_length=200, description="A registry user, or anonymous."),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> dict:
        """Who pulled which model at which revision through the mirror (files, bytes, first
        and last time), and who was refused what and why; newest first. Needs `admin`: it
        names people."""
        try:
            start = since_of(since) if since is not None else None
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return usage_report(
            ctx.registry, model_id=model_id, since=start, caller=caller, limit=limit
        )
