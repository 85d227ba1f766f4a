"""Proof that travels with a package: byte-identical rebuilds, the signature and the
evidence attestation checked offline, the CycloneDX BOM against its schema, and `verify`
failing with the right reason on tampering."""

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.devhub.demo_catalog import ORG
from hub_assets.errors import UnverifiedPackageError, exit_code
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.ingest import ingest_model
from hub_assets.proof.bom import validate_bom
from hub_assets.proof.bundle import bundle_name, write_bundle
from hub_assets.proof.keys import create_keys
from hub_assets.proof.signature import SigningConfig
from hub_assets.proof.verify import ATTESTATION, BOM, SIGNATURE, verify_package
from hub_assets_tests.conftest import S3_CREDENTIALS

MODEL = f"{ORG}/tiny-gpt2-complete"
OTHER = f"{ORG}/tiny-t5-qa"


@pytest.fixture
def keypair(tmp_path):
    return create_keys(tmp_path / "keys")


def package(hub_client, registry, store, tmp_path, signing=None, model=MODEL, run_id="r"):
    return ingest_model(
        hub_client,
        registry,
        store,
        model,
        run_id=run_id,
        work_dir=tmp_path / "work",
        signing=signing,
    )


def folder(result) -> Path:
    return Path(result.uri).parent


def test_a_rebuilt_package_is_byte_identical(hub_client, gated_registry, tmp_path, keypair):
    registry = gated_registry(MODEL)
    signing = SigningConfig(keypair[0])
    first = package(hub_client, registry, PackageStore(str(tmp_path / "a")), tmp_path, signing)
    with registry.write() as con:  # forget it, as after a lost store: build it again
        con.execute("DELETE FROM packages")
    again = package(
        hub_client, registry, PackageStore(str(tmp_path / "b")), tmp_path, signing, run_id="r2"
    )
    assert first.sha256 == again.sha256
    assert Path(first.uri).read_bytes() == Path(again.uri).read_bytes()
    # what varies lives in the attestation, beside the zip
    a = (folder(first) / ATTESTATION).read_bytes()
    b = (folder(again) / ATTESTATION).read_bytes()
    assert a != b
    with zipfile.ZipFile(first.uri) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        card = zf.read("README.md").decode()
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
    assert names[-2:] == ["manifest.json", "README.md"] and names[:-2] == sorted(names[:-2])
    assert "created_at" not in manifest and "package_id" not in manifest
    assert "Signed with OpenSSF model signing" in card


def test_sign_and_verify_offline(hub_client, gated_registry, tmp_path, keypair):
    private, public = keypair
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    result = package(hub_client, registry, store, tmp_path, SigningConfig(private))
    here = folder(result)
    assert {p.name for p in (here / "proof").iterdir()} == {
        "signature.sig",
        "attestation.dsse.json",
        "bom.cdx.json",
    }
    out = CliRunner().invoke(main, ["verify", str(here), "--key", str(public)])
    assert out.exit_code == 0, out.output
    assert "files: " in out.output and "signature: valid" in out.output
    assert "attestation: subject is this package" in out.output and "Verified." in out.output
    # the OpenSSF tool itself accepts our signature over the zip
    import model_signing

    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public).verify(
        result.uri, here / SIGNATURE
    )
    statement = _statement(here / ATTESTATION)
    assert statement["subject"][0]["digest"]["sha256"] == result.sha256
    predicate = statement["predicate"]
    assert predicate["signed"] is True and predicate["package"]["package_id"]
    assert predicate["gate"]["passed"] and predicate["gate"]["config_version"] == "test"
    assert len(predicate["gate"]["config_sha256"]) == 64
    checks = {c["metric"]: c for c in predicate["gate"]["checks"]}
    assert checks["license"]["score"] == 0.9 and checks["license"]["threshold"] > 0
    metric = next(m for m in predicate["metrics"] if m["metric"] == "license")
    assert metric["revision"] == result.revision and metric["inputs_fingerprint"] == "f"
    assert {"r", "gate", "trust"} <= set(predicate["registry_run_ids"])
    assert predicate["overrides"] == []
    assert predicate["licence_chain"]["chain"] is None  # the fixture scores no chain


