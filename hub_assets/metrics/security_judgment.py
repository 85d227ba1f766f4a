"""The security verdict of a revision, made on its verified snapshot before any stage loads
it, and the snapshot it clears for a loader."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from hub_assets.errors import HubAssetsError, NotClearedError
from hub_assets.hub.clearance import clear_mark, clearance, mark_cleared
from hub_assets.hub.client import HubClient
from hub_assets.hub.snapshots import ALL_FILES, DATA_WEIGHT_PATTERNS, SnapshotStore
from hub_assets.metrics.evidence import ModelEvidence, StoredMetric
from hub_assets.metrics.scanners import SCANNERS, Verdict, scanner_rules
from hub_assets.metrics.scored import (
    ScoredMetric,
    ScoringContext,
    code_version,
    fingerprint,
    reused_value,
)
from hub_assets.metrics.security import (
    DEFAULT_SCANNER_ALLOWLIST,
    RepoScan,
    scan_snapshot,
    security_verdict,
)
from hub_assets.metrics.trust import MetricResult


def engine_versions() -> dict[str, str]:
    """The version of every security engine: a new release re-makes the verdicts (it is
    part of the security metric's inputs)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (*SCANNERS, "detect-secrets", "jinja2"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "missing"
    return out


def scanner_basis(allowlist: Sequence[str] = ()) -> dict:
    """What a security verdict rests on besides the files (`hub_assets.comparability`):
    each engine's name, version and rule-set digest, the reviewed allowlist and our own
    scanning code's version. A verdict whose basis differs from this one is stale."""
    engines = engine_versions()
    rules = scanner_rules()
    return {
        "kind": "security",
        "code": code_version("security"),
        "scanners": {
            name: {"version": version, "rules": rules.get(name)}
            for name, version in sorted(engines.items())
        },
        "allowlist": sorted(allowlist),
    }


def security_inputs(ev: ModelEvidence, allowlist: Sequence[str] = ()) -> dict:
    """What the security verdict depends on: every file's content (by the listing's
    digest), the allowlist and the engines' versions and rule sets."""
    return {
        "revision": ev.sha,
        "files": {
            p: ev.files[p].get("lfs_sha256") or ev.files[p].get("blob_id") for p in sorted(ev.files)
        },
        "allowlist": sorted(allowlist),
        "engines": engine_versions(),
        "rules": scanner_rules(),
    }


def scan_repo(client: HubClient, ev: ModelEvidence, store: SnapshotStore | Path) -> RepoScan:
    """The security scan of the revision: every file but its safetensors and GGUF weights
    from the verified snapshot (`security.scan_snapshot`: bytes that fail verification are
    never scanned as if genuine, and what is scanned is what loaders and the package read),
    and every weight file's header checked with bounds by range reads (those formats run no
    code; loaders check the headers again on the verified bytes). `store` is the snapshot
    store, or a folder to keep one in."""
    if not isinstance(store, SnapshotStore):
        store = SnapshotStore(Path(store))
    siblings = ev.info.get("siblings") or []
    with store.use(
        client, ev.model_id, ev.sha, siblings, ALL_FILES, exclude=DATA_WEIGHT_PATTERNS
    ) as snapshot:
        found = scan_snapshot(snapshot.folder, [f.path for f in snapshot.files])
    weights = [p for p in ev.files if p.lower().endswith((".safetensors", ".gguf"))]
    if weights:
        checks = client.weight_headers(ev.model_id, ev.sha).data.get("checks") or {}
        for path in sorted(weights):
            check = checks.get(path, "not checked")
            engine = "gguf-header" if path.lower().endswith(".gguf") else "safetensors-header"
            verdict = "safe" if check == "ok" else "dangerous"
            if check.startswith("not checked"):
                verdict = "error"
            found.formats.append(Verdict(engine, path, verdict, detail=check))
    return found


def _adapter_base(ev: ModelEvidence, ctx: ScoringContext) -> ModelEvidence | None:
    """The evidence of the base model an adapter loads onto (its files are loaded with it,
    so the adapter's verdict covers them); None for other repos or without Hub access."""
    base = ev.adapter_base()
    if base is None or ctx.client is None:
        return None
    return ModelEvidence.from_metadata(base, ctx.client.model_metadata(base).data)


def judged_inputs(ev: ModelEvidence, base: ModelEvidence | None, allowlist: Sequence[str]) -> dict:
    """The inputs a verdict on `ev` (and the base an adapter loads onto) rests on."""
    known = security_inputs(ev, allowlist)
    if base is not None:
        known["base"] = {"model": base.model_id, **security_inputs(base)}
    return known


def _mark(folders: Sequence[tuple[Path, str]], verdict: ScoredMetric) -> None:
    """Mark the snapshots cleared by a passing verdict; unmark them otherwise."""
    for folder, sha in folders:
        if verdict.value > 0:
            mark_cleared(folder, sha, verdict.reason, verdict.inputs_fingerprint)
        else:
            clear_mark(folder)


def rescan_security(
    ev: ModelEvidence,
    store: SnapshotStore,
    allowlist: Sequence[str],
    previous: StoredMetric,
    base: ModelEvidence | None = None,
) -> ScoredMetric | str:
    """The verdict made again by the installed engines under `allowlist`, on the snapshot
    (and an adapter's base) that an earlier scan verified: nothing is fetched, nothing is
    loaded. The weight-header checks (format structure, which no scanner rule changes)
    are the ones `previous` recorded. When a snapshot is no longer kept, or a weight file
    has no recorded check, it says why instead: such a verdict waits for a scoring run
    with the Hub."""
    started = time.perf_counter()
    stored = (previous.details or {}).get("format_checks") or []
    formats = [Verdict(**v) for v in stored]
    checked = {v.path for v in formats}
    for e, label in ((ev, ""), (base, f"base {base.model_id}: " if base else "")):
        if e is not None and any(
            f"{label}{p}" not in checked
            for p in e.files
            if p.lower().endswith((".safetensors", ".gguf"))
        ):
            return f"{e.model_id}: a weight file has no header check on record"
    scans, folders = [], []
    with ExitStack() as stack:
        for e in (x for x in (ev, base) if x is not None):
            snapshot = stack.enter_context(
                store.kept(
                    e.model_id,
                    e.sha,
                    e.info.get("siblings") or [],
                    ALL_FILES,
                    exclude=DATA_WEIGHT_PATTERNS,
                )
            )
            if snapshot is None:
                return f"{e.model_id}@{e.sha[:12]}: its verified snapshot is no longer kept"
            scans.append(scan_snapshot(snapshot.folder, [f.path for f in snapshot.files]))
            folders.append((snapshot.folder, e.sha))
        found = scans[0]
        if base is not None:
            found = found.merged(scans[1], f"base {base.model_id}")
        result = security_verdict(
            found.verdicts, allowlist, found.remote_code, found.secrets, formats, found.templates
        )
        verdict = ScoredMetric(
            "security",
            result.value,
            round((time.perf_counter() - started) * 1000, 2),
            fingerprint(judged_inputs(ev, base, allowlist)),
            code_version("security"),
            result.reason,
            result.details,
            basis=scanner_basis(allowlist),
        )
        _mark(folders, verdict)
    return verdict


def judge_security(ev: ModelEvidence, ctx: ScoringContext) -> ScoredMetric:
    """The security verdict of the revision, made before any stage loads it: the stored
    one when its inputs are unchanged and (if it passed) the snapshot still bears its mark;
    else a scan of the verified snapshot (and of an adapter's base, which is loaded with
    it). A passing verdict marks the snapshots (`hub.clearance`), which every loader
    requires; a failing one removes the marks."""
    base = _adapter_base(ev, ctx)
    known = judged_inputs(ev, base, ctx.scanner_allowlist)
    store = ctx.store()
    folders = [store.folder(e.model_id, e.sha) for e in (ev, base) if e is not None]
    prev = ctx.previous.get("security")
    if (
        prev is not None
        and prev.inputs_fingerprint == fingerprint(known)
        and prev.code_version == code_version("security")
        and (
            prev.value == 0.0
            or ctx.client is None
            or all(clearance(f) is not None for f in folders)
        )
    ):
        reused = reused_value(prev)
        reused.basis = scanner_basis(ctx.scanner_allowlist)  # the same inputs, named
        return reused

    def security() -> MetricResult:
        if ctx.client is None:
            return MetricResult(0.0, "not scanned: no Hub access to fetch the files", known)
        try:
            found = scan_repo(ctx.client, ev, store)
            if base is not None:
                found = found.merged(scan_repo(ctx.client, base, store), f"base {base.model_id}")
        except HubAssetsError as e:
            if e.outcome == "gated":  # no access to the files: nothing can vouch for them
                return MetricResult(0.0, f"not scanned: {str(e).splitlines()[0]}", known)
            if ctx.hub_reachable or e.outcome in ("unsafe_repo", "oversized_repo"):
                raise  # the pipeline retries; a verdict is never made on missing files
            return MetricResult(
                0.0,
                f"not scanned: the Hub is unreachable and the files are not cached ({e})",
                known,
            )
        return security_verdict(
            found.verdicts,
            ctx.scanner_allowlist,
            found.remote_code,
            found.secrets,
            found.formats,
            found.templates,
        )

    started = time.perf_counter()
    result = security()
    scored = ScoredMetric(
        "security",
        result.value,
        round((time.perf_counter() - started) * 1000, 2),
        fingerprint(known),
        code_version("security"),
        result.reason,
        result.details,
        basis=scanner_basis(ctx.scanner_allowlist),
    )
    if prev is not None and (prev.inputs_fingerprint, prev.code_version, prev.value) == (
        scored.inputs_fingerprint,
        scored.code_version,
        scored.value,
    ):
        scored.reused = True  # the same verdict again (the snapshot was fetched anew)
    shas = [x.sha for x in (ev, base) if x is not None]
    if ctx.client is None:
        for folder in folders:
            clear_mark(folder)
    else:
        _mark(list(zip(folders, shas, strict=True)), scored)
    return scored


def cleared_snapshot(
    client: HubClient,
    model_id: str,
    work_dir: Path,
    revision: str | None = None,
    allowlist: Sequence[str] = DEFAULT_SCANNER_ALLOWLIST,
) -> Path:
    """The verified snapshot folder of a revision (every file) once its security verdict
    has passed (judged now, or reused), ready for a loader; `NotClearedError` with the verdict's
    reason otherwise. For tools and benchmarks that load one model outside the pipeline."""
    ev = ModelEvidence.from_metadata(model_id, client.model_metadata(model_id, revision).data)
    ctx = ScoringContext(
        client=client, work_dir=Path(work_dir), now=datetime.now(UTC), scanner_allowlist=allowlist
    )
    verdict = judge_security(ev, ctx)
    if verdict.value <= 0:
        raise NotClearedError(f"{model_id}@{ev.sha[:12]} is not loaded: {verdict.reason}")
    siblings = ev.info.get("siblings") or []
    with ctx.store().use(client, model_id, ev.sha, siblings, ALL_FILES) as snapshot:
        return snapshot.folder
