"""The pickle engines and what each says of one stream: picklescan, fickling and ModelScan
(plus its Keras HDF5 Lambda check), over bounded reads of a file or a zip member; a
verdict per engine per stream."""

from __future__ import annotations

import functools
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from hub_assets.comparability import digest
from hub_assets.metrics.formats import FileKind, classify, numpy_header


@dataclass
class Verdict:
    """One scanner's verdict on one file: safe, suspicious, dangerous or error."""

    scanner: str
    path: str
    verdict: str
    imports: list[str] = field(default_factory=list)  # module.name the pickle would import
    detail: str = ""


MAX_PICKLE_BYTES = 2 * 1024**3  # a pickle stream read whole for the engines


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


def rule_tables() -> dict[str, object]:
    """Each pickle engine's rule set as installed: the globals it calls safe or unsafe
    (picklescan), the imports it calls unsafe and the builtins it calls safe (fickling),
    its settings with their unsafe globals (ModelScan). A new release of an engine that
    changes what it flags changes these, even without a new version number."""
    from fickling import fickle
    from picklescan import scanner as picklescan

    return {
        "picklescan": {
            "safe": getattr(picklescan, "_safe_globals", None),
            "unsafe": getattr(picklescan, "_unsafe_globals", None),
        },
        "fickling": {
            "unsafe": getattr(fickle, "UNSAFE_IMPORTS", None),
            "safe": getattr(fickle, "SAFE_BUILTINS", None),
        },
        "modelscan": _modelscan_settings(),
    }


@functools.cache
def scanner_rules() -> dict[str, str]:
    """A digest of each engine's rule set (`rule_tables`), once per process: an engine
    upgrade takes a restart to load anyway."""
    return {name: digest(table) for name, table in rule_tables().items()}


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
