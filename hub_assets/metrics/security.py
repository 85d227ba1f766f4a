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

import io
import json
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hub_assets.metrics.formats import FileKind, classify, numpy_header
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


@dataclass
class Verdict:
    """One scanner's verdict on one file: safe, suspicious, dangerous or error."""

    scanner: str
    path: str
    verdict: str
    imports: list[str] = field(default_factory=list)  # module.name the pickle would import
    detail: str = ""


MAX_PICKLE_BYTES = 2 * 1024**3  # a pickle stream read whole for the engines
MAX_CONFIG_BYTES = 16 * 1024**2  # a JSON config or template parsed for remote code


def _picklescan(data: bytes, rel: str) -> Verdict:
    from picklescan.scanner import scan_pickle_bytes

    result = scan_pickle_bytes(io.BytesIO(data), rel)
    found = [(g.module, g.name, g.safety.value) for g in result.globals]
    imports = sorted({f"{m}.{n}" for m, n, _ in found})
    safeties = {s for _, _, s in found}
    if result.scan_err and not found:
        return Verdict("picklescan", rel, "error", [], "not a readable pickle")
    verdict = (
        "dangerous"
        if "dangerous" in safeties
        else "suspicious"
        if "suspicious" in safeties or not found or result.scan_err
        else "safe"
    )
    flagged = sorted(f"{m}.{n}" for m, n, s in found if s != "innocuous")
    detail = "no imports found" if not found else ", ".join(flagged)
    return Verdict("picklescan", rel, verdict, imports, detail[:300])


def _fickling(data: bytes, rel: str) -> Verdict:
    from fickling.analysis import Severity, check_safety
    from fickling.fickle import StackedPickle

    stacked = StackedPickle.load(io.BytesIO(data), fail_on_decode_error=False)
    results = [check_safety(p) for p in stacked]
    if not results:
        return Verdict("fickling", rel, "error", [], "no pickle could be decoded")
    worst = max((r.severity for r in results), key=lambda s: s.value[0])
    if worst >= Severity.LIKELY_OVERTLY_MALICIOUS:
        verdict = "dangerous"
    elif worst == Severity.LIKELY_SAFE:
        verdict = "safe"
    else:
        verdict = "suspicious"
    return Verdict("fickling", rel, verdict, [], worst.value[1][:300])


def _modelscan_settings() -> dict:
    import modelscan.scanners  # noqa: F401 - first: its tools import the scanners back
    from modelscan.settings import DEFAULT_SETTINGS

    return DEFAULT_SETTINGS


def _modelscan_verdict(results: object, rel: str) -> Verdict:
    issues = list(getattr(results, "issues", []) or [])
    errors = list(getattr(results, "errors", []) or [])
    names = sorted(
        {
            f"{getattr(i.details, 'module', '?')}.{getattr(i.details, 'operator', '?')}"
            for i in issues
        }
    )
    levels = {i.severity.name for i in issues}
    if levels & {"CRITICAL", "HIGH"}:
        return Verdict("modelscan", rel, "dangerous", [], ", ".join(names)[:300])
    if levels:
        return Verdict("modelscan", rel, "suspicious", [], ", ".join(names)[:300])
    if errors:
        return Verdict("modelscan", rel, "error", [], str(errors[0].message)[:300])
    return Verdict("modelscan", rel, "safe", [], "no unsafe operator")


def _modelscan(data: bytes, rel: str) -> Verdict:
    settings = _modelscan_settings()
    from modelscan.model import Model
    from modelscan.tools.picklescanner import scan_pickle_bytes

    with Model(rel or "stream.pkl", io.BytesIO(data)) as model:
        return _modelscan_verdict(scan_pickle_bytes(model, settings), rel)


PICKLE_ENGINES = (("picklescan", _picklescan), ("fickling", _fickling), ("modelscan", _modelscan))
SCANNERS = tuple(name for name, _ in PICKLE_ENGINES)


def scan_pickle_stream(data: bytes, rel: str) -> list[Verdict]:
    """Every engine's verdict on one pickle stream; an engine that fails is an `error`
    verdict (fail closed). Nothing is unpickled."""
    out = []
    for name, scan in PICKLE_ENGINES:
        try:
            out.append(scan(data, rel))
        except Exception as e:  # noqa: BLE001 - a crash is a verdict: fail closed
            out.append(Verdict(name, rel, "error", [], f"{type(e).__name__}: {e}"[:300]))
    imports = next((v.imports for v in out if v.scanner == "picklescan"), [])
    for v in out:  # the others report severities; the imports are the same opcodes
        v.imports = v.imports or imports
    return out


