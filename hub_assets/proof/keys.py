"""Signing keys: an elliptic-curve (P-256) key pair for a new deployment, and loading the
configured ones. The private key is written owner-only and never printed."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hub_assets.errors import SigningKeyError

PRIVATE_NAME, PUBLIC_NAME = "signing-key.pem", "signing-key.pub.pem"


def create_keys(folder: Path, password: str | None = None) -> tuple[Path, Path]:
    """Write a new P-256 key pair into `folder` (the private key mode 0600, optionally
    encrypted); refuse to overwrite an existing key."""
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private, public):
        if path.exists():
            raise SigningKeyError(f"{path} exists; keys are never overwritten. Pick another --dir.")
    key = ec.generate_private_key(ec.SECP256R1())
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    public.write_bytes(public_pem(key.public_key()))
    return private, public


def public_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """A public key as PEM (SubjectPublicKeyInfo)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private(path: Path, password: str | None = None) -> ec.EllipticCurvePrivateKey:
    """The configured private key, or a clear error (never the key's bytes)."""
    try:
        key = serialization.load_pem_private_key(
            Path(path).read_bytes(), password.encode() if password else None
        )
    except (OSError, ValueError, TypeError) as e:
        raise SigningKeyError(f"Cannot load the signing key {path}: {type(e).__name__}.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"The signing key {path} is not an elliptic-curve key.")
    return key


def load_public(path: Path) -> ec.EllipticCurvePublicKey:
    """A public key from PEM, or a clear error."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as e:
        raise SigningKeyError(f"Cannot load the public key {path}: {e}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningKeyError(f"The public key {path} is not an elliptic-curve key.")
    return key


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    """The key's id: sha256 of its DER public key, as in DSSE `keyid`."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
