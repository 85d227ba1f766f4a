"""The package: a zip of the model files, `manifest.json` and a model card, streamed.

The zip is written straight into any writable binary stream (an s3fs multipart upload, a
local file) in 1 MB chunks: no temporary zip, memory bounded whatever the model's size.
Files are stored uncompressed (weights do not compress); ZIP64 is used where sizes need it.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from huggingface_hub import ModelCard, ModelCardData

from hub_assets import __version__
from hub_assets.errors import InvalidVersionError
from hub_assets.hub.download import LocalFile
from hub_assets.hub.hashing import BackgroundHash

CHUNK = 1024 * 1024
MANIFEST_FORMAT = 1
# Semantic versions, strictly: ASCII digits, no leading zeros, dot-separated identifiers in a
# -pre-release and +build; matched whole (no final newline slips through `$`).
_NUMBER = r"(?:0|[1-9][0-9]{0,8})"
_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = re.compile(
    rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?:-{_IDENTIFIERS})?(?:\+{_IDENTIFIERS})?", re.ASCII
)


def check_version(version: str) -> str:
    """Validate a package version at the edge."""
    if not isinstance(version, str) or len(version) > 64 or not _VERSION.fullmatch(version):
        raise InvalidVersionError(
            f"Invalid package version {version!r}: use MAJOR.MINOR.PATCH, e.g. 1.0.0 "
            "(ASCII digits without leading zeros; a -suffix or +build is allowed)."
        )
    return version


def package_name(model_id: str) -> str:
    """The package name of a model: its id with '/' as '--' (unique and path-safe)."""
    return model_id.replace("/", "--")


@dataclass
class PackageSpec:
    """What a package says about its model."""

    name: str
    version: str
    model_id: str
    revision: str
    source: str  # the Hub endpoint (never a token)
    description: str
    metrics: dict[str, float] = field(default_factory=dict)
    gate: dict = field(default_factory=dict)
    license: str | None = None
    parents: list[str] = field(default_factory=list)
    package_id: str = ""  # in the attestation, not in the zip
    signing_key_id: str | None = None  # None: made unsigned (no key configured)
    licence_chain: str | None = None  # the model and its ancestors with their licences


def build_manifest(spec: PackageSpec, files: list[LocalFile]) -> dict:
    """Every file with size and sha256, the model, revision, metrics, gate and provenance.

    Only what the same revision, metrics and gate result determine: the package id, the
    creation time and the run ids vary between builds, so they live in the evidence
    attestation beside the package, not in the zip the signature covers.
    """
    return {
        "format": MANIFEST_FORMAT,
        "name": spec.name,
        "version": spec.version,
        "description": spec.description,
        "model_id": spec.model_id,
        "revision": spec.revision,
        "source": spec.source,
        "license": spec.license,
        "lineage": {"base_models": spec.parents},
        "files": [
            {
                "path": f"model/{f.path}",
                "size": f.size,
                "sha256": f.sha256,
                "lfs": f.lfs,
                "git_oid": f.git_oid,
            }
            for f in files
        ],
        "metrics": spec.metrics,
        "gate": spec.gate,
        "tool": {"name": "hub-assets", "version": __version__},
    }


_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ name }} {{ version }}

{{ description }}

Packaged by hub-assets from [{{ model_id }}]({{ source }}/{{ model_id }}) at revision
`{{ revision }}`. The model's own card is `model/README.md` in this package.

## Quality gate

{{ gate_line }}

| metric | score |
|---|---:|
{% for name, value in metrics %}| {{ name }} | {{ "%.2f"|format(value) }} |
{% endfor %}
## Lineage

{{ lineage }}

Licence chain: {{ licence_chain }}

## Contents

{{ n_files }} files, {{ total_mb }} MB; every file's size and sha256 are in `manifest.json`.

## Proof

{{ proof_line }} The evidence attestation (`proof/attestation.dsse.json`) and the CycloneDX
bill of materials (`proof/bom.cdx.json`) are stored beside this package; check all of it
offline with `hub-assets verify`.
"""


def model_card(spec: PackageSpec, manifest: dict) -> str:
    """The package's model card, made with huggingface_hub's ModelCard / ModelCardData."""
    data = ModelCardData(
        license=spec.license,
        base_model=spec.model_id,
        tags=["hub-assets", "package"],
        model_name=spec.name,
    )
    total = sum(f["size"] for f in manifest["files"])
    gate = spec.gate or {}
    card = ModelCard.from_template(
        data,
        template_str=_CARD_TEMPLATE,
        name=spec.name,
        version=spec.version,
        description=spec.description,
        model_id=spec.model_id,
        source=spec.source,
        revision=spec.revision,
        gate_line=(
            f"Passed (config {gate.get('config_version')}): {gate.get('message', '')}"
            if gate.get("passed")
            else f"Not passed: {gate.get('message', 'no gate result')}"
        ),
        metrics=sorted(spec.metrics.items()),
        lineage=("Fine-tuned from " + ", ".join(spec.parents))
        if spec.parents
        else "No base model declared.",
        n_files=len(manifest["files"]),
        licence_chain=spec.licence_chain or "not judged (no licence-obligations check yet)",
        proof_line=(
            f"Signed with OpenSSF model signing, key `{spec.signing_key_id[:16]}…` "
            "(`proof/signature.sig`)."
            if spec.signing_key_id
            else "**Unsigned**: no signing key was configured when this package was made."
        ),
        total_mb=f"{total / 1e6:,.1f}",
    )
    return str(card)


class _HashingWriter:
    """A write-only, unseekable stream that counts and hashes what passes through."""

    def __init__(self, out: BinaryIO) -> None:
        self.out, self.size = out, 0
        self._hash = BackgroundHash([hashlib.sha256()])  # hashed beside the writes

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.size += len(data)
        self._hash.update(data)
        return len(data)

    @property
    def sha256(self):  # noqa: ANN201 - a hashlib object
        return self._hash.finish()[0]

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        pass


def canonical_json(data: object) -> str:
    """JSON serialised one way only (sorted keys, fixed indent, no NaN): same data, same
    bytes."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def write_package(
    out: BinaryIO,
    files: list[LocalFile],
    manifest: dict,
    card: str,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[int, str]:
    """Stream the zip into `out`; return (bytes written, sha256 of the zip).

    Deterministic: members in the order given (the files sorted by path), then the manifest
    and the card; fixed timestamps, stored entries, fixed permissions. The same files,
    manifest and card give the same bytes.
    """
    files = sorted(files, key=lambda f: f.path)
    sink = _HashingWriter(out)
    stamp = (1980, 1, 1, 0, 0, 0)  # fixed: same content, same zip bytes
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for f in files:
            info = zipfile.ZipInfo(f"model/{f.path}", date_time=stamp)
            info.file_size = f.size
            info.external_attr = 0o644 << 16
            with f.local.open("rb") as src, zf.open(info, "w", force_zip64=f.size > 2**31) as dst:
                done = 0
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(f.path, done, f.size)
        zf.writestr(zipfile.ZipInfo("manifest.json", date_time=stamp), canonical_json(manifest))
        zf.writestr(zipfile.ZipInfo("README.md", date_time=stamp), card)
    return sink.size, sink.sha256.hexdigest()
