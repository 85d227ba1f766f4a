"""Packages into a local folder and into S3 (real s3fs against moto), faults included."""

import io
import json
import zipfile

import boto3
import pytest

from hub_assets.devhub.demo_catalog import ORG
from hub_assets.errors import (
    GateNotPassedError,
    InvalidVersionError,
    PackageExistsError,
    StorageError,
)
from hub_assets.packaging.package import check_version
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.ingest import ingest_model
from hub_assets.registry.models import status_history
from hub_assets.registry.packages import retire_package
from hub_assets_tests.conftest import S3_CREDENTIALS

MODEL = f"{ORG}/tiny-gpt2-complete"


def s3_store(endpoint: str, bucket: str) -> PackageStore:
    return PackageStore(f"s3://{bucket}/packages", {"endpoint_url": endpoint, **S3_CREDENTIALS})


def open_uploads(endpoint: str, bucket: str) -> list:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_local_package_has_files_manifest_and_card(hub_client, gated_registry, tmp_path):
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    result = ingest_model(
        hub_client,
        registry,
        store,
        MODEL,
        run_id="run-1",
        work_dir=tmp_path / "work",
        description="demo package",
    )
    assert result.version == "1.0.0" and result.name == "hub-assets-demo--tiny-gpt2-complete"
    assert result.uri == str(tmp_path / "packages" / result.name / "1.0.0" / "package.zip")
    with zipfile.ZipFile(result.uri) as z:
        names = set(z.namelist())
        manifest = json.loads(z.read("manifest.json"))
        card = z.read("README.md").decode()
        weights = z.read("model/model.safetensors")
    assert {"manifest.json", "README.md", "model/config.json", "model/README.md"} <= names
    assert not any(".cache" in n for n in names)
    assert manifest["model_id"] == MODEL and manifest["revision"] == result.revision
    assert manifest["gate"]["passed"] and manifest["metrics"]["net_score"] == 0.9
    entry = next(f for f in manifest["files"] if f["path"] == "model/model.safetensors")
    import hashlib

    assert entry["sha256"] == hashlib.sha256(weights).hexdigest()
    assert "base_model: hub-assets-demo/tiny-gpt2-complete" in card and "demo package" in card
    with registry.read() as con:
        row = con.execute(
            "SELECT uri, size_bytes, sha256, net_score, run_id FROM packages"
        ).fetchone()
        history = status_history(con, MODEL)
    assert row == (result.uri, (tmp_path / row[0]).stat().st_size, result.sha256, 0.9, "run-1")
    assert history[-1][1] == "ingested"
    assert not (tmp_path / "work" / "downloads").exists() or not any(
        (tmp_path / "work" / "downloads").iterdir()
    )


def test_duplicate_gate_failure_and_auto_versions(hub_client, gated_registry, tmp_path):
    registry = gated_registry(MODEL)
    gated_registry(f"{ORG}/tiny-gpt2-stale", passed=False)
    store = PackageStore(str(tmp_path / "packages"))
    ingest_model(hub_client, registry, store, MODEL, run_id="r", work_dir=tmp_path)
    with pytest.raises(PackageExistsError, match="is already packaged as .* 1.0.0") as dup:
        ingest_model(hub_client, registry, store, MODEL, run_id="r", work_dir=tmp_path)
    assert dup.value.same_revision and dup.value.existing.version == "1.0.0"
    assert "/" not in str(dup.value).split(" of ")[0]  # no file path in the words
    for version in ("1.0.0", "2.0.0"):  # a revision is packaged once, whatever the version
        with pytest.raises(PackageExistsError, match="a revision is packaged once"):
            ingest_model(
                hub_client, registry, store, MODEL, version=version, run_id="r", work_dir=tmp_path
            )
    with registry.write() as con:  # once its package is retired, a new version may be made
        retire_package(con, dup.value.existing.package_id, "admin")
    second = ingest_model(
        hub_client, registry, store, MODEL, version="2.0.0", run_id="r", work_dir=tmp_path
    )
    assert second.version == "2.0.0"
    with pytest.raises(
        GateNotPassedError, match="Failed metrics: Security \\(0.20 < 0.50\\), License \\(0.20"
    ):
        ingest_model(
            hub_client, registry, store, f"{ORG}/tiny-gpt2-stale", run_id="r", work_dir=tmp_path
        )
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM packages").fetchone() == (2,)


