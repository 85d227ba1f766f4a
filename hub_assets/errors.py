"""What each failure means for a user, in one place: its outcome, exit code and words.

This module is a leaf: it imports only `outcomes.py` (the `Outcome` enum that gives each
outcome its exit code and HTTP status, re-exported here), so every module can import it.
It defines every error class the product raises, grouped under headings by where they are
raised; `failures.py` classifies a failure by these classes.
Every error the product raises on purpose is a `HubAssetsError` whose subclass names its
outcome; a few errors of other libraries map to outcomes here too. Failures are classified
by type, never by searching message text: a live exception by its class, a failed Dagster
run by the class names in its `SerializableErrorInfo` chain.
"""

from __future__ import annotations

from typing import Any, ClassVar

from hub_assets.outcomes import (  # noqa: F401 - re-exported: errors and outcomes together
    EXIT_CODES,
    HTTP_STATUSES,
    Outcome,
    exit_code,
    message_of_error_info,
    plain_message,
)


class HubAssetsError(Exception):
    """The base of every error the product raises on purpose: each subclass names its
    outcome (and so its exit code)."""

    outcome: ClassVar[Outcome] = Outcome.ERROR

    @property
    def exit_code(self) -> int:
        """The exit code of this error's outcome."""
        return Outcome(self.outcome).exit_code


# --- The Hub and what it sends: ids, transport, untrusted bytes, verification ---


class NotClearedError(HubAssetsError, PermissionError):
    """A loader was asked to load files that have no passing security verdict."""

    outcome = Outcome.UNSAFE_REPO


class HubUnavailableError(HubAssetsError, ConnectionError):
    """The Hub could not be reached and nothing cached can stand in."""

    outcome = Outcome.DOWNLOAD_FAILED


class OfflineCacheMissError(HubUnavailableError):
    """Offline (HF_HUB_OFFLINE=1 or the Hub unreachable) and nothing cached for this model."""

    outcome = Outcome.OFFLINE_CACHE_MISS


class RateLimitedError(HubUnavailableError):
    """The Hub kept answering 429 (or 5xx) after every configured retry."""


class ModelNotFoundError(HubAssetsError, LookupError):
    """The Hub has no such model (or revision)."""

    outcome = Outcome.NOT_FOUND


class RepoNotFoundError(ModelNotFoundError):
    """The Hub has no repo of that id (not merely no such revision): deleted, renamed, or
    never there. A model the registry knows is then recorded as deleted upstream."""


class InvalidRepoIdError(HubAssetsError, ValueError):
    """A string that cannot be a Hub repo id."""

    outcome = Outcome.INVALID


class InvalidRepoPathError(HubAssetsError, ValueError):
    """A file path that could escape its repo (absolute, '..', a backslash, a NUL)."""

    outcome = Outcome.UNSAFE_REPO


class InvalidModelIdError(HubAssetsError, ValueError):
    """A model id that cannot be a Hub repo id."""

    outcome = Outcome.INVALID


class MalformedWeightsError(HubAssetsError, ValueError):
    """A weight file whose header breaks its format's rules (sizes, offsets, dtypes)."""

    outcome = Outcome.MALFORMED_WEIGHTS


class UnknownLicenseError(HubAssetsError, ValueError):
    """A licence the Hub does not know."""

    outcome = Outcome.INVALID


class RedirectRefusedError(HubAssetsError, ConnectionError):
    """The Hub redirected to a host it may not send us to, or redirected too often."""

    outcome = Outcome.UNSAFE_REPO


class DeadlineExceededError(HubAssetsError, TimeoutError):
    """A response took longer than its deadline (an endless or trickling body)."""

    outcome = Outcome.DOWNLOAD_FAILED


class UnsafeRepoError(HubAssetsError, ValueError):
    """The Hub sent a value that cannot be trusted (a sha, a name, a size): the repo is
    refused before anything uses it."""

    outcome = Outcome.UNSAFE_REPO

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class OversizedRepoError(UnsafeRepoError):
    """The repo advertises more files or bytes than the configured limits: refused before
    any fetch."""

    outcome = Outcome.OVERSIZED_REPO


