"""Promoting, retiring and rejecting a model revision: the rules, and the event that
records who decided and why. The API and the CLI both call `decide`."""

from __future__ import annotations

import re

from hub_assets.errors import ApprovalRefusedError, InvalidDecisionError
from hub_assets.registry.metrics import latest_gate_result
from hub_assets.registry.models import append_status, status_history
from hub_assets.registry.packages import ingested_revisions, requesters_of
from hub_assets.registry.store import Registry
from hub_assets.states import ModelStatus

ACTIONS = {
    "promote": ModelStatus.PROMOTED.value,
    "retire": ModelStatus.RETIRED.value,
    "reject": ModelStatus.REJECTED.value,
}
_SHA = re.compile(r"[0-9a-f]{40}")


def decide(
    registry: Registry,
    model_id: str,
    action: str,
    revision: str,
    reason: str,
    username: str,
    request_id: str,
    two_person_rule: bool = True,
) -> dict:
    """Record a promote / retire / reject decision on one revision; return the event.

    Only a revision whose latest gate result passed and that has a live package can be
    promoted, and (`two_person_rule`, HUB_ASSETS_TWO_PERSON_RULE) not by whoever asked for
    its ingestion. Retiring and rejecting need a revision the registry knows.
    """
    if action not in ACTIONS:
        raise InvalidDecisionError(f"Unknown action {action!r}: expected {', '.join(ACTIONS)}.")
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise InvalidDecisionError("A decision needs a reason (1 to 500 characters).")
    if not _SHA.fullmatch(revision or ""):
        raise InvalidDecisionError(
            f"Revision {revision!r} is not a commit sha: give the 40-hex sha the gate judged."
        )
    with registry.write() as con:
        known = {sha for *_, sha, _ in status_history(con, model_id) if sha}
        if not known:
            raise ApprovalRefusedError(f"Model {model_id!r} is not in the registry.")
        if revision not in known:
            raise ApprovalRefusedError(
                f"Revision {revision[:12]} of {model_id} is unknown to the registry."
            )
        if action == "promote":
            gate = latest_gate_result(con, model_id, revision)
            if not gate or not gate["passed"]:
                raise ApprovalRefusedError(
                    f"Revision {revision[:12]} of {model_id} has not passed the quality gate: "
                    "only a gated and ingested revision can be promoted."
                )
            if revision not in ingested_revisions(con, model_id):
                raise ApprovalRefusedError(
                    f"Revision {revision[:12]} of {model_id} has no package: ingest it first."
                )
            if two_person_rule and username in requesters_of(con, model_id, revision):
                raise ApprovalRefusedError(
                    f"Two-person rule: {username} asked for the ingestion of revision "
                    f"{revision[:12]} of {model_id}; another approver must promote it."
                )
        status = ACTIONS[action]
        text = f"{status} by {username}: {reason}"
        append_status(
            con, model_id, status, run_id=f"api:{request_id}", reason=text, revision_sha=revision
        )
    return {"model_id": model_id, "revision": revision, "status": status, "reason": text}