@pytest.mark.parametrize(
    "bad",
    [
        "1",
        "v1.0.0",
        "1.0",
        "latest",
        "",
        "1.0.0\n",  # `$` matches before a final newline; a header then breaks
        "١.٠.٠",  # Arabic-Indic digits are digits to `\\d`
        "01.0.0",  # leading zeros
        "1.0.0-",
        "1.0.0+a..b",
        "1.0.0 ",
        "9" * 10 + ".0.0",
    ],
)
def test_versions_are_validated(bad):
    with pytest.raises(InvalidVersionError, match="MAJOR.MINOR.PATCH"):
        check_version(bad)


def test_strict_versions_pass():
    for good in ("0.0.0", "1.0.0", "10.20.30", "1.0.0-rc.1", "1.0.0+build.5", "1.0.0-a-b+c"):
        assert check_version(good) == good


def test_s3_package_round_trip(hub_client, gated_registry, s3_bucket, tmp_path):
    endpoint, bucket = s3_bucket
    registry = gated_registry(MODEL)
    result = ingest_model(
        hub_client, registry, s3_store(endpoint, bucket), MODEL, run_id="r", work_dir=tmp_path
    )
    assert result.uri == f"s3://{bucket}/packages/{result.name}/1.0.0/package.zip"
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint, **S3_CREDENTIALS)
    data = fs.cat(result.uri)
    assert len(data) == result.size_bytes
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    assert open_uploads(endpoint, bucket) == []


def test_storage_failing_mid_upload_leaves_nothing_and_a_retry_succeeds(
    hub_client, hub_server, gated_registry, s3_bucket, fault_proxy, tmp_path
):
    endpoint, bucket = s3_bucket
    model = "sentence-transformers/all-MiniLM-L6-v2"  # 90 MB: several 16 MB parts
    registry = gated_registry(model)
    store = PackageStore(
        f"s3://{bucket}/packages", {"endpoint_url": fault_proxy.url, **S3_CREDENTIALS}
    )
    fault_proxy.fail("PUT", r"partNumber=3&")
    with pytest.raises(StorageError, match="Upload to s3://"):
        ingest_model(hub_client, registry, store, model, run_id="r1", work_dir=tmp_path)
    assert fault_proxy.failed >= 1
    assert open_uploads(endpoint, bucket) == []  # the multipart upload was aborted
    assert not store.exists("sentence-transformers--all-MiniLM-L6-v2", "1.0.0")
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM packages").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM package_claims").fetchone() == (0,)  # released
    fault_proxy.heal()
    hub_server.reset_requests()
    result = ingest_model(hub_client, registry, store, model, run_id="r2", work_dir=tmp_path)
    assert result.size_bytes > 90_000_000
    assert hub_server.requests["GET resolve"] == 0  # the verified download was kept
    with registry.read() as con:
        assert con.execute("SELECT run_id FROM packages").fetchall() == [("r2",)]


def test_local_store_failure_leaves_no_partial(tmp_path):
    store = PackageStore(str(tmp_path / "p"))

    def broken(out):
        out.write(b"half a zip")
        raise OSError("disk full")

    with pytest.raises(StorageError, match="disk full"):
        store.upload("n", "1.0.0", broken)
    assert not list((tmp_path / "p").rglob("*.zip*"))