class OversizedMetadataFileError(UnsafeRepoError):
    """A card or config the Hub advertises over the limit for files read whole."""

    outcome = Outcome.OVERSIZED_REPO


class ChecksumMismatchError(HubAssetsError, ValueError):
    """A file's content did not match the Hub's hash, even after a fresh download."""

    outcome = Outcome.CHECKSUM_MISMATCH

    def __init__(self, message: str, *, path: str = "", expected: str = "", actual: str = ""):
        super().__init__(message)
        self.path, self.expected, self.actual = path, expected, actual


class InvalidHubWebhookError(HubAssetsError, ValueError):
    """A webhook said to come from the Hub is not one: not JSON, not the Hub's payload
    shape, or it names an invalid repo or sha."""

    outcome = Outcome.INVALID


# --- Optional parts ---


class MissingExtraError(HubAssetsError, ImportError):
    """A part of the product that needs an optional extra was asked for without it."""

    outcome = Outcome.INVALID


# --- Hardware fit and GGUF headers ---


class DeviceConfigError(HubAssetsError, ValueError):
    """A device profile file that cannot be used."""

    outcome = Outcome.INVALID


class MalformedGgufError(HubAssetsError):
    """A GGUF header that breaks the format or the reader's bounds: a finding, not a crash."""

    outcome = Outcome.UNSAFE_REPO


# --- Settings ---


class SettingsError(HubAssetsError, ValueError):
    """An environment variable holds a value the product cannot use."""

    outcome = Outcome.INVALID


# --- The registry ---


class MissingMetadataError(RuntimeError):
    """A per-model stage ran before the model's metadata was stored."""


class InvalidFilterError(HubAssetsError, ValueError):
    """A name filter the registry's engine cannot run."""

    outcome = Outcome.INVALID


class RegistryError(HubAssetsError, RuntimeError):
    """The registry could not be opened or used; the message says why and what to do."""

    outcome = Outcome.ERROR


# --- Evaluation ---


class BackendLoadError(HubAssetsError, RuntimeError):
    """The model could not be loaded for evaluation; the message says why."""

    outcome = Outcome.ERROR


class DatasetLoadError(HubAssetsError, RuntimeError):
    """A pinned dataset could not be loaded and is not cached."""

    outcome = Outcome.ERROR


class SamplesUnavailableError(HubAssetsError, LookupError):
    """The model has no evaluation at its current revision (or its dataset is not cached)."""

    outcome = Outcome.NOT_FOUND


# --- The quality gate ---


class GateConfigError(HubAssetsError, ValueError):
    """The gate configuration file is not valid; the message names the file and the field."""

    outcome = Outcome.INVALID


# --- Downloads, packages and package stores ---


class UnsafePathError(UnsafeRepoError):
    """The Hub listed a file path that could escape the download folder."""


class OversizedFileError(UnsafePathError):
    """The Hub advertises a file larger than the configured maximum."""


class InsufficientDiskSpaceError(HubAssetsError, OSError):
    """Not enough free disk for the files still to download."""

    outcome = Outcome.ERROR


class GatedModelError(HubAssetsError, PermissionError):
    """The model's files need a token with access."""

    outcome = Outcome.GATED


class DownloadFailedError(HubAssetsError, ConnectionError):
    """A file could not be fetched after the retries (connection dropped, server errors)."""

    outcome = Outcome.DOWNLOAD_FAILED


class GateNotPassedError(HubAssetsError, RuntimeError):
    """The current revision did not pass the quality gate (or has no gate decision)."""

    outcome = Outcome.GATE_FAILED


class PackageExistsError(HubAssetsError, RuntimeError):
    """A package with this name and version is already in the registry."""

    outcome = Outcome.ALREADY_EXISTS

    def __init__(self, message: str, existing: Any = None, same_revision: bool = False) -> None:
        super().__init__(message)
        # the registry's PackageRow of the package that exists
        self.existing, self.same_revision = existing, same_revision


