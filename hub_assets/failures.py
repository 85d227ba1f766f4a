"""Classifying a failure by type, never by its text: a live exception by its class and
causes, a failed Dagster run by the class names in its `SerializableErrorInfo` chain."""

from __future__ import annotations

from collections.abc import Sequence

from hub_assets.errors import HubAssetsError
from hub_assets.outcomes import Outcome, message_of_error_info

# Errors of other libraries that mean one of our outcomes.
EXTERNAL_OUTCOMES = {
    "GatedRepoError": Outcome.GATED.value,
    "RepositoryNotFoundError": Outcome.NOT_FOUND.value,
    "RevisionNotFoundError": Outcome.NOT_FOUND.value,
    "OfflineModeIsEnabled": Outcome.OFFLINE_CACHE_MISS.value,
}


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def outcomes_by_class_name() -> dict[str, str]:
    """Class name → outcome for every product error and the external ones above."""
    return {
        **EXTERNAL_OUTCOMES,
        **{c.__name__: Outcome(c.outcome).value for c in _subclasses(HubAssetsError)},
    }


def outcome_of(error: BaseException) -> str:
    """The outcome of a live exception: its own class and bases, then its causes."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, HubAssetsError):
            return Outcome(seen.outcome).value
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
