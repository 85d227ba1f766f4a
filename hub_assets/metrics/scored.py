"""A scored metric and what scoring needs: its value with the inputs' fingerprint and the
code version, the scoring context, and reuse of a stored value whose inputs are unchanged."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from hub_assets import __version__
from hub_assets.errors import HubAssetsError
from hub_assets.evaluation.measurement import Measurement
from hub_assets.hardware.fit import DEFAULT_CONTEXT, DeviceProfile, load_devices
from hub_assets.hub.client import HubClient
from hub_assets.hub.snapshots import SnapshotStore
from hub_assets.metrics.evidence import ModelEvidence, StoredMetric
from hub_assets.metrics.licence_chain import FAILING_FINDINGS, USES, Ancestor
from hub_assets.metrics.reproducibility import ReproducibilityLimits
from hub_assets.metrics.security import DEFAULT_SCANNER_ALLOWLIST
from hub_assets.metrics.table import CODE_VERSIONS
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
    basis: dict | None = None  # what it rests on, when more than its code version

    def row(self) -> dict:
        return {
            "basis": self.basis,
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
    # the reproducibility run's bounds (the settings'); None: the model cannot be run here
    limits: ReproducibilityLimits | None = None
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


def reused_value(prev: StoredMetric) -> ScoredMetric:
    """A stored value, reused: its inputs and code version are unchanged."""
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
        basis=prev.basis,
    )


def timed(
    metric: str,
    fn: Callable[[], MetricResult],
    ctx: ScoringContext,
    known_inputs: object | None = None,
) -> ScoredMetric:
    """A metric computed and timed, or the stored value when its inputs (known before the
    work, or the result's own) and code version are unchanged."""
    version = code_version(metric)
    prev = ctx.previous.get(metric)
    if known_inputs is not None:
        fp = fingerprint(known_inputs)
        if prev and prev.inputs_fingerprint == fp and prev.code_version == version:
            return reused_value(prev)
    started = time.perf_counter()
    result = fn()
    latency = round((time.perf_counter() - started) * 1000, 2)
    fp = fingerprint(known_inputs if known_inputs is not None else result.inputs)
    if prev and prev.inputs_fingerprint == fp and prev.code_version == version:
        return reused_value(prev)
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
