"""The security verdict of a revision, made on its verified snapshot before any stage loads
it, and the snapshot it clears for a loader."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from hub_assets.errors import HubAssetsError, NotClearedError
from hub_assets.hub.clearance import clear_mark, clearance, mark_cleared
from hub_assets.hub.client import HubClient
from hub_assets.hub.snapshots import ALL_FILES, DATA_WEIGHT_PATTERNS, SnapshotStore
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.scanners import SCANNERS, Verdict
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


def security_inputs(ev: ModelEvidence, allowlist: Sequence[str] = ()) -> dict:
    """What the security verdict depends on: every file's content (by the listing's
    digest), the allowlist and the engines' versions."""
    return {
        "revision": ev.sha,
        "files": {
            p: ev.files[p].get("lfs_sha256") or ev.files[p].get("blob_id") for p in sorted(ev.files)
        },
        "allowlist": sorted(allowlist),
        "engines": engine_versions(),
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


def judge_security(ev: ModelEvidence, ctx: ScoringContext) -> ScoredMetric:
    """The security verdict of the revision, made before any stage loads it: the stored
    one when its inputs are unchanged and (if it passed) the snapshot still bears its mark;
    else a scan of the verified snapshot (and of an adapter's base, which is loaded with
    it). A passing verdict marks the snapshots (`hub.clearance`), which every loader
    requires; a failing one removes the marks."""
    base = _adapter_base(ev, ctx)
    known = security_inputs(ev, ctx.scanner_allowlist)
    if base is not None:
        known["base"] = {"model": base.model_id, **security_inputs(base)}
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
        return reused_value(prev)

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
    )
    if prev is not None and (prev.inputs_fingerprint, prev.code_version, prev.value) == (
        scored.inputs_fingerprint,
        scored.code_version,
        scored.value,
    ):
        scored.reused = True  # the same verdict again (the snapshot was fetched anew)
    for folder, e in zip(folders, [x for x in (ev, base) if x is not None], strict=True):
        if scored.value > 0 and ctx.client is not None:
            mark_cleared(folder, e.sha, scored.reason, scored.inputs_fingerprint)
        else:
            clear_mark(folder)
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
