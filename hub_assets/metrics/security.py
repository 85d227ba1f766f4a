"""A fail-closed scanner verdict: every pickle-format file read by two scanners (picklescan
and fickling; nothing is unpickled), code that `trust_remote_code` would run, and secrets
in the repo's text files.

Policy (`security_verdict`):
- any scanner saying *dangerous* → 0.0;
- *suspicious*, unknown or inconclusive → 0.0, unless every flagged import (module.name)
  is on the gate config's `scanner_allowlist` (then 0.75: pickles present, imports vetted);
- a scanner that crashes → 0.0 with the reason;
- Python files named by `auto_map` in config.json (code `trust_remote_code=True` would run)
  → 0.0, naming the files;
- a secret in a text file (detect-secrets) → 0.0, naming the file, line and kind; the
  value is never printed or stored;
- no pickle file and no finding → 1.0.
Each scanner's verdict per file is kept in the metric's details.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hub_assets.metrics.trust import MetricResult

SCANNERS = ("picklescan", "fickling")
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


@dataclass
class Verdict:
    """One scanner's verdict on one file: safe, suspicious, dangerous or error."""

    scanner: str
    path: str
    verdict: str
    imports: list[str] = field(default_factory=list)  # module.name the pickle would import
    detail: str = ""


def _picklescan(path: Path, rel: str) -> Verdict:
    from hub_assets.hub.inspection import pickle_scan

    found = pickle_scan(path)
    imports = sorted({f"{g['module']}.{g['name']}" for g in found})
    safeties = {g["safety"] for g in found}
    verdict = (
        "dangerous"
        if "dangerous" in safeties
        else "suspicious"
        if "suspicious" in safeties or not found
        else "safe"
    )
    flagged = sorted(f"{g['module']}.{g['name']}" for g in found if g["safety"] != "innocuous")
    detail = "no imports found (not a readable pickle)" if not found else ", ".join(flagged)
    return Verdict("picklescan", rel, verdict, imports, detail)


def _fickling(path: Path, rel: str) -> Verdict:
    from fickling.analysis import Severity
    from fickling.loader import scan_file, scan_zip_archive

    if zipfile.is_zipfile(path):
        results = list(scan_zip_archive(str(path), graceful=True).values())
    else:
        results = [scan_file(str(path), graceful=True)]
    if not results:
        return Verdict("fickling", rel, "suspicious", [], "no pickle inside the archive")
    worst = max((r.severity for r in results), key=lambda s: s.value[0])
    errors = [e for r in results for e in r.errors]
    if worst >= Severity.LIKELY_OVERTLY_MALICIOUS:
        verdict = "dangerous"
    elif worst == Severity.LIKELY_SAFE and not errors:
        verdict = "safe"
    else:
        verdict = "suspicious"
    detail = worst.value[1] + (f"; {errors[0]}" if errors else "")
    return Verdict("fickling", rel, verdict, [], detail[:300])


def scan_pickle_file(path: Path, rel: str) -> list[Verdict]:
    """Both scanners' verdicts on one file; a scanner that fails is an `error` verdict."""
    out = []
    for name, scan in (("picklescan", _picklescan), ("fickling", _fickling)):
        try:
            out.append(scan(path, rel))
        except Exception as e:  # noqa: BLE001 - a crash is a verdict: fail closed
            out.append(Verdict(name, rel, "error", [], f"{type(e).__name__}: {e}"[:300]))
    imports = next((v.imports for v in out if v.scanner == "picklescan"), [])
    for v in out:  # fickling reports severities; the imports are the same opcodes
        v.imports = v.imports or imports
    return out


def remote_code_files(config: Mapping | None) -> list[str]:
    """The Python files `auto_map` in config.json points at (what `trust_remote_code=True`
    would import), as repo paths; a reference to another repo is kept as written."""
    auto_map = (config or {}).get("auto_map") or {}
    refs: list[str] = []
    for value in auto_map.values():
        refs.extend(value if isinstance(value, list) else [value])
    out = set()
    for ref in refs:
        if not isinstance(ref, str) or not ref:
            continue
        repo, sep, target = ref.partition("--")
        module = (target if sep else ref).rsplit(".", 1)[0]
        path = module.replace(".", "/") + ".py"
        out.add(path if not sep else f"{repo}:{path}")
    return sorted(out)


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
    gguf: Sequence[Verdict] = (),
) -> MetricResult:
    """The fail-closed policy above, with every verdict in the details."""
    allowed = set(allowlist)
    details = {
        "verdicts": [asdict(v) for v in verdicts],
        "gguf_headers": [asdict(v) for v in gguf],
        "remote_code": list(remote_code),
        "secrets": list(secrets),
    }
    inputs = {
        "verdicts": sorted((v.scanner, v.path, v.verdict, tuple(v.imports)) for v in verdicts),
        "allowlist": sorted(allowed),
        "remote_code": list(remote_code),
        "secrets": [(s["path"], s["line"], s["kind"]) for s in secrets],
        "gguf_headers": sorted((v.path, v.verdict, v.detail) for v in gguf),
    }
    problems = [
        f"{v.path}: "
        + ("malformed GGUF header" if v.verdict == "dangerous" else "GGUF header not read")
        + f" ({v.detail})"
        for v in gguf
        if v.verdict != "safe"
    ]
    for v in verdicts:
        if v.verdict == "dangerous":
            problems.append(f"{v.path}: dangerous ({v.scanner}: {v.detail})")
        elif v.verdict == "error":
            problems.append(f"{v.path}: {v.scanner} failed ({v.detail})")
    for v in verdicts:
        if v.verdict == "suspicious":
            unknown = sorted(set(v.imports) - allowed) or ([] if v.imports else ["(no imports)"])
            if unknown:
                problems.append(
                    f"{v.path}: {v.scanner} says suspicious; imports not on the allowlist: "
                    f"{', '.join(unknown)}"
                )
    if remote_code:
        problems.append("auto_map runs repo code with trust_remote_code: " + ", ".join(remote_code))
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
            f"{len(pickles)} pickle file(s): every scanner found them safe or their imports "
            "are on the allowlist",
            inputs,
            details,
        )
    ggufs = f"; {len(gguf)} GGUF header(s) within bounds" if gguf else ""
    return MetricResult(1.0, "no pickle files, no remote code, no secrets" + ggufs, inputs, details)


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