class ClaimLostError(PackageExistsError):
    """This run's claim on the package went stale and another run took it over."""


class InvalidVersionError(HubAssetsError, ValueError):
    """A package version that is not semantic (MAJOR.MINOR.PATCH)."""

    outcome = Outcome.INVALID


class StorageError(HubAssetsError, RuntimeError):
    """The package store could not be written or read."""

    outcome = Outcome.STORAGE_FAILED


# --- Signatures and proof ---


class SigningKeyError(HubAssetsError, ValueError):
    """A signing or verification key that cannot be used; the message says why."""

    outcome = Outcome.INVALID


class UnverifiedPackageError(HubAssetsError, ValueError):
    """A package whose bytes, signature, attestation or BOM do not check out."""

    outcome = Outcome.UNVERIFIED


# --- Publishing to a Hub ---


class InvalidPushError(HubAssetsError, ValueError):
    """A push that cannot start: no model files, a bad repo id, licence or JSON file."""

    outcome = Outcome.INVALID


class PushUnauthorizedError(HubAssetsError, PermissionError):
    """No token, or a token the Hub does not accept."""

    outcome = Outcome.UNAUTHORIZED


class PushForbiddenError(HubAssetsError, PermissionError):
    """A valid token that cannot write."""

    outcome = Outcome.FORBIDDEN


class PushFailedError(HubAssetsError, RuntimeError):
    """The Hub refused or failed the push; nothing half-committed (one commit or none)."""

    outcome = Outcome.ERROR


# --- Identity and approvals ---


class ApprovalRefusedError(HubAssetsError, ValueError):
    """The decision is not allowed for this revision (e.g. promoting one that did not pass
    the gate, or has no package)."""

    outcome = Outcome.REFUSED


class InvalidDecisionError(HubAssetsError, ValueError):
    """A decision without a reason, with an unknown action, or a revision that is no sha."""

    outcome = Outcome.INVALID


class AuthenticationError(HubAssetsError, PermissionError):
    """No valid credentials: unknown user, wrong password, or a bad, expired or revoked
    token."""

    outcome = Outcome.UNAUTHORIZED


class PermissionDeniedError(HubAssetsError, PermissionError):
    """Valid credentials without the permission the action needs."""

    outcome = Outcome.FORBIDDEN


class ThrottledError(HubAssetsError, PermissionError):
    """Too many failed logins for this user or address: wait before trying again."""

    outcome = Outcome.THROTTLED

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InvalidIdentityError(HubAssetsError, ValueError):
    """A username, permission or duration the service cannot accept."""

    outcome = Outcome.INVALID


# --- The mirror and lockfiles ---


class NotApprovedError(HubAssetsError, LookupError):
    """A model asked for in a lockfile has no approved revision."""

    outcome = Outcome.REFUSED


class InvalidLockfileError(HubAssetsError, ValueError):
    """A lockfile that is not one `hub-assets lock` wrote."""

    outcome = Outcome.INVALID


class LockMismatchError(HubAssetsError, ValueError):
    """A fetched file's bytes differ from the lockfile; the file was removed."""

    outcome = Outcome.CHECKSUM_MISMATCH


class PackageIntegrityError(HubAssetsError, ValueError):
    """A stored package is not the zip the registry recorded: different sha256, a member
    compressed or of the wrong size. It is not served."""

    outcome = Outcome.CHECKSUM_MISMATCH


# --- Serving the Hub's protocol ---


class HubError(Exception):
    """An error answered the way the Hub answers it: status, X-Error-Code, message."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        headers: dict | None = None,
        extra: dict | None = None,
        *,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.extra = extra or {}  # more keys of the JSON body (a 409's `url`)
        # why, as one word the access log and /metrics count by (e.g. `gate_failed`);
        # None: the status and error code say it (`exchange.refusal_of`)
        self.reason = reason


class UploadRejectedError(ValueError):
    """Uploaded bytes that do not match what was announced (sha256 or size)."""
