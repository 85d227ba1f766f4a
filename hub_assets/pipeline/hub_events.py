"""Events in: the Hub's webhooks. A `repo.content` update of a model names its new head
sha; the registry queues an ingest request for that model alone, which re-resolves it,
verifies, scans, evaluates and gates the new revision. The approved revision stays served
until the new one passes (the mirror serves the newest passing one). A `repo` delete of a
known model records it as deleted upstream (its health: at risk).

Every field is hostile until checked: the payload must parse as huggingface_hub's own
`WebhookPayload`, the repo id and sha must be valid. A webhook for a revision already
judged, or for a model with an ingest request under way, changes nothing (the Hub retries,
and replays)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from huggingface_hub._webhooks_payload import WebhookPayload
from pydantic import ValidationError

from hub_assets.errors import InvalidHubWebhookError, InvalidModelIdError
from hub_assets.ids import check_model_id
from hub_assets.registry.models import mark_upstream_deleted
from hub_assets.registry.packages import add_request, open_request_for, revision_judged
from hub_assets.registry.store import Registry

_SHA = re.compile(r"[0-9a-f]{40}", re.ASCII)
# who the ingest requests webhooks start are recorded as (`ingest_requests.requested_by`)
REQUESTER = "hub-webhook"


@dataclass(frozen=True)
class HubChange:
    """A model whose content changed on the Hub, and its new head sha if the Hub said; or
    (`deleted`) whose repo the Hub deleted."""

    model_id: str
    head_sha: str | None
    deleted: bool = False


def parse_hub_webhook(body: bytes) -> HubChange | None:
    """The model content change (or repo deletion) a Hub webhook reports; None for any
    other event (a discussion, a dataset, a setting), which the registry ignores. Raises
    `InvalidHubWebhookError` for what is not a Hub webhook."""
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidHubWebhookError(f"The webhook body is not JSON: {e}") from None
    if not isinstance(raw, dict):
        raise InvalidHubWebhookError("The webhook body is not a JSON object.")
    try:
        payload = WebhookPayload.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidHubWebhookError(
            f"Not a Hub webhook payload (version 3): {where}: {first['msg']}"
        ) from None
    deleted = payload.event.scope == "repo" and payload.event.action == "delete"
    if payload.repo.type != "model" or not (deleted or payload.event.scope == "repo.content"):
        return None
    if not deleted and payload.event.action not in ("create", "update"):
        return None
    try:
        model_id = check_model_id(payload.repo.name)
    except InvalidModelIdError as e:
        raise InvalidHubWebhookError(f"The webhook names an invalid repo: {e}") from None
    if deleted:
        return HubChange(model_id, None, deleted=True)
    # the Hub writes `headSha`; huggingface_hub's type reads `head_sha`
    head = raw["repo"].get("headSha", payload.repo.head_sha)
    if head is not None and (not isinstance(head, str) or not _SHA.fullmatch(head)):
        raise InvalidHubWebhookError("The webhook's headSha is not a 40-hex commit sha.")
    return HubChange(model_id, head)


@dataclass(frozen=True)
class HubChangeAccepted:
    """What the registry did with a change: `queued` (a new ingest request), `under_way`
    (one was already pending or running), `judged` (that sha already has a verdict),
    `deleted` (a known model's repo is recorded as deleted upstream: its health is at
    risk; the mirror keeps serving what it approved) or `ignored` (a deletion of a model
    the registry does not know)."""

    status: str
    request_id: int | None


def accept_hub_change(registry: Registry, change: HubChange) -> HubChangeAccepted:
    """Queue the change's model for ingestion, once: in one write, so two deliveries of the
    same webhook at once make one request."""
    with registry.write() as con:
        if change.deleted:
            known = mark_upstream_deleted(con, change.model_id)
            return HubChangeAccepted("deleted" if known else "ignored", None)
        if change.head_sha is not None and revision_judged(con, change.model_id, change.head_sha):
            return HubChangeAccepted("judged", None)
        under_way = open_request_for(con, change.model_id)
        if under_way is not None:
            return HubChangeAccepted("under_way", under_way)
        sha = f" {change.head_sha[:12]}" if change.head_sha else ""
        request_id = add_request(
            con,
            change.model_id,
            "",
            f"The Hub reported a new revision{sha} (webhook)",
            requested_by=REQUESTER,
        )
    return HubChangeAccepted("queued", request_id)
