"""What became of an ad-hoc ingest request whose run failed before packaging finished."""

from collections.abc import Sequence

from hub_assets.errors import message_of_error_info, outcome_of_error_info
from hub_assets.registry import packages as reg_packages
from hub_assets.registry.metrics import current_revision, latest_gate_result
from hub_assets.registry.store import Registry

REQUEST_TAG = "hub_assets/ingest_request"


def classify_step_errors(errors: Sequence[object]) -> tuple[str, str]:
    """(outcome, message) of a failed run's step errors (Dagster `SerializableErrorInfo`):
    the first error with a known outcome decides; the message names each cause once."""
    outcome = next((o for o in map(outcome_of_error_info, errors) if o != "error"), "error")
    messages: list[str] = []
    for e in errors:
        m = message_of_error_info(e)
        if m and m not in messages:
            messages.append(m)
    return outcome, "; ".join(messages) or "run failed"


def record_failed_request(
    registry: Registry, request_id: int, run_id: str, error: str, outcome: str = "error"
) -> str:
    """Store the failure's outcome and message on the request (a failed gate, found in the
    registry, takes precedence), and return the message."""
    with registry.read() as con:
        request = reg_packages.get_request(con, request_id)
        if request is None or request["status"] in ("succeeded",):
            return request["message"] if request else error
        if request["status"] == "failed" and request["outcome"]:
            return request["message"]  # the asset already said why
        model_id = request["model_id"]
        current = current_revision(con, model_id)
        gate = latest_gate_result(con, model_id, current[0]) if current else None
    if gate is not None and not gate["passed"]:
        outcome, message = "gate_failed", gate["message"]
    else:
        message = error
    with registry.write() as con:
        reg_packages.update_request(
            con, request_id, status="failed", outcome=outcome, message=message, run_id=run_id
        )
    return message