def test_the_attestation_names_the_override_reviewer_and_reason(
    hub_client, gated_registry, tmp_path, keypair
):
    registry = gated_registry(MODEL)
    override = {"thresholds": {"bus_factor": 0.3}, "reviewer": "alice", "reason": "vendored"}
    with registry.write() as con:
        con.execute("UPDATE gate_results SET override = ?", [json.dumps(override)])
    store = PackageStore(str(tmp_path / "packages"))
    result = package(hub_client, registry, store, tmp_path, SigningConfig(keypair[0]))
    predicate = _statement(folder(result) / ATTESTATION)["predicate"]
    assert predicate["overrides"] == [override]


def test_tampering_swapped_proof_and_a_wrong_key_each_fail_with_the_reason(
    hub_client, gated_registry, tmp_path, keypair
):
    private, public = keypair
    registry = gated_registry(MODEL)
    gated_registry(OTHER)
    store = PackageStore(str(tmp_path / "packages"))
    signing = SigningConfig(private)
    result = package(hub_client, registry, store, tmp_path, signing)
    other = package(hub_client, registry, store, tmp_path, signing, model=OTHER)
    here = folder(result)

    def verify(**kwargs):
        with pytest.raises(UnverifiedPackageError) as e:
            verify_package(str(here), PackageStore("."), **kwargs)
        return str(e.value)

    # a wrong key
    _, stranger = create_keys(tmp_path / "stranger")
    assert verify(public_key=stranger).startswith("signature: not made by this key")
    # the attestation of another package
    saved = (here / ATTESTATION).read_bytes()
    shutil.copy(folder(other) / ATTESTATION, here / ATTESTATION)
    assert verify(public_key=public).startswith("attestation: its subject is")
    (here / ATTESTATION).write_bytes(saved)
    # the signature of another package
    saved = (here / SIGNATURE).read_bytes()
    shutil.copy(folder(other) / SIGNATURE, here / SIGNATURE)
    assert "signature: it signs sha256" in verify(public_key=public)
    (here / SIGNATURE).write_bytes(saved)
    assert verify_package(str(here), PackageStore("."), public_key=public)[-1].startswith("bom:")
    # one byte of the weights changed inside the zip
    raw = bytearray(Path(result.uri).read_bytes())
    with zipfile.ZipFile(result.uri) as zf:
        info = zf.getinfo("model/model.safetensors")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
    raw[offset] ^= 0xFF
    Path(result.uri).write_bytes(bytes(raw))
    assert verify(public_key=public).startswith("files: model/model.safetensors was altered")
    out = CliRunner().invoke(main, ["verify", str(here), "--key", str(public)])
    assert out.exit_code == exit_code("unverified") == 16
    assert "FAILED  files: model/model.safetensors" in out.output


def test_bom_is_valid_cyclonedx_built_from_registry_facts(
    hub_client, gated_registry, tmp_path, keypair
):
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    result = package(hub_client, registry, store, tmp_path, SigningConfig(keypair[0]))
    text = (folder(result) / BOM).read_text()
    validate_bom(text)  # against the CycloneDX 1.6 JSON schema
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    model = next(c for c in doc["components"] if c["type"] == "machine-learning-model")
    assert model["name"] == MODEL and model["version"] == result.revision
    assert model["hashes"] == [{"alg": "SHA-256", "content": result.sha256}]
    acks = {lic["license"]["acknowledgement"] for lic in model["licenses"]}
    assert acks == {"declared", "concluded"}
    files = {f["name"]: f["hashes"][0]["content"] for f in model["components"]}
    weights = files["model/model.safetensors"]
    with zipfile.ZipFile(result.uri) as zf:
        assert hashlib.sha256(zf.read("model/model.safetensors")).hexdigest() == weights
    assert (
        "Passed the quality gate" in model["modelCard"]["considerations"]["performanceTradeoffs"][0]
    )
    broken = json.loads(text)
    broken["components"][0]["type"] = "not-a-type"
    with pytest.raises(UnverifiedPackageError, match="bom: not valid CycloneDX 1.6"):
        validate_bom(json.dumps(broken))