def _bounded_read(path: Path, offset: int = 0) -> bytes | None:
    if path.stat().st_size - offset > MAX_PICKLE_BYTES:
        return None
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(MAX_PICKLE_BYTES + 1)


def _member_bytes(path: Path, member: str, offset: int = 0) -> bytes | None:
    with zipfile.ZipFile(path) as z, z.open(member) as m:
        data = m.read(MAX_PICKLE_BYTES + 1)
    if len(data) > MAX_PICKLE_BYTES:
        return None
    if offset:  # an object array: the pickle follows the NumPy header
        parsed = numpy_header(data)
        return data[parsed[1] :] if parsed else data
    return data


def scan_file(path: Path, rel: str) -> tuple[FileKind, list[Verdict]]:
    """A verified file's format by content and, if its bytes may run code, every
    engine's verdict on each pickle stream in it (a torch zip's members, an object array
    after its NumPy header). A pickle no engine may read (compressed, over the size bound,
    an unreadable archive) is an `error` verdict: fail closed."""
    kind = classify(path, rel)
    if kind.kind == "compressed":
        return kind, [Verdict("formats", rel, "error", [], f"{kind.detail}: no engine reads it")]
    if kind.kind == "hdf5":
        return kind, [_hdf5_verdict(path, rel)]
    if not kind.may_run_code:
        return kind, []
    streams: list[tuple[str, bytes | None]] = []
    try:
        if kind.kind == "pickle":
            streams = [(rel, _bounded_read(path))]
        elif kind.kind == "numpy-object":
            streams = [(rel, _bounded_read(path, kind.pickle_offset))]
        elif kind.members:
            offset = 1 if kind.kind == "npz-object" else 0
            streams = [(f"{rel}:{m}", _member_bytes(path, m, offset)) for m in kind.members]
        else:  # an archive that could not be listed
            return kind, [Verdict("formats", rel, "error", [], kind.detail)]
    except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError) as e:
        return kind, [Verdict("formats", rel, "error", [], f"not readable ({type(e).__name__})")]
    verdicts: list[Verdict] = []
    for label, data in streams:
        if data is None:
            verdicts.append(
                Verdict("formats", label, "error", [], "pickle over 2 GiB: not scanned")
            )
        else:
            verdicts += scan_pickle_stream(data, label)
    return kind, verdicts


def _hdf5_verdict(path: Path, rel: str) -> Verdict:
    """modelscan's Keras Lambda-layer check of an HDF5 file (h5py reads its attributes;
    no layer is built)."""
    try:
        from modelscan.model import Model
        from modelscan.scanners.h5.scan import H5LambdaDetectScan
        from modelscan.settings import SupportedModelFormats

        with Model(path) as model:
            model.set_context("formats", [SupportedModelFormats.KERAS_H5])
            result = H5LambdaDetectScan(_modelscan_settings()).scan(model)
    except Exception as e:  # noqa: BLE001 - an unreadable file fails closed
        return Verdict("modelscan", rel, "error", [], f"HDF5 not readable: {type(e).__name__}")
    if result is None:
        return Verdict("modelscan", rel, "safe", [], "HDF5 without a Keras model config")
    return _modelscan_verdict(result, rel)


def scan_pickle_file(path: Path, rel: str) -> list[Verdict]:
    """Every engine's verdicts on one local file (see `scan_file`); a file that is missing
    or not a pickle is an `error` verdict."""
    try:
        kind, verdicts = scan_file(path, rel)
    except OSError as e:
        return [Verdict("formats", rel, "error", [], f"not readable ({type(e).__name__})")]
    if not verdicts and not kind.may_run_code:
        return [Verdict("formats", rel, "error", [], f"not a pickle ({kind.kind})")]
    return verdicts


def _auto_map_refs(value: object) -> list[str]:
    refs: list[str] = []
    if isinstance(value, dict):
        for v in value.values():
            refs += _auto_map_refs(v)
    elif isinstance(value, list):
        for v in value:
            refs += _auto_map_refs(v)
    elif isinstance(value, str) and value:
        refs.append(value)
    return refs


