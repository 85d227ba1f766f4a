"""Asking for a model through the mirror, in the Hub's gated-access shape.

- `POST /{model}/ask-access` (the Hub's request form; JSON or form fields): a signed-in
  user asks for a model the mirror does not serve them. The request is recorded (pending)
  and, unless the model already has a revision that passed the gate and is packaged, an
  ingest request starts its evaluation and gate.
- `GET /api/models/{model}/user-access-request/{pending|accepted|rejected}`,
  `POST …/handle` and `POST …/grant`: what huggingface_hub's
  `list_pending_access_requests`, `accept_access_request`, `reject_access_request`,
  `cancel_access_request` and `grant_access` call. Reviewers need the `approve`
  permission. Accepting needs a revision that passed the gate (or an audited override)
  and has a live package; the requester may then read it, even on a promoted-only mirror.
  Every decision is audited.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qs, unquote

from hub_assets.errors import AuthenticationError, HubError, InvalidModelIdError
from hub_assets.hub_protocol.exchange import ProtocolRequest, ProtocolResponse, json_response
from hub_assets.hub_protocol.repos import Repo
from hub_assets.hub_protocol.routing import INVALID_CREDENTIALS
from hub_assets.ids import check_model_id
from hub_assets.pipeline.identity import TOKEN_PREFIX, Identity, Principal
from hub_assets.registry import access_requests as reg
from hub_assets.registry.approved import approved_packages, hidden_reason
from hub_assets.registry.identity import record_audit
from hub_assets.registry.packages import add_request
from hub_assets.registry.store import Registry

_ASK = re.compile(r"^/(?:models/)?(?P<model>[^/]+/[^/]+)/ask-access$")
_REVIEW = re.compile(
    r"^/api/models/(?P<model>[^/]+/[^/]+)/user-access-request/"
    r"(?P<action>pending|accepted|rejected|handle|grant)$"
)
MAX_FIELDS = 20
MAX_FIELD_CHARS = 500


class AccessRequestRoutes:
    """The `ExtraRoutes` of the mirror: access requests and their review."""

    def __init__(self, registry: Registry, identity: Identity, changed: Callable[[], None]) -> None:
        self.registry, self.identity = registry, identity
        self.changed = changed  # the mirror's view must re-read the grants

    def answer(
        self, req: ProtocolRequest, readable: Callable[[str, str], Repo]
    ) -> ProtocolResponse | None:
        """The answer to an access-request route, or None for any other path."""
        path = unquote(req.path)
        ask = _ASK.match(path)
        if ask and req.method == "POST":
            return self._ask(req, self._model(ask.group("model")))
        review = _REVIEW.match(path)
        if review is None:
            return None
        model_id, action = self._model(review.group("model")), review.group("action")
        reviewer = self._principal(req)
        if not reviewer.may("approve"):
            raise HubError(
                403,
                None,
                f"User {reviewer.username!r} lacks the approve permission, which reviewing "
                "access requests needs.",
            )
        if action in reg.STATUSES and req.method == "GET":
            with self.registry.read() as con:
                rows = reg.access_requests(con, model_id, action)
            return json_response([_hub_shape(r) for r in rows])
        if action in ("handle", "grant") and req.method == "POST":
            return self._decide(req, model_id, action, reviewer)
        raise HubError(405, None, f"{req.method} is not allowed on {path}.")

    # -- asking ---------------------------------------------------------------------------------
    def _ask(self, req: ProtocolRequest, model_id: str) -> ProtocolResponse:
        who = self._principal(req)
        fields = _fields(req)
        with self.registry.write() as con:
            servable = model_id.lower() in {
                m.lower() for m in approved_packages(con, require_promoted=False)
            }
            known = reg.access_request(con, model_id, username=who.username)
            ingest = None
            if not servable and (known is None or known["ingest_request_id"] is None):
                ingest = add_request(
                    con, model_id, "", f"access request by {who.username}", who.username
                )
            row = reg.add_access_request(con, model_id, who.username, fields, ingest)
            record_audit(
                con,
                username=who.username,
                action="mirror ask-access",
                target=model_id,
                outcome="ok",
                status=200,
                detail=f"ingest request {ingest}" if ingest else "already evaluated",
            )
        return json_response(
            {
                **_hub_shape(row),
                "ingestRequestId": row["ingest_request_id"],
                "message": (
                    f"Asked for {model_id}: a reviewer accepts or rejects the request"
                    + (
                        "; its evaluation and gate have started."
                        if ingest
                        else "; it has passed the gate already."
                        if servable
                        else "."
                    )
                ),
            }
        )

    # -- reviewing -------------------------------------------------------------------------------
    def _decide(
        self, req: ProtocolRequest, model_id: str, action: str, reviewer: Principal
    ) -> ProtocolResponse:
        body = _json_body(req)
        user, request_id = body.get("user"), body.get("requestId")
        status = "accepted" if action == "grant" else body.get("status")
        if status not in reg.STATUSES:
            raise HubError(400, None, f"status must be one of {', '.join(reg.STATUSES)}.")
        if (user is None) == (request_id is None) or not isinstance(user or request_id, str):
            raise HubError(400, None, "Give exactly one of `user` and `requestId` (strings).")
        reason = body.get("rejectionReason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
            raise HubError(400, None, "rejectionReason must be a string of at most 500 chars.")
        if action == "grant" and (user is None or not self.identity.user_exists(user)):
            raise HubError(404, None, f"No registry user {user!r} to grant access to.")
        with self.registry.write() as con:
            row = reg.access_request(con, model_id, username=user, request_id=request_id)
            if row is None and action == "grant":
                row = reg.add_access_request(con, model_id, user, {}, None)
            if row is None:
                raise HubError(404, None, f"No access request for {model_id} from that user.")
            if status == "accepted":
                servable = {m.lower() for m in approved_packages(con, require_promoted=False)}
                if model_id.lower() not in servable:
                    hidden = hidden_reason(con, model_id, False)
                    why = hidden.text if hidden else "the registry has not evaluated it yet."
                    raise HubError(
                        409,
                        None,
                        f"Cannot accept: {model_id} has no revision that passed the gate and "
                        f"is packaged ({why}) Accepting needs a passing gate, or an audited "
                        "override (hub-assets gate override).",
                    )
            reg.decide_access_request(con, row["request_id"], status, reviewer.username, reason)
            record_audit(
                con,
                username=reviewer.username,
                action=f"mirror access {status}",
                target=f"{model_id} for {row['username']}",
                outcome="ok",
                status=200,
                detail=reason,
            )
        self.changed()
        return json_response({})

    # -- helpers ---------------------------------------------------------------------------------
    def _principal(self, req: ProtocolRequest) -> Principal:
        auth = req.headers.get("authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        if not token.startswith(TOKEN_PREFIX):
            raise HubError(
                401,
                None,
                "Sign in with a registry token (HF_TOKEN=hat_…) to ask for or review access.",
            )
        try:
            return self.identity.verify(token)
        except AuthenticationError:
            raise HubError(401, None, INVALID_CREDENTIALS) from None

    @staticmethod
    def _model(text: str) -> str:
        try:
            check_model_id(text)
        except InvalidModelIdError as e:
            raise HubError(400, None, str(e)) from None
        return text


def _hub_shape(row: dict) -> dict:
    """One request as the Hub lists it (huggingface_hub's `AccessRequest`)."""
    return {
        "requestId": row["request_id"],
        "user": {"user": row["username"], "fullname": row["username"], "email": None},
        "status": row["status"],
        "timestamp": row["requested_at"].isoformat().replace("+00:00", "Z"),
        "fields": row["fields"] or {},
    }


def _json_body(req: ProtocolRequest) -> dict:
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        raise HubError(400, None, "The body is not JSON.") from None
    if not isinstance(body, dict):
        raise HubError(400, None, "The body must be a JSON object.")
    return body


def _fields(req: ProtocolRequest) -> dict[str, str]:
    """The request form's fields (JSON or form-encoded), bounded."""
    kind = req.headers.get("content-type", "")
    if "json" in kind:
        raw = _json_body(req)
    else:
        try:
            form = parse_qs(req.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise HubError(400, None, "The form is not UTF-8.") from None
        raw = {k: v[-1] for k, v in form.items()}
    if len(raw) > MAX_FIELDS:
        raise HubError(400, None, f"At most {MAX_FIELDS} form fields.")
    out = {}
    for key, value in raw.items():
        if not isinstance(value, str | int | float | bool) or len(str(key)) > 100:
            raise HubError(400, None, "Form fields are short names with text values.")
        if len(str(value)) > MAX_FIELD_CHARS:
            raise HubError(400, None, f"A form field holds at most {MAX_FIELD_CHARS} chars.")
        out[str(key)] = str(value)
    return out
