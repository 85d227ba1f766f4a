"""What each failure means for a user, in one place: its outcome, exit code and words.

Every error the product raises on purpose is a `HubAssetsError` whose subclass names its
outcome; a few errors of other libraries map to outcomes here too. Failures are classified
by type, never by searching message text: a live exception by its class, a failed Dagster
run by the class names in its `SerializableErrorInfo` chain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

# Outcome → exit code of `hub-assets ingest --wait` (docs/ingestion.md has the same table).
EXIT_CODES = {
    "ingested": 0,
    "error": 1,
    "invalid": 2,
    "not_found": 3,
    "gate_failed": 4,
    "already_exists": 5,
    "storage_failed": 6,
    "gated": 7,
    "checksum_mismatch": 8,
    "download_failed": 9,
    "unsafe_repo": 10,
    "offline_cache_miss": 11,
    "unauthorized": 12,
    "forbidden": 13,
    "throttled": 14,
    "refused": 15,
    "unverified": 16,
    "oversized_repo": 17,
    "malformed_weights": 18,
    "already_packaged": 0,  # asked again for a packaged revision: its package is the answer
}

# Outcome → HTTP status of the registry service (docs/service.md has the same table).
HTTP_STATUSES = {
    "ingested": 200,
    "error": 500,
    "invalid": 422,
    "not_found": 404,
    "gate_failed": 400,
    "already_exists": 409,
    "storage_failed": 502,
    "gated": 403,
    "checksum_mismatch": 502,
    "download_failed": 502,
    "unsafe_repo": 400,
    "offline_cache_miss": 503,
    "unauthorized": 401,
    "forbidden": 403,
    "throttled": 429,
    "refused": 409,
    "unverified": 502,
    "oversized_repo": 400,
    "malformed_weights": 400,
    "already_packaged": 200,
}


class HubAssetsError(Exception):
    """The base of every error the product raises on purpose: each subclass names its
    outcome (and so its exit code)."""

    outcome: ClassVar[str] = "error"

    @property
    def exit_code(self) -> int:
        return exit_code(self.outcome)


# Errors of other libraries that mean one of our outcomes.
EXTERNAL_OUTCOMES = {
    "GatedRepoError": "gated",
    "RepositoryNotFoundError": "not_found",
    "RevisionNotFoundError": "not_found",
    "OfflineModeIsEnabled": "offline_cache_miss",
}


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def outcomes_by_class_name() -> dict[str, str]:
    """Class name → outcome for every product error and the external ones above."""
    import hub_assets.evaluation.backends
    import hub_assets.evaluation.datasets
    import hub_assets.gate.config
    import hub_assets.hub.clearance
    import hub_assets.hub.client
    import hub_assets.hub.ids
    import hub_assets.hub.inspection
    import hub_assets.hub.transport
    import hub_assets.hub.untrusted
    import hub_assets.hub.verified
    import hub_assets.packaging.download
    import hub_assets.packaging.ingest
    import hub_assets.packaging.package
    import hub_assets.packaging.store
    import hub_assets.registry.store  # noqa: F401 - each import registers its errors

    return {**EXTERNAL_OUTCOMES, **{c.__name__: c.outcome for c in _subclasses(HubAssetsError)}}


_CLASS_PREFIX = re.compile(
    r"^(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Exit|Failure)\w*: "
)


def outcome_of(error: BaseException) -> str:
    """The outcome of a live exception: its own class and bases, then its causes."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, HubAssetsError):
            return seen.outcome
        for cls in type(seen).__mro__:
            if cls.__name__ in EXTERNAL_OUTCOMES:
                return EXTERNAL_OUTCOMES[cls.__name__]
        seen = seen.__cause__ or seen.__context__
    return "error"


def outcome_of_error_info(info: object) -> str:
    """The outcome of a Dagster `SerializableErrorInfo` chain (innermost cause first)."""
    chain = []
    while info is not None:
        chain.append(info)
        info = getattr(info, "cause", None) or getattr(info, "context", None)
    known = outcomes_by_class_name()
    for item in reversed(chain):
        outcome = known.get(getattr(item, "cls_name", None), "error")
        if outcome != "error":
            return outcome
    return "error"


def plain_message(text: str) -> str:
    """A message in words: no `module.ClassName: ` prefixes, each cause said once."""
    parts = []
    for part in str(text).strip().split("; "):
        part = _CLASS_PREFIX.sub("", part.strip()).strip()
        if part and part not in parts:
            parts.append(part)
    return "; ".join(parts)


def message_of_error_info(info: object) -> str:
    """The innermost cause of a Dagster error, in plain words."""
    while getattr(info, "cause", None) is not None:
        info = info.cause
    return plain_message(getattr(info, "message", info))


def exit_code(outcome: str) -> int:
    """The exit code of an outcome (1 for one this table does not know)."""
    return EXIT_CODES.get(outcome, 1)


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