def test_a_package_being_written_by_another_run_is_not_written_twice(
    hub_client, gated_registry, tmp_path
):
    """Runs claim (name, version) before writing a byte: a second run is told who holds it,
    a claim whose run died goes stale and is taken over, two runs at once make one package
    whose stored bytes are the ones the registry names."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime, timedelta

    from hub_assets.pipeline import ingest as ingest_module

    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    name = "hub-assets-demo--tiny-gpt2-complete"
    with registry.write() as con:
        con.execute(
            "INSERT INTO package_claims VALUES (?, '1.0.0', ?, 'abc', 'other-run', ?)",
            [name, MODEL, datetime.now(UTC)],
        )
    with pytest.raises(PackageExistsError, match="being written by run other-run") as held:
        ingest_model(hub_client, registry, store, MODEL, run_id="r1", work_dir=tmp_path)
    assert not held.value.same_revision and held.value.existing is None
    assert not store.exists(name, "1.0.0")
    # the other run died: its claim is not renewed, and after the stale time it is taken over
    stale = datetime.now(UTC) - timedelta(seconds=ingest_module.CLAIM_STALE_AFTER_S + 1)
    with registry.write() as con:
        con.execute("UPDATE package_claims SET claimed_at = ?", [stale])
    first = ingest_model(hub_client, registry, store, MODEL, run_id="r1", work_dir=tmp_path)
    assert first.version == "1.0.0"
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM package_claims").fetchone() == (0,)
    with registry.write() as con:  # retired: the revision may be packaged again, once
        retire_package(con, first.package_id, "admin")

    def ingest(run_id: str):
        try:
            return ingest_model(
                hub_client, registry, store, MODEL, version="2.0.0", run_id=run_id,
                work_dir=tmp_path / run_id,
            )  # fmt: skip
        except PackageExistsError as e:
            return e

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(ingest, ["a", "b", "c", "d"]))
    made = [o for o in outcomes if not isinstance(o, PackageExistsError)]
    assert len(made) == 1 and made[0].version == "2.0.0"
    with registry.read() as con:
        rows = con.execute("SELECT uri, sha256 FROM packages WHERE version = '2.0.0'").fetchall()
        assert con.execute("SELECT count(*) FROM package_claims").fetchone() == (0,)
    [(uri, sha256)] = rows
    assert hashlib.sha256(open(uri, "rb").read()).hexdigest() == sha256
    assert not list((tmp_path / "packages").rglob("*.partial"))


def test_a_run_that_waits_for_another_runs_claim_reports_its_package_or_takes_over(
    hub_client, gated_registry, tmp_path
):
    """With `wait_for_claim_s` (what the Dagster asset passes), a second run of the same
    revision waits: when the holder records its package, the waiter reports it (same
    revision, nothing uploaded twice); when the holder releases its claim without a package
    (it failed), the waiter packages the model itself."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    name = "hub-assets-demo--tiny-gpt2-complete"

    def ingest(run_id: str, version: str):
        try:
            return ingest_model(
                hub_client, registry, store, MODEL, version=version, run_id=run_id,
                work_dir=tmp_path / run_id, wait_for_claim_s=120,
            )  # fmt: skip
        except PackageExistsError as e:
            return e

    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(ingest, ["a", "b", "c"], ["1.0.0"] * 3))
    made = [o for o in outcomes if not isinstance(o, PackageExistsError)]
    waited = [o for o in outcomes if isinstance(o, PackageExistsError)]
    assert len(made) == 1 and len(waited) == 2
    assert all(w.same_revision and w.existing.package_id == made[0].package_id for w in waited)

    # the holder fails: its claim is released without a package, and the waiter takes over
    # (the first package retired, so the revision may be packaged again)
    with registry.write() as con:
        retire_package(con, made[0].package_id, "admin")
        con.execute(
            "INSERT INTO package_claims VALUES (?, '2.0.0', ?, 'abc', 'failing-run', ?)",
            [name, MODEL, datetime.now(UTC)],
        )

    def release_later() -> None:
        time.sleep(3)
        with registry.write() as con:
            con.execute("DELETE FROM package_claims WHERE run_id = 'failing-run'")

    releaser = threading.Thread(target=release_later)
    started = time.monotonic()
    releaser.start()
    result = ingest("d", "2.0.0")
    releaser.join()
    assert not isinstance(result, PackageExistsError), result
    assert result.version == "2.0.0" and time.monotonic() - started >= 3
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM package_claims").fetchone() == (0,)