def test_unsigned_packages_say_so_and_verify_only_when_allowed(
    hub_client, gated_registry, tmp_path, keypair
):
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    result = package(hub_client, registry, store, tmp_path, signing=None)
    here = folder(result)
    assert not (here / SIGNATURE).exists()
    assert _statement(here / ATTESTATION)["predicate"]["signed"] is False
    with zipfile.ZipFile(result.uri) as zf:
        assert "**Unsigned**" in zf.read("README.md").decode()
    out = CliRunner().invoke(main, ["verify", str(here), "--key", str(keypair[1])])
    assert out.exit_code == 16 and "the package is unsigned" in out.output
    out = CliRunner().invoke(main, ["verify", str(result.uri), "--allow-unsigned"])
    assert out.exit_code == 0 and "signature: none" in out.output


def test_verify_a_package_on_s3(hub_client, gated_registry, s3_bucket, tmp_path, keypair):
    endpoint, bucket = s3_bucket
    registry = gated_registry(MODEL)
    store = PackageStore(f"s3://{bucket}/packages", {"endpoint_url": endpoint, **S3_CREDENTIALS})
    result = package(hub_client, registry, store, tmp_path, SigningConfig(keypair[0]))
    assert result.uri.startswith("s3://")
    env = {"AWS_ENDPOINT_URL": endpoint, **_aws_env()}
    out = CliRunner().invoke(main, ["verify", result.uri, "--key", str(keypair[1])], env=env)
    assert out.exit_code == 0, out.output


def test_keys_create_writes_an_owner_only_private_key(tmp_path):
    out = CliRunner().invoke(main, ["keys", "create", "--dir", str(tmp_path / "k")])
    assert out.exit_code == 0, out.output
    private = tmp_path / "k" / "signing-key.pem"
    assert os.stat(private).st_mode & 0o777 == 0o600
    assert "BEGIN PRIVATE KEY" not in out.output  # the key is never printed
    again = CliRunner().invoke(main, ["keys", "create", "--dir", str(tmp_path / "k")])
    assert again.exit_code == 2 and "never overwritten" in again.output


def _statement(path: Path) -> dict:
    import base64

    return json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))


