"""A fail-closed security verdict on a verified snapshot, made before anything loads it:
every file classified by content (`metrics.formats`), every pickle stream read by three
engines (picklescan, fickling, modelscan; nothing is unpickled), weight headers checked,
code that `trust_remote_code` would run found in any config, chat templates checked for
Jinja2 sandbox escapes, and secrets in the repo's text files.

Policy (`security_verdict`):
- any engine saying *dangerous* → 0.0;
- *suspicious*, unknown or inconclusive → 0.0, unless every flagged import (module.name)
  is on the gate config's `scanner_allowlist` (then 0.75: pickles present, imports vetted);
- an engine that crashes or cannot read a pickle (compressed, too big) → 0.0 with the reason;
- a malformed safetensors or GGUF header → 0.0 ("malformed weights");
- `auto_map` or `custom_pipelines` in any JSON config, at any depth → 0.0, naming the
  config and the files;
- a chat template that does not parse or has the shape of a sandbox escape → 0.0;
- a secret in a text file (detect-secrets) → 0.0, naming the file, line and kind; the
  value is never printed or stored;
- no pickle file and no finding → 1.0.
Each scanner's verdict per file is kept in the metric's details.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hub_assets.metrics.remote_code import _templates_of, remote_code_in, template_findings
from hub_assets.metrics.scanners import SCANNERS, Verdict, scan_file
from hub_assets.metrics.trust import MetricResult

# The imports of an ordinary torch checkpoint (tensors rebuilt from storages, an ordered
# state dict): fickling rates them "likely unsafe", so they are vetted here; the gate
# config's `scanner_allowlist` replaces this list.
DEFAULT_SCANNER_ALLOWLIST = (
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.FloatStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.DoubleStorage",
    "torch.LongStorage",
    "torch.IntStorage",
    "torch.ShortStorage",
    "torch.CharStorage",
    "torch.ByteStorage",
    "torch.BoolStorage",
)
# Text files read for secrets (a token committed by mistake), at most this size each.
SECRET_SUFFIXES = (".py", ".json", ".md", ".txt", ".yaml", ".yml", ".cfg", ".ini", ".sh", ".env")
SECRET_MAX_BYTES = 1_000_000
# Tokenizer vocabularies: tens of thousands of lines of tokens, data that only a tokenizer
# reads; the high-entropy detectors flag noise there and take seconds per repo.
SECRET_SKIPPED_NAMES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt")


MAX_CONFIG_BYTES = 16 * 1024**2  # a JSON config or template parsed for remote code


@dataclass
class RepoScan:
    """What the security scan found in one verified snapshot."""

    verdicts: list[Verdict] = field(default_factory=list)  # pickle engines, per stream
    formats: list[Verdict] = field(default_factory=list)  # weight-format header checks
    remote_code: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    secrets: list[dict] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # path → format by content

    def merged(self, other: RepoScan, label: str) -> RepoScan:
        """This scan and `other`'s (another repo loaded with this one), its paths
        prefixed with `label`."""

        def moved(v: Verdict) -> Verdict:
            return Verdict(v.scanner, f"{label}: {v.path}", v.verdict, v.imports, v.detail)

        return RepoScan(
            self.verdicts + [moved(v) for v in other.verdicts],
            self.formats + [moved(v) for v in other.formats],
            self.remote_code + [f"{label}: {r}" for r in other.remote_code],
            self.templates + [f"{label}: {t}" for t in other.templates],
            self.secrets + [{**s, "path": f"{label}: {s['path']}"} for s in other.secrets],
            {**self.kinds, **{f"{label}: {k}": v for k, v in other.kinds.items()}},
        )


def scan_snapshot(folder: Path, paths: Sequence[str]) -> RepoScan:
    """The security scan of a verified snapshot: every file classified by content; every
    pickle stream through each engine; every safetensors and GGUF header checked; every
    JSON config searched for `auto_map` and custom code; every chat template parsed for
    sandbox escapes; text files searched for secrets. Nothing is loaded or run."""
    from hub_assets.errors import MalformedGgufError, MalformedWeightsError
    from hub_assets.hub.gguf_header import read_local_gguf_header
    from hub_assets.hub.inspection import local_safetensors_header

    out = RepoScan()
    for rel in sorted(paths):
        full = folder / rel
        kind, verdicts = scan_file(full, rel)
        out.kinds[rel] = kind.kind
        out.verdicts += verdicts
        lower = rel.lower()
        if kind.kind == "safetensors" or lower.endswith(".safetensors"):
            try:
                header = local_safetensors_header(full)
                out.formats.append(
                    Verdict("safetensors-header", rel, "safe", detail=f"{header.tensors} tensors")
                )
            except MalformedWeightsError as e:
                out.formats.append(Verdict("safetensors-header", rel, "dangerous", detail=str(e)))
        elif kind.kind == "gguf":
            try:
                header = read_local_gguf_header(full)
                out.formats.append(
                    Verdict("gguf-header", rel, "safe", detail=f"{len(header.tensors)} tensors")
                )
            except MalformedGgufError as e:
                out.formats.append(Verdict("gguf-header", rel, "dangerous", detail=str(e)))
        if kind.kind == "text" and full.stat().st_size <= MAX_CONFIG_BYTES:
            if lower.endswith(".json"):
                try:
                    config = json.loads(full.read_bytes())
                except (ValueError, RecursionError):
                    if lower.endswith("config.json"):
                        out.remote_code.append(f"{rel}: not JSON, cannot be checked")
                    continue
                out.remote_code += remote_code_in(config, rel)
                for where, source in _templates_of(config, rel):
                    out.templates += template_findings(source, where)
            elif lower.endswith(".jinja"):
                source = full.read_text(encoding="utf-8", errors="replace")
                out.templates += template_findings(source, rel)
    texts = [p for p in paths if p.lower().endswith(SECRET_SUFFIXES)]
    out.secrets = scan_secrets(folder, texts)
    return out


def scan_secrets(folder: Path, paths: Sequence[str]) -> list[dict]:
    """Secrets in the repo's text files (detect-secrets, default plugins): file, line and
    kind only; the secret's value is never read out."""
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    found = []
    with default_settings():
        collection = SecretsCollection(root=str(folder))
        for rel in paths:
            full = folder / rel
            if (
                rel.endswith(SECRET_SUFFIXES)
                and rel.rsplit("/", 1)[-1].lower() not in SECRET_SKIPPED_NAMES
                and full.is_file()
                and full.stat().st_size <= SECRET_MAX_BYTES
            ):
                collection.scan_file(str(full))
        for filename, secret in collection:
            found.append(
                {
                    "path": str(Path(filename).relative_to(folder))
                    if Path(filename).is_absolute()
                    else filename,
                    "line": secret.line_number,
                    "kind": secret.type,
                }
            )
    return sorted(found, key=lambda f: (f["path"], f["line"], f["kind"]))


