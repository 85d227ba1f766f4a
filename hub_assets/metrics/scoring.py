"""Score one model revision: every trust metric, timed, fingerprinted, reused when unchanged.

A metric whose inputs fingerprint and code version match a value already stored for the
same revision is not recomputed (for reproducibility and security, whose inputs are known
before the work, nothing is downloaded or run either). The scored value and the context
are in `metrics/scored.py`, the security verdict in `metrics/security_judgment.py`.
"""

from __future__ import annotations

import time

from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from hub_assets.errors import HubAssetsError
from hub_assets.hardware.footprint import Footprint, revision_footprint, with_base
from hub_assets.metrics import claims, trust
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.licence_chain import licence_obligations
from hub_assets.metrics.reproducibility import ReproducibilityLimits, reproducibility
from hub_assets.metrics.scored import (  # noqa: F401 - re-exported: scoring's one import
    ScoredMetric,
    ScoringContext,
    WeightHeaders,
    code_version,
    fingerprint,
    read_weight_headers,
    reused_value,
    timed,
)
from hub_assets.metrics.security_judgment import (  # noqa: F401 - re-exported
    cleared_snapshot,
    judge_security,
)
from hub_assets.metrics.table import (  # noqa: F401 - GATE_METRICS, ALL_METRICS re-exported
    ALL_METRICS,
    CODE_VERSIONS,
    GATE_METRICS,
    NET_WEIGHTS,
)
from hub_assets.metrics.trust import MetricResult


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
    out["license"] = timed("license", lambda: trust.license_score(ev), ctx)
    headers = read_weight_headers(ctx.client, ev)
    fp = footprint(ev, ctx, headers)
    out["size_score"] = timed(
        "size_score",
        lambda: trust.size_score(fp, ctx.devices, ctx.target_device, ctx.context_length),
        ctx,
    )
    out["ramp_up_time"] = timed("ramp_up_time", lambda: trust.ramp_up_time(ev), ctx)
    out["bus_factor"] = timed("bus_factor", lambda: trust.bus_factor(ev, ctx.now), ctx)
    out["performance_claims"] = timed(
        "performance_claims",
        lambda: claims.performance_claims(ev, ctx.measurements, ctx.contaminated_evidence),
        ctx,
    )
    out["dataset_and_code_score"] = timed(
        "dataset_and_code_score", lambda: trust.dataset_and_code_score(ev), ctx
    )

    def datasets() -> MetricResult:
        cards = {}
        for name in ev.declared_datasets():
            got = ctx.client.dataset_summary(name) if ctx.client else None
            cards[name] = got.data if got else None
        return trust.dataset_quality(ev, cards)

    out["dataset_quality"] = timed("dataset_quality", datasets, ctx)
    out["code_quality"] = timed("code_quality", lambda: trust.code_quality(ev), ctx)

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
        if ctx.limits is None:
            raise ValueError(
                "A reproducibility run needs its limits: pass ScoringContext(limits=...) "
                "(Pipeline.scoring_context passes the settings')."
            )
        limits = ctx.limits
        out["reproducibility"] = timed(
            "reproducibility",
            lambda: reproducibility(ctx.client, ev, ctx.store(), limits),
            ctx,
            known_inputs=reproducibility_inputs(ev, limits),
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
    out["licence_obligations"] = timed(
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
    out["tree_score"] = timed(
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
        out["net_score"] = reused_value(prev)
    return out
