"""The evidence attestation: an in-toto Statement v1 whose subject is the package zip and
whose predicate is the evidence it was approved on, in a DSSE envelope signed with the
package's signing key (unsigned when no key is configured, and it says so).

What varies between builds of the same package (its id, the creation time, run ids) lives
here, never in the zip.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from hub_assets import __version__
from hub_assets.errors import UnverifiedPackageError
from hub_assets.gate.decision import passes
from hub_assets.proof.keys import b64, key_id, load_private, load_public
from hub_assets.proof.signature import PACKAGE_FILE, SigningConfig

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://hub-assets.dev/attestation/evidence/v1"


def gate_config_hash(gate: dict | None) -> str | None:
    """sha256 of the gate configuration that judged the revision (version, target device
    and the thresholds that applied to it, overrides included), as canonical JSON."""
    if not gate:
        return None
    effective = {
        "version": gate.get("config_version"),
        "target_device": gate.get("target_device"),
        "thresholds": gate.get("thresholds"),
    }
    return hashlib.sha256(json.dumps(effective, sort_keys=True).encode()).hexdigest()


def evidence_predicate(package: dict, evidence: dict, *, signed: bool) -> dict:
    """The predicate: the package, the gate with each check's score and threshold, every
    metric with its lineage, the shadow evaluations, the scanner verdicts, decisions and
    the registry run ids."""
    gate = evidence.get("gate") or {}
    metrics = {m["metric"]: m for m in evidence.get("metrics", [])}
    thresholds = gate.get("thresholds") or {}
    checks = [
        {
            "metric": name,
            "score": metrics.get(name, {}).get("value"),
            "threshold": threshold,
            "passed": passes(metrics.get(name, {}).get("value"), threshold),
        }
        for name, threshold in sorted(thresholds.items())
    ]
    security = metrics.get("security", {}).get("details") or {}
    decisions = evidence.get("decisions", [])
    promotion = next((d for d in reversed(decisions) if d["status"] == "promoted"), None)
    run_ids = sorted(
        {m["run_id"] for m in metrics.values() if m.get("run_id")}
        | {e["run_id"] for e in evidence.get("evaluations", []) if e.get("run_id")}
        | ({gate["run_id"]} if gate.get("run_id") else set())
        | ({package["run_id"]} if package.get("run_id") else set())
    )
    return {
        "package": package,
        "signed": signed,
        "gate": {
            "passed": gate.get("passed"),
            "message": gate.get("message"),
            "config_version": gate.get("config_version"),
            "config_sha256": gate_config_hash(gate),
            "target_device": gate.get("target_device"),
            "decided_at": gate.get("decided_at"),
            "checks": checks,
        },
        "metrics": [
            {
                "metric": m["metric"],
                "value": m["value"],
                "revision": package.get("revision"),
                "inputs_fingerprint": m["inputs_fingerprint"],
                "code_version": m["code_version"],
                "run_id": m["run_id"],
            }
            for m in metrics.values()
        ],
        "shadow_evaluations": evidence.get("evaluations", []),
        "scanners": security,
        "licence_chain": {
            k: (metrics.get("licence_obligations", {}).get("details") or {}).get(k)
            for k in ("chain", "obligations", "findings", "violations")
        },
        "overrides": [gate["override"]] if gate.get("override") else [],
        "decisions": decisions,
        "promotion": promotion,
        "registry_run_ids": run_ids,
        "tool": {"name": "hub-assets", "version": __version__},
    }


def statement(zip_sha256: str, predicate: dict) -> dict:
    """An in-toto Statement v1 about package.zip."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": PACKAGE_FILE, "digest": {"sha256": zip_sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def envelope(stmt: dict, signing: SigningConfig | None) -> bytes:
    """The statement in a DSSE envelope, signed when a key is configured (ECDSA P-256,
    SHA-256); with no key, `signatures` is empty."""
    payload = json.dumps(stmt, sort_keys=True, default=str).encode()
    signatures = []
    if signing is not None:
        key = load_private(signing.private_key, signing.password)
        sig = key.sign(_pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
        signatures.append({"keyid": key_id(key.public_key()), "sig": b64(sig)})
    doc = {"payloadType": PAYLOAD_TYPE, "payload": b64(payload), "signatures": signatures}
    return json.dumps(doc, indent=2).encode()


def verify_envelope(raw: bytes, zip_sha256: str, public_key: Path | None) -> dict:
    """The statement of an attestation whose subject is this package.zip, with its DSSE
    signature checked against `public_key` (when given); raises naming what is wrong."""
    try:
        doc = json.loads(raw)
        payload = base64.b64decode(doc["payload"])
        stmt = json.loads(payload)
    except (ValueError, KeyError, TypeError) as e:
        raise UnverifiedPackageError(f"attestation: not a DSSE envelope ({e})") from None
    if doc.get("payloadType") != PAYLOAD_TYPE or stmt.get("_type") != STATEMENT_TYPE:
        raise UnverifiedPackageError("attestation: not an in-toto statement")
    subjects = [s.get("digest", {}).get("sha256") for s in stmt.get("subject", [])]
    if subjects != [zip_sha256]:
        raise UnverifiedPackageError(
            f"attestation: its subject is sha256 {', '.join(str(s)[:16] for s in subjects)}…, "
            f"the package is {zip_sha256[:16]}…: it belongs to another package."
        )
    if public_key is not None:
        key = load_public(public_key)
        good = False
        for sig in doc.get("signatures") or []:
            try:
                key.verify(
                    base64.b64decode(sig["sig"]),
                    _pae(doc["payloadType"], payload),
                    ec.ECDSA(hashes.SHA256()),
                )
                good = True
            except (InvalidSignature, KeyError, ValueError):
                continue
        if not good:
            raise UnverifiedPackageError(
                "attestation: no signature by the given key over this statement"
            )
    return stmt


def now_iso() -> str:
    return datetime.now(UTC).isoformat()
