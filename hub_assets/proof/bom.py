"""The AI bill of materials: a CycloneDX 1.6 ML-BOM built from registry facts, not card
text (cyclonedx-python-lib, validated against the CycloneDX schema).

- the model component, with a `modelCard` whose `quantitativeAnalysis` holds the measured
  shadow-evaluation scores (with their 95% intervals, each slice naming its evaluation
  set and whether the model was trained on it) and whose considerations carry the gate
  outcome;
- every file of the package as a `file` component with its sha256;
- the evaluation datasets as `data` components at their pinned revisions;
- licences, declared (the card's) and concluded (what the registry judged);
- the lineage: the base models as the model's pedigree ancestors.

cyclonedx-python-lib has no model-card object yet, so the card is added to the model
component of the JSON the library writes, and the whole document is then validated
against the 1.6 schema.
"""

from __future__ import annotations

import json
import uuid

from hub_assets.errors import UnverifiedPackageError

BOM_NAMESPACE = uuid.UUID("6b1f2f58-3a55-4c1e-9d53-6a0f3c4c2b10")


def _license(value: str, acknowledgement: str):  # noqa: ANN202 - a cyclonedx License
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model.license import LicenseAcknowledgement

    return LicenseFactory().make_from_string(
        value, license_acknowledgement=LicenseAcknowledgement(acknowledgement)
    )


def build_bom(manifest: dict, evidence: dict, *, zip_sha256: str, created_at: str) -> str:
    """The package's ML-BOM as CycloneDX 1.6 JSON (same facts, same document)."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType, Pedigree
    from cyclonedx.output.json import JsonV1Dot6

    model_ref = f"model:{manifest['model_id']}@{manifest['revision']}"
    gate = evidence.get("gate") or {}
    licenses = []
    if manifest.get("license"):
        licenses.append(_license(manifest["license"], "declared"))
    concluded = next((m for m in evidence.get("metrics", []) if m["metric"] == "license"), None)
    if concluded and concluded.get("value") and manifest.get("license"):
        licenses.append(_license(manifest["license"], "concluded"))
    files = [
        Component(
            name=f["path"],
            type=ComponentType.FILE,
            bom_ref=f"file:{f['path']}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f["sha256"])],
            properties=[Property(name="hub-assets:size", value=str(f["size"]))],
        )
        for f in manifest["files"]
    ]
    datasets = {
        (e["dataset_repo"], e["dataset_revision"]): e for e in evidence.get("evaluations", [])
    }
    data = [
        Component(
            name=repo,
            version=revision,
            type=ComponentType.DATA,
            bom_ref=f"data:{repo}@{revision}",
            properties=[
                Property(name="hub-assets:fingerprint", value=str(e["dataset_fingerprint"]))
            ],
        )
        for (repo, revision), e in sorted(datasets.items())
    ]
    ancestors = [
        Component(
            name=a["model_id"],
            type=ComponentType.MACHINE_LEARNING_MODEL,
            bom_ref=f"base:{a['model_id']}",
            licenses=[_license(a["license"], "declared")] if a.get("license") else [],
            properties=[
                Property(name="hub-assets:relation", value=f"{a['relation']} of {a['parent_of']}"),
                Property(name="hub-assets:depth", value=str(a["depth"])),
            ],
        )
        for a in evidence.get("ancestry", [])
    ] or [
        Component(name=base, type=ComponentType.MACHINE_LEARNING_MODEL, bom_ref=f"base:{base}")
        for base in manifest.get("lineage", {}).get("base_models", [])
    ]
    model = Component(
        name=manifest["model_id"],
        version=manifest["revision"],
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=model_ref,
        description=manifest.get("description"),
        licenses=licenses,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=zip_sha256)],
        pedigree=Pedigree(ancestors=ancestors) if ancestors else None,
        components=files,
        properties=[
            Property(name="hub-assets:package", value=f"{manifest['name']} {manifest['version']}"),
            Property(name="hub-assets:source", value=str(manifest.get("source"))),
        ],
    )
    serial = uuid.uuid5(BOM_NAMESPACE, f"{zip_sha256}:{created_at}")
    from datetime import datetime

    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(timestamp=datetime.fromisoformat(created_at), component=None),
        components=[model, *data],
    )
    doc = json.loads(JsonV1Dot6(bom).output_as_string())
    for component in doc.get("components", []):
        if component.get("bom-ref") == model_ref:
            component["modelCard"] = _model_card(manifest, evidence, gate, sorted(datasets))
    return json.dumps(doc, indent=2, sort_keys=True)


def _model_card(manifest: dict, evidence: dict, gate: dict, datasets: list) -> dict:
    metrics = []
    for e in evidence.get("evaluations", []):
        flag = (e.get("contamination") or {}).get("flag", "not_checked")
        for name, value in sorted((e.get("scores") or {}).items()):
            entry: dict = {
                "type": name,
                "value": f"{value:.4f}",
                # whether the model was trained on the set travels with every score
                "slice": f"{e['dataset_repo']}@{e['dataset_revision'][:12]} ({e['task']}, {flag})",
            }
            interval = (e.get("intervals") or {}).get(name)
            if interval:
                entry["confidenceInterval"] = {
                    "lowerBound": f"{interval[0]:.4f}",
                    "upperBound": f"{interval[1]:.4f}",
                }
            metrics.append(entry)
    outcome = (
        f"Passed the quality gate (config {gate.get('config_version')}): {gate.get('message')}"
        if gate.get("passed")
        else f"Did not pass the quality gate: {gate.get('message', 'no decision')}"
    )
    card: dict = {
        "modelParameters": {
            "datasets": [{"ref": f"data:{repo}@{revision}"} for repo, revision in datasets],
        },
        "considerations": {
            "performanceTradeoffs": [outcome],
            "ethicalConsiderations": [],
        },
    }
    if not datasets:
        card.pop("modelParameters")
    if metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    return card


def validate_bom(text: str) -> None:
    """Validate a BOM against the CycloneDX 1.6 JSON schema; raise naming the first error."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise UnverifiedPackageError(f"bom: not valid CycloneDX 1.6: {str(error)[:300]}")


def check_bom(text: str, manifest_files: list[dict], zip_sha256: str) -> str:
    """Validate the BOM and check that it describes this package: the zip's hash on the
    model component and every file's hash; what was checked, in words."""
    validate_bom(text)
    doc = json.loads(text)
    hashes = {}
    zip_hashes = set()
    for component in doc.get("components", []):
        if component.get("type") == "machine-learning-model":
            zip_hashes |= {h["content"] for h in component.get("hashes", [])}
            for f in component.get("components", []):
                hashes[f["name"]] = {h["content"] for h in f.get("hashes", [])}
    if zip_sha256 not in zip_hashes:
        raise UnverifiedPackageError("bom: it describes another package (zip sha256 differs)")
    for f in manifest_files:
        if f["sha256"] not in hashes.get(f["path"], set()):
            raise UnverifiedPackageError(f"bom: {f['path']} is missing or has another sha256")
    return f"bom: valid CycloneDX 1.6, {len(hashes)} files with the manifest's hashes"
