"""The package's signature: OpenSSF model signing over `package.zip`, offline.

The signature is model-signing's own format (a Sigstore bundle whose DSSE payload is an
in-toto statement over the file's sha256), so `model_signing verify key` verifies a
package.zip with it too. We build the signed manifest from the zip's sha256, which the
packaging already computed while writing: signing never reads the zip again, on a local
store or on S3. Private-key mode (`HUB_ASSETS_SIGNING_KEY`) and certificate mode (plus
`HUB_ASSETS_SIGNING_CERT` and its chain) need no network.
"""

from __future__ import annotations

import json
import pathlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hub_assets.errors import UnverifiedPackageError

PACKAGE_FILE = "package.zip"
# what model-signing itself records for a file model (kept so its verifier agrees)
_IGNORED = (".gitattributes", ".github", ".git", ".gitignore")


@dataclass(frozen=True)
class SigningConfig:
    """Where the signing key (and, in certificate mode, the certificate chain) are."""

    private_key: Path
    password: str | None = field(default=None, repr=False)
    certificate: Path | None = None
    chain: tuple[Path, ...] = ()

    @property
    def mode(self) -> str:
        return "certificate" if self.certificate else "private-key"


def _manifest(zip_sha256: str):  # noqa: ANN202 - a model_signing Manifest
    from model_signing import manifest
    from model_signing._hashing.hashing import Digest

    item = manifest.FileManifestItem(
        path=pathlib.PurePosixPath("."), digest=Digest("sha256", bytes.fromhex(zip_sha256))
    )
    serialization = manifest._FileSerialization("sha256", False, [Path(p) for p in _IGNORED])
    return manifest.Manifest(PACKAGE_FILE, [item], serialization)


def sign_package(zip_sha256: str, config: SigningConfig) -> bytes:
    """The signature bundle over a package.zip with this sha256."""
    from model_signing._signing import sign_certificate, sign_ec_key
    from model_signing._signing.signing import Payload

    from hub_assets.proof.keys import load_private

    load_private(config.private_key, config.password)  # a clear error for a bad key
    if config.certificate:
        signer = sign_certificate.Signer(config.private_key, config.certificate, list(config.chain))
    else:
        signer = sign_ec_key.Signer(config.private_key, config.password)
    signature = signer.sign(Payload(_manifest(zip_sha256)))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "signature.sig"
        signature.write(out)
        return out.read_bytes()


def verify_signature(
    bundle: bytes,
    zip_sha256: str,
    *,
    public_key: Path | None = None,
    chain: tuple[Path, ...] = (),
) -> str:
    """Check that `bundle` signs a package.zip with this sha256, with `public_key` (or, in
    certificate mode, a certificate issued under `chain`); what was checked, in words."""
    from model_signing._signing import sign_certificate, sign_ec_key
    from model_signing._signing.sign_sigstore_pb import Signature

    if public_key is None and not chain:
        raise UnverifiedPackageError(
            "signature: no public key given (--key, or HUB_ASSETS_VERIFY_KEY)."
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signature.sig"
        path.write_bytes(bundle)
        try:
            signature = Signature.read(path)
            verifier = (
                sign_ec_key.Verifier(Path(public_key))
                if public_key is not None
                else sign_certificate.Verifier(list(chain))
            )
            expected = verifier.verify(signature)
        except Exception as e:  # noqa: BLE001 - every failure of the library is a refusal
            raise UnverifiedPackageError(
                f"signature: not made by this key ({type(e).__name__}: {_first_line(e)})"
            ) from None
    digests = [rd.digest.digest_hex for rd in expected.resource_descriptors()]
    if digests != [zip_sha256]:
        raise UnverifiedPackageError(
            f"signature: it signs sha256 {', '.join(d[:16] for d in digests)}…, "
            f"the package is {zip_sha256[:16]}…: the package was altered after signing."
        )
    signer = "the given key" if public_key is not None else "a certificate under the given chain"
    return f"signature: valid, made by {signer}, over these bytes"


def signer_public_key(bundle: bytes) -> Path | None:
    """The public key of the certificate in a certificate-mode signature bundle (after
    `verify_signature` has checked it against the chain), written to a temporary PEM file;
    None for a private-key bundle."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        material = json.loads(bundle)["verificationMaterial"]
        raw = (material.get("certificate") or {}).get("rawBytes") or (
            (material.get("x509CertificateChain") or {}).get("certificates") or [{}]
        )[0].get("rawBytes")
    except (ValueError, KeyError, TypeError):
        return None
    if not raw:
        return None
    key = x509.load_der_x509_certificate(base64.b64decode(raw)).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = Path(tempfile.mkdtemp(prefix="hub-assets-signer-")) / "signer.pub.pem"
    path.write_bytes(pem)
    return path


def _first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [""])[0][:200]