def security_verdict(
    verdicts: Sequence[Verdict],
    allowlist: Iterable[str],
    remote_code: Sequence[str] = (),
    secrets: Sequence[dict] = (),
    formats: Sequence[Verdict] = (),
    templates: Sequence[str] = (),
) -> MetricResult:
    """The fail-closed policy above, with every verdict in the details."""
    allowed = set(allowlist)
    details = {
        "verdicts": [asdict(v) for v in verdicts],
        "format_checks": [asdict(v) for v in formats],
        "remote_code": list(remote_code),
        "chat_templates": list(templates),
        "secrets": list(secrets),
    }
    inputs = {
        "verdicts": sorted((v.scanner, v.path, v.verdict, tuple(v.imports)) for v in verdicts),
        "allowlist": sorted(allowed),
        "remote_code": list(remote_code),
        "secrets": [(s["path"], s["line"], s["kind"]) for s in secrets],
        "format_checks": sorted((v.scanner, v.path, v.verdict, v.detail) for v in formats),
        "chat_templates": list(templates),
    }
    problems = [
        f"malformed weights: {v.path}: malformed "
        + ("GGUF header" if v.scanner.startswith("gguf") else "safetensors header")
        + f" ({v.detail})"
        if v.verdict == "dangerous"
        else f"{v.path}: weight header {v.detail}"
        for v in formats
        if v.verdict != "safe"
    ]
    for v in verdicts:
        if v.verdict == "dangerous":
            problems.append(f"{v.path}: dangerous ({v.scanner}: {v.detail})")
        elif v.verdict == "error":
            problems.append(f"{v.path}: {v.scanner} could not read it ({v.detail})")
    for v in verdicts:
        if v.verdict == "suspicious":
            unknown = sorted(set(v.imports) - allowed) or ([] if v.imports else ["(no imports)"])
            if unknown:
                problems.append(
                    f"{v.path}: {v.scanner} says suspicious; imports not on the allowlist: "
                    f"{', '.join(unknown)}"
                )
    if remote_code:
        problems.append(
            "repo code that trust_remote_code would run: " + ", ".join(remote_code[:20])
        )
    problems += list(templates)
    for s in secrets:
        problems.append(f"a secret ({s['kind']}) in {s['path']} line {s['line']}")
    if problems:
        reason = "; ".join(dict.fromkeys(problems))
        details["gate_explanation"] = reason
        return MetricResult(0.0, reason, inputs, details)
    pickles = {v.path for v in verdicts}
    if pickles:
        return MetricResult(
            0.75,
            f"{len(pickles)} pickle stream(s): every engine ({', '.join(SCANNERS)}) found them "
            "safe or their imports are on the allowlist",
            inputs,
            details,
        )
    checked = [v for v in formats if v.verdict == "safe"]
    headers = f"; {len(checked)} weight header(s) within bounds" if checked else ""
    return MetricResult(
        1.0, "no pickle files, no remote code, no secrets" + headers, inputs, details
    )


def gguf_header_verdicts(headers: Mapping[str, dict]) -> list[Verdict]:
    """The GGUF header check (hardware/gguf_header.py: bounded counts and sizes, tensor data
    inside the file) of each GGUF file, from `HubClient.weight_headers`: read by range and
    parsed with bounds, never loaded."""
    return [
        Verdict("gguf-header", path, "dangerous", detail=h["error"])
        if "error" in h
        else Verdict("gguf-header", path, "safe", detail=f"{h['tensors']} tensors")
        for path, h in sorted(headers.items())
    ]