def _code_paths(refs: Iterable[str]) -> list[str]:
    out = set()
    for ref in refs:
        repo, sep, target = ref.partition("--")
        module = (target if sep else ref).rsplit(".", 1)[0]
        path = module.replace(".", "/") + ".py"
        out.add(path if not sep else f"{repo}:{path}")
    return sorted(out)


def remote_code_in(config: object, where: str = "config.json", depth: int = 0) -> list[str]:
    """What `trust_remote_code=True` would import because of one parsed config: `auto_map`
    at any depth (and `custom_pipelines`' implementations), as repo paths prefixed with
    the config that names them; a reference to another repo is kept as written."""
    found: list[str] = []
    if depth > 32:
        return [f"{where}: nested too deep to check"]
    if isinstance(config, dict):
        for key, value in config.items():
            if key == "auto_map":
                found += [f"{where}: {p}" for p in _code_paths(_auto_map_refs(value))]
                if not _auto_map_refs(value):
                    found.append(f"{where}: auto_map")
            elif key == "custom_pipelines" and value:
                impls = [v.get("impl") for v in (value.values() if isinstance(value, dict) else [])]
                refs = [i for i in impls if isinstance(i, str) and i]
                found += [f"{where}: custom pipeline {p}" for p in _code_paths(refs)] or [
                    f"{where}: custom_pipelines"
                ]
            else:
                found += remote_code_in(value, where, depth + 1)
    elif isinstance(config, list):
        for item in config:
            found += remote_code_in(item, where, depth + 1)
    return found


def remote_code_files(config: Mapping | None) -> list[str]:
    """The Python files `auto_map` in config.json points at (what `trust_remote_code=True`
    would import), as repo paths; a reference to another repo is kept as written."""
    return sorted(
        {f.split(": ", 1)[1] for f in remote_code_in(config or {}, "config.json") if ": " in f}
    )


# Attributes and names that the known Jinja2 sandbox escapes go through (dunder access to
# reach __globals__/__subclasses__, str.format's attribute lookups, frame objects).
UNSAFE_TEMPLATE_ATTRS = {
    "mro",
    "format",
    "format_map",
    "func_globals",
    "f_globals",
    "f_locals",
    "f_builtins",
    "gi_frame",
    "gi_code",
    "cr_frame",
    "ag_frame",
    "tb_frame",
    "co_code",
}


def template_findings(source: str, where: str) -> list[str]:
    """Why a chat template must not be rendered: a syntax error, or the shape of a known
    Jinja2 sandbox escape (an attribute or string starting with `_`, `format`/`mro` and
    frame attributes, `attr` with a computed name). Parsed, never rendered."""
    from jinja2 import nodes
    from jinja2.exceptions import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    try:
        tree = ImmutableSandboxedEnvironment().parse(source)
    except (TemplateSyntaxError, RecursionError, ValueError) as e:
        return [f"{where}: chat template does not parse ({str(e)[:100]})"]
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Const, nodes.Filter, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            if node.attr.startswith("_") or node.attr in UNSAFE_TEMPLATE_ATTRS:
                found.add(f"attribute .{node.attr}")
        elif isinstance(node, nodes.Const):
            if isinstance(node.value, str) and (node.value.startswith("_") or "__" in node.value):
                found.add(f"string {node.value[:30]!r}")
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            arg = node.args[0] if node.args else None
            if not isinstance(arg, nodes.Const):
                found.add("attr filter with a computed name")
        elif isinstance(node, nodes.Getitem):
            arg = node.arg
            if isinstance(arg, nodes.Const) and arg.value in UNSAFE_TEMPLATE_ATTRS:
                found.add(f"item [{arg.value!r}]")
    return [f"{where}: chat template uses {f} (a sandbox-escape pattern)" for f in sorted(found)]


def _templates_of(config: object, where: str) -> list[tuple[str, str]]:
    if not isinstance(config, dict):
        return []
    value = config.get("chat_template")
    if isinstance(value, str):
        return [(where, value)]
    if isinstance(value, list):
        return [
            (f"{where} ({t.get('name', '?')})", t["template"])
            for t in value
            if isinstance(t, dict) and isinstance(t.get("template"), str)
        ]
    return []


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
