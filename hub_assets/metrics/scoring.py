"""Score one model revision: every trust metric, timed, fingerprinted, reused when unchanged.

A metric whose inputs fingerprint and code version match a value already stored for the
same revision is not recomputed (for reproducibility and security, whose inputs are known
before the work, nothing is downloaded or run either).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from hub_assets import __version__
from hub_assets.errors import HubAssetsError, NotClearedError
from hub_assets.evaluation.measurement import Measurement
from hub_assets.hardware.fit import DEFAULT_CONTEXT, DeviceProfile, load_devices
from hub_assets.hardware.footprint import Footprint, revision_footprint, with_base
from hub_assets.hub.clearance import clear_mark, clearance, mark_cleared
from hub_assets.hub.client import HubClient
from hub_assets.hub.snapshots import ALL_FILES, DATA_WEIGHT_PATTERNS, SnapshotStore
from hub_assets.metrics import claims, trust
from hub_assets.metrics.evidence import ModelEvidence, StoredMetric
from hub_assets.metrics.licence_chain import (
    FAILING_FINDINGS,
    USES,
    Ancestor,
    licence_obligations,
)
from hub_assets.metrics.reproducibility import ReproducibilityLimits, reproducibility
from hub_assets.metrics.scanners import SCANNERS, Verdict
from hub_assets.metrics.security import (
    DEFAULT_SCANNER_ALLOWLIST,
    RepoScan,
    scan_snapshot,
    security_verdict,
)
from hub_assets.metrics.table import (  # noqa: F401 - GATE_METRICS, ALL_METRICS re-exported
    ALL_METRICS,
    CODE_VERSIONS,
    GATE_METRICS,
    NET_WEIGHTS,
)
from hub_assets.metrics.trust import MetricResult


def fingerprint(inputs: object) -> str:
    """sha256 of the canonical JSON of a metric's inputs."""
    raw = json.dumps(inputs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def code_version(metric: str) -> str:
    return f"{metric}/v{CODE_VERSIONS[metric]}+hub-assets-{__version__}"


@dataclass
class ScoredMetric:
    """One metric of one revision, ready for `metric_values`."""

    metric: str
    value: float
    latency_ms: float
    inputs_fingerprint: str
    code_version: str
    reason: str
    details: dict | None = None
    reused: bool = False

    def row(self) -> dict:
        return {
            "metric": self.metric,
            "value": self.value,
            "latency_ms": self.latency_ms,
            "inputs_fingerprint": self.inputs_fingerprint,
            "code_version": self.code_version,
            "details": {"reason": self.reason, **(self.details or {})},
        }


@dataclass
class ScoringContext:
    """What scoring needs beyond the model's own metadata."""

    client: HubClient | None
    work_dir: Path
    now: datetime
    snapshots: SnapshotStore | None = None  # default: <work_dir>/snapshots, uncapped
    target_device: str = "jetson_nano"
    devices: Mapping[str, DeviceProfile] = field(default_factory=load_devices)
    context_length: int = DEFAULT_CONTEXT  # tokens the RAM estimate's KV cache holds
    limits: ReproducibilityLimits = field(default_factory=ReproducibilityLimits)
    parent_net_scores: Mapping[str, float] = field(default_factory=dict)
    tree_parents: Sequence[tuple[str, str]] = ()  # (parent, relation); default: the card's
    previous: Mapping[str, StoredMetric] = field(default_factory=dict)
    run_reproducibility: bool = True
    # the revision's shadow evaluations, one per pinned set of its task (none: not measured)
    measurements: Sequence[Measurement] = ()
    contaminated_evidence: str = "report"  # the gate config's policy (metrics/claims.py)
    ancestors: Sequence[Ancestor] = ()  # up the model tree, with their licences
    allowed_uses: Sequence[str] = USES  # what the company may do (the gate config)
    scanner_allowlist: Sequence[str] = DEFAULT_SCANNER_ALLOWLIST  # vetted pickle imports
    licence_findings_fail: Sequence[str] = FAILING_FINDINGS  # licence findings that fail
    hub_reachable: bool = True  # False: metadata came from the cache (offline scoring)

    def store(self) -> SnapshotStore:
        """The snapshot store every stage reads model files from."""
        if self.snapshots is None:
            self.snapshots = SnapshotStore(Path(self.work_dir) / "snapshots")
        return self.snapshots


def _stored(prev: StoredMetric) -> ScoredMetric:
    details = dict(prev.details or {})
    reason = details.pop("reason", "")
    return ScoredMetric(
        prev.metric,
        prev.value,
        prev.latency_ms,
        prev.inputs_fingerprint,
        prev.code_version,
        reason,
        details or None,
        reused=True,
    )


def _timed(
    metric: str,
    fn: Callable[[], MetricResult],
    ctx: ScoringContext,
    known_inputs: object | None = None,
) -> ScoredMetric:
    version = code_version(metric)
    prev = ctx.previous.get(metric)
    if known_inputs is not None:
        fp = fingerprint(known_inputs)
        if prev and prev.inputs_fingerprint == fp and prev.code_version == version:
            return _stored(prev)
    started = time.perf_counter()
    result = fn()
    latency = round((time.perf_counter() - started) * 1000, 2)
    fp = fingerprint(known_inputs if known_inputs is not None else result.inputs)
    if prev and prev.inputs_fingerprint == fp and prev.code_version == version:
        return _stored(prev)
    return ScoredMetric(metric, result.value, latency, fp, version, result.reason, result.details)


WeightHeaders = tuple[dict | None, str]  # (HubClient.weight_headers data, why it is missing)


def read_weight_headers(client: HubClient | None, ev: ModelEvidence) -> WeightHeaders:
    """The revision's weight headers (range requests, cached by sha), or None with why:
    read once per scoring, for the footprint and the GGUF header check alike."""
    if client is None:
        return None, "no Hub access"
    try:
        return client.weight_headers(ev.model_id, ev.sha).data, "no readable weight headers"
    except (HubAssetsError, GatedRepoError, HfHubHTTPError) as e:
        return None, f"weight headers not read: {str(e).splitlines()[0][:200]}"


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
        return _stored(prev)

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


def reproducibility_inputs(ev: ModelEvidence, limits: ReproducibilityLimits) -> dict:
    task = ev.info.get("pipeline_tag") or ev.card_data.get("pipeline_tag")
    return {"revision": ev.sha, "task": task, "limits": limits.__dict__}


def footprint(
    ev: ModelEvidence, ctx: ScoringContext, read: WeightHeaders | None = None
) -> Footprint:
    """The revision's footprint from its weight headers (`read`, else read now); from the
    weight files' sizes when the headers cannot be had (offline, gated)."""
    headers, missing = read or read_weight_headers(ctx.client, ev)
    fp = revision_footprint(ev.weight_files(), ev.config, headers, missing)
    base = ev.adapter_base()
    if base and ctx.client is not None:
        try:
            meta = ctx.client.model_metadata(base).data
        except (HubAssetsError, GatedRepoError, HfHubHTTPError):
            return fp
        base_ev = ModelEvidence.from_metadata(base, meta)
        base_headers, base_missing = read_weight_headers(ctx.client, base_ev)
        base_fp = revision_footprint(
            base_ev.weight_files(), base_ev.config, base_headers, base_missing
        )
        fp = with_base(fp, base_fp, base)
    return fp


def score_model(ev: ModelEvidence, ctx: ScoringContext) -> dict[str, ScoredMetric]:
    """Every metric of `ALL_METRICS` for one model revision."""
    out: dict[str, ScoredMetric] = {}
    out["license"] = _timed("license", lambda: trust.license_score(ev), ctx)
    headers = read_weight_headers(ctx.client, ev)
    fp = footprint(ev, ctx, headers)
    out["size_score"] = _timed(
        "size_score",
        lambda: trust.size_score(fp, ctx.devices, ctx.target_device, ctx.context_length),
        ctx,
    )
    out["ramp_up_time"] = _timed("ramp_up_time", lambda: trust.ramp_up_time(ev), ctx)
    out["bus_factor"] = _timed("bus_factor", lambda: trust.bus_factor(ev, ctx.now), ctx)
    out["performance_claims"] = _timed(
        "performance_claims",
        lambda: claims.performance_claims(ev, ctx.measurements, ctx.contaminated_evidence),
        ctx,
    )
    out["dataset_and_code_score"] = _timed(
        "dataset_and_code_score", lambda: trust.dataset_and_code_score(ev), ctx
    )

    def datasets() -> MetricResult:
        cards = {}
        for name in ev.declared_datasets():
            got = ctx.client.dataset_summary(name) if ctx.client else None
            cards[name] = got.data if got else None
        return trust.dataset_quality(ev, cards)

    out["dataset_quality"] = _timed("dataset_quality", datasets, ctx)
    out["code_quality"] = _timed("code_quality", lambda: trust.code_quality(ev), ctx)

    out["security"] = judge_security(ev, ctx)
    if out["security"].value == 0.0:
        out["reproducibility"] = ScoredMetric(
            "reproducibility",
            0.0,
            0.0,
            fingerprint({"not run": ev.sha, "security": out["security"].inputs_fingerprint}),
            code_version("reproducibility"),
            "not run: the security verdict failed (a flagged model is never loaded)",
        )
    elif ctx.run_reproducibility and ctx.client is not None:
        out["reproducibility"] = _timed(
            "reproducibility",
            lambda: reproducibility(ctx.client, ev, ctx.store(), ctx.limits),
            ctx,
            known_inputs=reproducibility_inputs(ev, ctx.limits),
        )
    else:
        out["reproducibility"] = ScoredMetric(
            "reproducibility",
            0.0,
            0.0,
            fingerprint({"skipped": ev.sha}),
            code_version("reproducibility"),
            "not run (metadata-only scoring)",
        )
    out["licence_obligations"] = _timed(
        "licence_obligations",
        lambda: licence_obligations(
            ev.model_id,
            ev.license,
            ev.files,
            ctx.ancestors,
            ctx.allowed_uses,
            ctx.licence_findings_fail,
        ),
        ctx,
    )
    base = {m: out[m].value for m in GATE_METRICS}
    own = sum(NET_WEIGHTS[m] * base[m] for m in GATE_METRICS) / (1 - NET_WEIGHTS["tree_score"])
    out["tree_score"] = _timed(
        "tree_score",
        lambda: trust.tree_score(
            ctx.tree_parents or [(p, r) for p, r, _ in ev.tree_edges()],
            ctx.parent_net_scores,
            own,
        ),
        ctx,
    )
    started = time.perf_counter()
    net = trust.net_score({**base, "tree_score": out["tree_score"].value})
    out["net_score"] = ScoredMetric(
        "net_score",
        net.value,
        round(sum(s.latency_ms for s in out.values()) + (time.perf_counter() - started) * 1000, 2),
        fingerprint(net.inputs),
        code_version("net_score"),
        net.reason,
    )
    prev = ctx.previous.get("net_score")
    if (
        prev
        and prev.inputs_fingerprint == out["net_score"].inputs_fingerprint
        and (prev.code_version == out["net_score"].code_version)
    ):
        out["net_score"] = _stored(prev)
    return out


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
