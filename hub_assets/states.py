"""The names of every state the registry records, each written once: a model's lifecycle,
an ingest request's progress, a user's permissions, a gate verdict.

A leaf: it imports nothing of the product. The members are `StrEnum`s, so they compare
equal to the strings the registry stores and JSON carries.
"""

from __future__ import annotations

from enum import StrEnum


class ModelStatus(StrEnum):
    """A model's lifecycle, in the order a model usually goes through it (the registry's
    `model_status` table is an append-only log of these)."""

    DISCOVERED = "discovered"
    CANDIDATE = "candidate"
    FILTERED_OUT = "filtered_out"
    EVALUATED = "evaluated"
    GATE_PASSED = "gate_passed"
    GATE_FAILED = "gate_failed"
    INGESTED = "ingested"
    PROMOTED = "promoted"
    RETIRED = "retired"
    REJECTED = "rejected"
    # a packaged revision that passed the gate and, judged again (a new gate config),
    # fails it: the mirror stops serving it, with the cause
    REVOKED = "revoked"

    @property
    def settled(self) -> bool:
        """Whether the status records a decision past the gate (packaged, promoted,
        retired, rejected): a re-evaluation or re-judging that passes again leaves it."""
        return self in (
            ModelStatus.INGESTED,
            ModelStatus.PROMOTED,
            ModelStatus.RETIRED,
            ModelStatus.REJECTED,
        )


class RequestStatus(StrEnum):
    """An ingest request's progress (`ingest_requests.status`)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """Whether the request has ended, one way or the other."""
        return self in (RequestStatus.SUCCEEDED, RequestStatus.FAILED)


class Permission(StrEnum):
    """What a registry user may do (each implies none of the others but `admin`)."""

    READ = "read"
    UPLOAD = "upload"
    APPROVE = "approve"
    ADMIN = "admin"


class Verdict(StrEnum):
    """The quality gate's verdict on one revision, as run tags and the UI show it
    (`not_evaluated`: the run ended before the gate, e.g. the model was filtered out)."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_EVALUATED = "not_evaluated"


def verdict_of(passed: bool | None) -> str | None:
    """The verdict word of a gate result's `passed` column (None: no gate result yet)."""
    return None if passed is None else (Verdict.PASSED if passed else Verdict.FAILED).value


class Health(StrEnum):
    """A judged model's health (`registry.health`), worst last."""

    OK = "ok"
    STALE = "stale"  # its verdict was made under another gate, or too long ago
    AT_RISK = "at_risk"  # upstream moved: main not judged yet, or the repo became gated
    REVOKED = "revoked"  # the gate, judged again, refused its approved revision
