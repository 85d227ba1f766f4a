"""Every failure gets its outcome and exit code from one table, and a message in words."""

import pytest
from huggingface_hub.errors import OfflineModeIsEnabled

from hub_assets.errors import (
    EXIT_CODES,
    HTTP_STATUSES,
    DownloadFailedError,
    GatedModelError,
    GateNotPassedError,
    HubUnavailableError,
    InvalidModelIdError,
    InvalidVersionError,
    ModelNotFoundError,
    OfflineCacheMissError,
    OversizedFileError,
    PackageExistsError,
    RateLimitedError,
    StorageError,
    UnsafePathError,
    plain_message,
)
from hub_assets.failures import outcome_of, outcome_of_error_info
from hub_assets.hub.download import ChecksumMismatchError


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (GateNotPassedError("x"), "gate_failed"),
        (PackageExistsError("x"), "already_exists"),
        (StorageError("x"), "storage_failed"),
        (GatedModelError("x"), "gated"),
        (ChecksumMismatchError("x"), "checksum_mismatch"),
        (DownloadFailedError("x"), "download_failed"),
        (RateLimitedError("x"), "download_failed"),
        (HubUnavailableError("x"), "download_failed"),
        (UnsafePathError("x"), "unsafe_repo"),
        (OversizedFileError("x"), "unsafe_repo"),
        (OfflineCacheMissError("x"), "offline_cache_miss"),
        (OfflineModeIsEnabled("x"), "offline_cache_miss"),
        (ModelNotFoundError("x"), "not_found"),
        (InvalidModelIdError("x"), "invalid"),
        (InvalidVersionError("x"), "invalid"),
        (KeyError("x"), "error"),
    ],
)
def test_each_error_has_one_outcome_and_exit_code(error, outcome):
    assert outcome_of(error) == outcome
    assert outcome in EXIT_CODES


def test_exit_codes_are_distinct_and_success_is_zero():
    """Each failure has its own exit code; the two successes (a new package, the existing
    package of a revision asked for again) exit 0 and answer 200."""
    successes = {"ingested", "already_packaged"}
    assert {EXIT_CODES[o] for o in successes} == {0}
    failures = [code for outcome, code in EXIT_CODES.items() if outcome not in successes]
    assert 0 not in failures and len(set(failures)) == len(failures)
    assert {HTTP_STATUSES[o] for o in successes} == {200}


def test_a_wrapped_error_is_classified_by_its_cause():
    try:
        try:
            raise ChecksumMismatchError("bad bytes")
        except ChecksumMismatchError as inner:
            raise RuntimeError("step failed") from inner
    except RuntimeError as outer:
        assert outcome_of(outer) == "checksum_mismatch"


class _Info:  # the shape of Dagster's SerializableErrorInfo
    def __init__(self, cls_name, message, cause=None):
        self.cls_name, self.message, self.cause, self.context = cls_name, message, cause, None


def test_a_failed_runs_error_chain_is_classified_by_type_not_text():
    chain = _Info(
        "DagsterExecutionStepExecutionError",
        "Error occurred while executing op",
        _Info("ChecksumMismatchError", "hub_assets.x.ChecksumMismatchError: model.safetensors"),
    )
    assert outcome_of_error_info(chain) == "checksum_mismatch"
    # a message that merely mentions a word is not an outcome
    assert outcome_of_error_info(_Info("ValueError", "the repo is gated, they said")) == "error"


def test_messages_carry_no_class_paths_and_say_each_cause_once():
    raw = (
        "h11._util.RemoteProtocolError: peer closed connection without sending complete "
        "message body; h11._util.RemoteProtocolError: peer closed connection without "
        "sending complete message body"
    )
    assert plain_message(raw) == ("peer closed connection without sending complete message body")


def test_every_product_error_names_a_known_outcome():
    from hub_assets.errors import HubAssetsError
    from hub_assets.failures import outcomes_by_class_name

    known = outcomes_by_class_name()
    assert set(known.values()) <= set(EXIT_CODES)
    assert known["ChecksumMismatchError"] == "checksum_mismatch"
    assert ChecksumMismatchError("x").exit_code == EXIT_CODES["checksum_mismatch"] == 8
    assert isinstance(GateNotPassedError("x"), HubAssetsError)


def test_the_outcome_table_in_the_docs_is_the_outcome_enum():
    """docs/ingestion.md's table of outcomes, exit codes and HTTP statuses says what
    `Outcome` says, row for row."""
    import re
    from pathlib import Path

    from hub_assets.errors import Outcome

    doc = (Path(__file__).parent.parent / "docs" / "ingestion.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| (\d+) \|", doc, flags=re.M)
    assert {(o, int(e), int(h)) for o, e, h in rows} == {
        (o.value, o.exit_code, o.http_status) for o in Outcome
    }
    assert len(rows) == len(Outcome)


def test_every_error_class_is_defined_in_the_errors_module():
    """One module holds every error class: none is defined anywhere else in the product."""
    import ast
    from pathlib import Path

    package = Path(__file__).parent.parent / "hub_assets"
    elsewhere = [
        f"{path.relative_to(package)}:{node.name}"
        for path in package.rglob("*.py")
        if path.name != "errors.py" and "devhub" not in path.parts
        for node in ast.parse(path.read_text()).body
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(b, ast.Name) and (b.id.endswith("Error") or b.id == "Exception")
            for b in node.bases
        )
    ]
    assert elsewhere == []
