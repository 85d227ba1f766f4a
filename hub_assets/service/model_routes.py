"""Models: detail, metrics with lineage, and approvals (promote, retire, reject)."""

from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from pydantic import Field

from hub_assets.errors import HTTP_STATUSES, HubAssetsError, plain_message
from hub_assets.failures import outcome_of
from hub_assets.ids import check_model_id
from hub_assets.pipeline.approvals import decide
from hub_assets.pipeline.context import Pipeline
from hub_assets.pipeline.health import HealthPolicy, health_on
from hub_assets.pipeline.samples import worst_samples
from hub_assets.registry.gate_configs import current_applied
from hub_assets.registry.metrics import latest_gate_result, revision_metrics
from hub_assets.registry.models import search_models, status_history
from hub_assets.service.context import ServiceContext, Strict
from hub_assets.service.schemas import (
    AUTHENTICATED,
    DecisionEvent,
    Model,
    ModelMetrics,
    Samples,
    SearchResults,
    errors,
)


class Decision(Strict):
    reason: str = Field(min_length=1, max_length=500)
    revision: str = Field(min_length=40, max_length=40)


def add_model_routes(app: FastAPI, ctx: ServiceContext) -> None:
    """Add the routes to `app`."""
    pipeline = Pipeline(ctx.settings)
    Reader = ctx.reader  # noqa: N806 - a type for route annotations
    Approver = ctx.approver  # noqa: N806 - a type for route annotations

    # -- models and approvals ---------------------------------------------------------------
    def model_or_404(model_id: str) -> list[tuple]:
        check_model_id(model_id)
        history = ctx.registry.cached(
            ("history", model_id), lambda con: status_history(con, model_id)
        )
        if not history:
            raise HTTPException(404, f"Model {model_id!r} is not in the registry.")
        return history

    @app.get(
        "/search", tags=["models"], response_model=SearchResults, responses=errors(*AUTHENTICATED)
    )
    def search(
        who: Reader,
        q: Annotated[str, Query(min_length=1, max_length=200)],
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> dict:
        """Models whose id, tags or card text contain `q` (a plain substring)."""
        items = ctx.registry.cached(("search", q, limit), lambda con: search_models(con, q, limit))
        return {"q": q, "items": items}

    @app.get(
        "/models/{model_id:path}/metrics",
        tags=["models"],
        response_model=ModelMetrics,
        responses=errors(*AUTHENTICATED, 404),
    )
    def model_metrics(model_id: str, who: Reader) -> dict:
        """Every current metric of the model's revisions, with its lineage."""
        history = model_or_404(model_id)
        revisions = list(dict.fromkeys(sha for *_, sha, _ in history if sha))
        out = []
        with ctx.registry.read() as con:
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

    @app.get(
        "/models/{model_id:path}/samples",
        tags=["models"],
        response_model=Samples,
        responses=errors(*AUTHENTICATED, 404),
    )
    def model_samples(
        model_id: str,
        who: Reader,
        worst: Annotated[int, Query(ge=0, le=10_000, description="0: every sample")] = 10,
    ) -> dict:
        """The newest evaluation of the model's current revision, sample by sample, lowest
        score first: each input and reference from the pinned dataset, the model's answer
        (or ranking) and its score."""
        model_or_404(model_id)
        return worst_samples(
            ctx.registry, model_id, ctx.settings.eval_cache_dir, worst or None
        ).as_dict()

    @app.post(
        "/models/{model_id:path}/{action}",
        tags=["approvals"],
        response_model=DecisionEvent,
        responses=errors(*AUTHENTICATED, 404, 409),
    )
    def decide_model(
        model_id: str, action: str, body: Decision, request: Request, who: Approver
    ) -> dict:
        """Promote, retire or reject one revision (the `approve` permission)."""
        if action not in ("promote", "retire", "reject"):
            raise HTTPException(404, f"No action {action!r}: promote, retire or reject.")
        model_or_404(model_id)
        try:
            event = decide(
                ctx.registry,
                model_id,
                action,
                body.revision,
                body.reason,
                who.username,
                request.state.request_id,
                two_person_rule=ctx.settings.two_person_rule,
            )
        except HubAssetsError as e:
            ctx.audit(
                request,
                who.username,
                action,
                model_id,
                outcome_of(e),
                HTTP_STATUSES.get(outcome_of(e), 500),
                plain_message(e),
            )
            raise
        ctx.approvals_changed()
        ctx.audit(request, who.username, action, model_id, "ok", 200, body.reason)
        return event

    @app.get(
        "/models/{model_id:path}",
        tags=["models"],
        response_model=Model,
        responses=errors(*AUTHENTICATED, 404),
    )
    def get_model(model_id: str, who: Reader) -> dict:
        """Status, history, current metrics and the gate result with its reasons."""
        history = model_or_404(model_id)
        current = history[-1]
        sha = next((h[3] for h in reversed(history) if h[3]), None)
        metrics, gate, health = ctx.registry.cached(
            ("model", model_id, sha),
            lambda con: (
                revision_metrics(con, model_id, sha) if sha else {},
                latest_gate_result(con, model_id, sha) if sha else None,
                _health(con, model_id),
            ),
        )
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
            "licence_chain": _licence_chain(metrics),
            "evaluation_sets": _evaluation_sets(metrics),
            "health": health,
        }

    def _health(con: object, model_id: str) -> dict | None:
        """The model's health under the current gate, on the caller's connection."""
        gate = pipeline.gate_config_given(current_applied(con))
        found = health_on(con, gate, HealthPolicy.of(ctx.settings), model_id)
        if not found:
            return None
        [one] = found
        return {"health": one.health, "reason": one.reason, "revision": one.revision_sha}


def _evaluation_sets(metrics: dict) -> list[dict]:
    """The evaluation sets behind performance_claims: contamination flag and role."""
    stored = metrics.get("performance_claims")
    return list(((stored.details or {}) if stored else {}).get("evaluation_sets") or [])


def _licence_chain(metrics: dict) -> dict | None:
    """The licence chain of the current revision: the model and its ancestors with their
    licences, the obligations it inherits (with their sources), and the findings."""
    stored = metrics.get("licence_obligations")
    if stored is None or not stored.details:
        return None
    keep = ("chain", "obligations", "findings", "violations")
    return {k: stored.details.get(k) for k in keep} | {"passed": stored.value >= 1.0}
