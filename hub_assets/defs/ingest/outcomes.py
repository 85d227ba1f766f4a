"""What became of an ad-hoc ingest request whose run failed before packaging finished."""

from hub_assets.registry import packages as reg_packages
from hub_assets.registry.metrics import current_revision
from hub_assets.registry.store import Registry

REQUEST_TAG = "hub_assets/ingest_request"


def root_message(error: object) -> str:
    """The innermost cause of a Dagster SerializableErrorInfo: the error users can act on."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return str(getattr(error, "message", error)).strip()


def record_failed_request(registry: Registry, request_id: int, run_id: str, error: str) -> str:
    """Classify the failure in users' words, store it on the request, and return it."""
    with registry.read() as con:
        request = reg_packages.get_request(con, request_id)
        if request is None or request["status"] in ("succeeded",):
            return request["message"] if request else error
        if request["status"] == "failed" and request["outcome"]:
            return request["message"]  # the asset already said why
        model_id = request["model_id"]
        current = current_revision(con, model_id)
        gate = None
        if current is not None:
            gate = con.execute(
                "SELECT passed, message FROM gate_results WHERE model_id = ? AND "
                "revision_sha = ? ORDER BY created_at DESC LIMIT 1",
                [model_id, current[0]],
            ).fetchone()
    if gate is not None and not gate[0]:
        outcome, message = "gate_failed", gate[1]
    elif "not found on the Hub" in error:
        outcome, message = "not_found", f"Model '{model_id}' not found on the Hub"
    elif "is gated" in error or "GatedRepo" in error:
        outcome, message = "gated", error
    else:
        outcome, message = "error", error
    with registry.write() as con:
        reg_packages.update_request(
            con, request_id, status="failed", outcome=outcome, message=message, run_id=run_id
        )
    return message