def _aws_env() -> dict:
    return {
        "AWS_ACCESS_KEY_ID": S3_CREDENTIALS.get("key", "testing"),
        "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS.get("secret", "testing"),
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_the_mirror_serves_only_packages_that_verify(hub_client, gated_registry, tmp_path):
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError

    from hub_assets.hub_protocol.http import ProtocolServer
    from hub_assets.hub_protocol.routing import ProtocolState
    from hub_assets.mirror.store import ApprovedStore

    private, public = create_keys(tmp_path / "keys")
    _, stranger = create_keys(tmp_path / "stranger")
    registry = gated_registry(MODEL)
    gated_registry(OTHER)
    store = PackageStore(str(tmp_path / "packages"))
    package(hub_client, registry, store, tmp_path, SigningConfig(private))
    package(hub_client, registry, store, tmp_path, signing=None, model=OTHER)

    def info(key, model):
        state = ProtocolState(store=ApprovedStore(registry, store, verify_key=key))
        server = ProtocolServer(state).start()
        try:
            return HfApi(endpoint=server.url).model_info(model)
        finally:
            server.stop()

    assert info(public, MODEL).sha  # signed with the key: served
    with pytest.raises(GatedRepoError, match="signature: not made by this key"):
        info(stranger, MODEL)
    with pytest.raises(GatedRepoError, match="the package is unsigned"):
        info(public, OTHER)
    assert info(None, OTHER).sha  # no verify key configured: the zip's sha256 only


def test_a_lockfile_carries_the_signed_proof_and_fetch_checks_it_first(
    hub_client, gated_registry, tmp_path
):
    from hub_assets.mirror.lockfile import check_locked_proof, fetch_locked, make_lock

    private, public = create_keys(tmp_path / "keys")
    _, stranger = create_keys(tmp_path / "stranger")
    registry = gated_registry(MODEL)
    gated_registry(OTHER)
    store = PackageStore(str(tmp_path / "packages"))
    package(hub_client, registry, store, tmp_path, SigningConfig(private))
    package(hub_client, registry, store, tmp_path, signing=None, model=OTHER)
    lock = make_lock(registry, [MODEL, OTHER], False, store)
    entry = lock["models"][MODEL]
    check_locked_proof(MODEL, entry, public)  # signed facts agree with the lock
    with pytest.raises(UnverifiedPackageError, match="not made by this key"):
        check_locked_proof(MODEL, entry, stranger)
    entry["files"][0]["sha256"] = "0" * 64  # a lock edited by hand
    with pytest.raises(UnverifiedPackageError, match="is not what the signed attestation says"):
        check_locked_proof(MODEL, entry, public)
    # an unsigned package cannot be checked against a key: refused before any download
    with pytest.raises(UnverifiedPackageError, match="has no signature"):
        fetch_locked(
            {"models": {OTHER: lock["models"][OTHER]}},
            tmp_path / "dl",
            endpoint="http://127.0.0.1:9",  # never reached
            token=None,
            public_key=public,
        )
    assert not (tmp_path / "dl").exists()


def test_fetch_through_the_mirror_with_the_key(hub_client, gated_registry, tmp_path):
    from hub_assets.hub_protocol.http import ProtocolServer
    from hub_assets.hub_protocol.routing import ProtocolState
    from hub_assets.mirror.lockfile import fetch_locked, make_lock
    from hub_assets.mirror.store import ApprovedStore

    private, public = create_keys(tmp_path / "keys")
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    package(hub_client, registry, store, tmp_path, SigningConfig(private))
    lock = make_lock(registry, [MODEL], False, store)
    lines = []
    state = ProtocolState(store=ApprovedStore(registry, store, verify_key=public))
    with ProtocolServer(state) as server:
        paths = fetch_locked(
            lock,
            tmp_path / "dl",
            endpoint=server.url,
            token=None,
            echo=lines.append,
            public_key=public,
        )
    assert lines[0] == f"{MODEL}: signature and attestation verified"
    assert len(paths) == len(lock["models"][MODEL]["files"]) and all(p.is_file() for p in paths)


def test_verify_cache_and_the_guard_check_the_locks_signatures(
    hub_client, gated_registry, tmp_path
):
    """Offline: the files a fetch left, their lock's signature and attestation checked with
    the key; another key, or a lock whose proof was edited, is refused before any load."""
    from hub_assets import guard
    from hub_assets.hub_protocol.http import ProtocolServer
    from hub_assets.hub_protocol.routing import ProtocolState
    from hub_assets.mirror.lockfile import fetch_locked, make_lock, write_lock
    from hub_assets.mirror.store import ApprovedStore

    private, public = create_keys(tmp_path / "keys")
    _, other = create_keys(tmp_path / "other")
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    package(hub_client, registry, store, tmp_path, SigningConfig(private))
    lock = make_lock(registry, [MODEL], False, store)
    write_lock(lock, tmp_path / "models.lock")
    state = ProtocolState(store=ApprovedStore(registry, store, verify_key=public))
    with ProtocolServer(state) as server:
        fetch_locked(lock, tmp_path / "dl", endpoint=server.url, token=None, echo=print)
    runner = CliRunner()
    check = ["verify-cache", "--lock", str(tmp_path / "models.lock"), "--local-dir"]
    ok = runner.invoke(main, [*check, str(tmp_path / "dl"), "--key", str(public)])
    assert ok.exit_code == 0, ok.output
    assert "files and its signatures verified" in ok.output
    wrong = runner.invoke(main, [*check, str(tmp_path / "dl"), "--key", str(other)])
    assert wrong.exit_code == exit_code("unverified"), wrong.output
    assert "FAILED" in wrong.output
    loaded = guard.load(
        lambda path, **kw: path,
        MODEL,
        lock=lock,
        local_dir=tmp_path / "dl",
        public_key=public,
        verified_dir=tmp_path / "verified",
    )
    assert loaded == str(tmp_path / "dl" / MODEL)
    with pytest.raises(UnverifiedPackageError):
        guard.verified_snapshot(MODEL, lock, local_dir=tmp_path / "dl" / MODEL, public_key=other)


def _certificate_chain(folder: Path):
    """A CA and a code-signing certificate under it, with the certificate's key."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(sign, False, False, False, False, ca, ca, False, False)

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(False, True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry signer")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True)
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "signer.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "signer.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "signer.key", folder / "signer.pem", folder / "ca.pem"


def test_certificate_mode_signs_and_verifies_against_the_chain(
    hub_client, gated_registry, tmp_path
):
    key, cert, ca = _certificate_chain(tmp_path / "pki")
    _, _, other_ca = _certificate_chain(tmp_path / "other")
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    signing = SigningConfig(key, certificate=cert, chain=(ca,))
    result = package(hub_client, registry, store, tmp_path, signing)
    here = str(folder(result))
    out = CliRunner().invoke(main, ["verify", here, "--cert-chain", str(ca)])
    assert out.exit_code == 0, out.output
    assert "signature: valid, made by a certificate under the given chain" in out.output
    bad = CliRunner().invoke(main, ["verify", here, "--cert-chain", str(other_ca)])
    assert bad.exit_code == 16 and "signature: not made by this key" in bad.output


def test_a_bundle_ships_the_package_with_its_proof(hub_client, gated_registry, tmp_path, keypair):
    private, public = keypair
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    result = package(hub_client, registry, store, tmp_path, SigningConfig(private))
    bundle = tmp_path / bundle_name("tiny", "1.0.0")
    with bundle.open("wb") as out:
        members = write_bundle(store, result.uri, out)
    assert members == ["package.zip", SIGNATURE, ATTESTATION, BOM]
    with zipfile.ZipFile(bundle) as z:
        assert z.read("package.zip") == Path(result.uri).read_bytes()  # the signed bytes
        assert z.read(ATTESTATION) == (folder(result) / ATTESTATION).read_bytes()
    out = CliRunner().invoke(main, ["verify", str(bundle), "--key", str(public)])
    assert out.exit_code == 0, out.output
    assert "bundle: package.zip and 3 proof files" in out.output
    assert "signature: valid" in out.output and "Verified." in out.output

    swapped = tmp_path / "swapped.bundle.zip"  # another package's proof, same names
    other = package(
        hub_client,
        gated_registry(OTHER),
        PackageStore(str(tmp_path / "o")),
        tmp_path,
        SigningConfig(private),
        model=OTHER,
    )
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(swapped, "w") as dst:
        dst.writestr("package.zip", src.read("package.zip"))
        for rel in (SIGNATURE, ATTESTATION, BOM):
            dst.writestr(rel, (folder(other) / rel).read_bytes())
    bad = CliRunner().invoke(main, ["verify", str(swapped), "--key", str(public)])
    assert bad.exit_code == exit_code("unverified") and "FAILED  signature" in bad.output

    smuggled = tmp_path / "smuggled.bundle.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(smuggled, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("../../evil.sh", b"echo hi")
    worse = CliRunner().invoke(main, ["verify", str(smuggled), "--key", str(public)])
    assert worse.exit_code == exit_code("unverified")
    assert "'../../evil.sh' does not belong in a package bundle" in worse.output
    assert not (tmp_path.parent / "evil.sh").exists()


def test_attestation_and_bom_say_whether_the_model_trained_on_each_set(registry):
    from hub_assets.proof.attestation import evidence_predicate
    from hub_assets.proof.bom import _model_card
    from hub_assets.registry.evaluations import write_eval_run
    from hub_assets.registry.evidence import revision_evidence

    registry.ensure_schema()
    flag = {"flag": "declared_overlap", "matches": [{"dataset": "acme/qa", "declared_by": MODEL}]}
    with registry.write() as con:
        write_eval_run(
            con,
            eval_run_id="e1",
            key="k",
            model_id=MODEL,
            sha="a" * 40,
            task="qa",
            dataset_repo="acme/qa",
            dataset_revision="b" * 40,
            dataset_fingerprint="f",
            generation_config={},
            scorer_version="1",
            scores={"f1": 0.5},
            claims=[],
            samples=[],
            duration_s=1.0,
            run_id="r",
            intervals={"f1": [0.4, 0.6]},
            baseline={},
            contamination=flag,
        )
        evidence = revision_evidence(con, MODEL, "a" * 40)
    predicate = evidence_predicate({"revision": "a" * 40}, evidence, signed=False)
    assert predicate["shadow_evaluations"][0]["contamination"] == flag
    card = _model_card({}, evidence, {"passed": True}, [])
    [metric] = card["quantitativeAnalysis"]["performanceMetrics"]
    assert metric["slice"] == f"acme/qa@{'b' * 12} (qa, declared_overlap)"
