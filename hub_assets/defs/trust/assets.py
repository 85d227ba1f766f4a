"""Trust metrics and the quality gate, per model partition."""

import dagster as dg

from hub_assets.defs import SETTINGS
from hub_assets.defs.conventions import (
    BATCHED,
    OWNERS,
    VERDICT_TAG,
    ModelEvents,
    for_each_model,
    metered_client,
    retry_when_transient,
    tags,
)
from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.defs.evaluation.assets import shadow_eval_scores
from hub_assets.defs.evaluation.metadata import CLAIMS_SCHEMA
from hub_assets.defs.trust.health import MODEL_HEALTH_CHECK, health_check
from hub_assets.defs.trust.security import VERDICTS_SCHEMA
from hub_assets.gate.evidence import GateEvidence
from hub_assets.hardware.fit import fit_summary
from hub_assets.metrics.table import DISPLAY_NAMES, GATE_METRICS
from hub_assets.pipeline.health import HealthPolicy, health_report
from hub_assets.progress import ProgressLines
from hub_assets.registry.evaluations import evaluation_dagster_run
from hub_assets.registry.packages import revision_package
from hub_assets.resources import PipelineResource
from hub_assets.states import Verdict

DEVICE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("device", "string", description="a profile of hardware/devices.yaml"),
        dg.TableColumn("size_score", "float", description="1: fits easily, 0: does not fit"),
    ]
)
METRICS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("metric", "string"),
        dg.TableColumn("value", "float", description="0-1"),
        dg.TableColumn("latency_ms", "float"),
        dg.TableColumn("reason", "string"),
        dg.TableColumn("rescored", "bool", description="false: inputs unchanged, value kept"),
    ]
)


def fit_markdown(row: dict) -> str:
    """The hardware fit as a two-column Markdown table for the asset's metadata."""
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in fit_summary(row)]
    return "\n".join(lines)


@dg.asset(
    owners=OWNERS,
    tags=tags("trust"),
    partitions_def=hf_models,
    deps=[model_metadata, shadow_eval_scores],
    group_name="trust",
    kinds={"python", "duckdb"},
    pool="model_runs",
    backfill_policy=BATCHED,
    description="Trust metrics of the model's current revision, each in [0, 1] with its "
    "latency, written to metric_values with lineage (docs/metrics.md). Performance is "
    "judged on the shadow evaluation's measurement where the task has one.",
)
def trust_metrics(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> ModelEvents:
    """Scores the revision; unchanged inputs are not rescored (nothing is re-run)."""
    stages = pipeline.get()

    def one(model_id: str) -> dg.MaterializeResult:
        with (
            retry_when_transient(),
            metered_client(context, stages, "trust", model_id) as client,
        ):
            revision = stages.score(
                client, model_id, context.run_id, ProgressLines(context.log.info)
            )
        sha, scored, fresh, fit = revision.sha, revision.scored, revision.fresh, revision.fit
        # one line per model: each log line is an event the instance stores
        context.log.info(
            f"{model_id}: "
            + "; ".join(
                f"{s.metric}={s.value:.3f} ({s.reason})" + (" [unchanged]" if s.reused else "")
                for s in scored.values()
            )
        )
        return dg.MaterializeResult(
            metadata={
                "revision_sha": sha,
                "rescored": len(fresh),
                "unchanged": len(scored) - len(fresh),
                "size_score_per_device": dg.MetadataValue.table(
                    records=[
                        dg.TableRecord({"device": d, "size_score": round(float(v), 2)})
                        for d, v in fit["fit_per_device"].items()
                    ],
                    schema=DEVICE_SCHEMA,
                ),
                "hardware_fit": dg.MetadataValue.md(fit_markdown(fit)),
                "metrics": dg.MetadataValue.table(
                    records=[
                        dg.TableRecord(
                            {
                                "metric": s.metric,
                                "value": round(float(s.value), 3),
                                "latency_ms": round(float(s.latency_ms), 1),
                                "reason": s.reason,
                                "rescored": not s.reused,
                            }
                        )
                        for s in scored.values()
                    ],
                    schema=METRICS_SCHEMA,
                ),
                **{m: dg.MetadataValue.float(round(float(s.value), 3)) for m, s in scored.items()},
            }
        )

    yield from for_each_model(context, one)


EVIDENCE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("metric", "string"),
        dg.TableColumn("score", "float", description="0-1, two decimals; empty: not scored"),
        dg.TableColumn("threshold", "float"),
        dg.TableColumn("verdict", "string", description="pass or fail"),
        dg.TableColumn("why", "string", description="the measured evidence or the reason"),
    ]
)


def evidence_metadata(evidence: GateEvidence, links: dict[str, str]) -> dict:
    """The gate's evidence page for one model: the verdict, every metric judged, claimed vs
    measured with the interval, the licence chain, each scanned file, links to the rest."""
    measured = []
    if evidence.measurement:
        m = evidence.measurement
        measured.append(
            {
                "metric": f"{m['metric']} (on {m['dataset']}, {m['samples']} samples)",
                "claimed": None,
                "measured": m["measured"],
                "ci_low": m["ci_low"],
                "ci_high": m["ci_high"],
                "verdict": f"chance {m['chance']}; {m['contamination']}",
            }
        )
    # the other evaluation sets, each with its contamination flag and role
    measured += [
        {
            "metric": f"{e['measured']} on {e['dataset']}",
            "claimed": None,
            "measured": None,
            "ci_low": None,
            "ci_high": None,
            "verdict": f"{e['contamination']}: {e['role']}",
        }
        for e in evidence.evaluation_sets
        if e["role"] != "evidence"
    ]
    measured += [{**c, "metric": f"{c['metric']} (claimed in the card)"} for c in evidence.claims]
    return {
        "verdict": evidence.verdict,
        "passed": evidence.passed,
        "evidence": dg.MetadataValue.table(
            records=[
                dg.TableRecord(
                    {
                        "metric": r.display,
                        "score": r.score,
                        "threshold": r.threshold,
                        "verdict": "pass" if r.passed else "fail",
                        "why": r.why[:300],
                    }
                )
                for r in evidence.metrics
            ],
            schema=EVIDENCE_SCHEMA,
        ),
        "claimed_vs_measured": dg.MetadataValue.table(
            records=[dg.TableRecord(row) for row in measured], schema=CLAIMS_SCHEMA
        ),
        "licence_chain": evidence.licence_chain or "not scored",
        "scanned_files": dg.MetadataValue.table(
            records=[
                dg.TableRecord(
                    {
                        "file": f["file"],
                        "engine": f["scanner"],
                        "verdict": f["verdict"],
                        "detail": f["detail"],
                    }
                )
                for f in evidence.scanned_files
            ],
            schema=VERDICTS_SCHEMA,
        ),
        **{name: dg.MetadataValue.url(url) for name, url in links.items()},
    }


def evidence_links(model_id: str, eval_run: str | None, package_id: str | None) -> dict:
    """Where the rest of the evidence is: the evaluation's Dagster run (a link within the
    UI), the worst samples, the package and its proof on the registry service."""
    service = SETTINGS.service_url.rstrip("/")
    links = {"worst_samples": f"{service}/models/{model_id}/samples"}
    if eval_run:
        links["evaluation_run"] = f"/runs/{eval_run}"
    if package_id:
        links["package"] = f"{service}/packages/{package_id}"
        links["proof"] = f"{service}/packages/{package_id}/bundle"
    return links


@dg.asset(
    owners=OWNERS,
    tags=tags("trust"),
    partitions_def=hf_models,
    deps=[trust_metrics],
    group_name="trust",
    kinds={"duckdb"},
    pool="registry",
    backfill_policy=BATCHED,
    check_specs=[
        dg.AssetCheckSpec(
            name=f"{metric}_meets_threshold",
            asset="quality_gate",
            partitions_def=hf_models,
            description=f"{DISPLAY_NAMES[metric]} of the model's current revision meets its "
            "gate threshold (judged per model; a model failing any check is not packaged).",
        )
        for metric in GATE_METRICS
    ]
    + [
        dg.AssetCheckSpec(
            name=MODEL_HEALTH_CHECK,
            asset="quality_gate",
            partitions_def=hf_models,
            description="The model's health (ok, stale, at_risk, revoked) with its reason: "
            "evaluated when it is gated, and hourly by the model_health sweep.",
        )
    ],
    description="The quality gate: every gate metric against its threshold (versioned config, "
    "per-model overrides). Records gate_results and gate_passed / gate_failed; each model's "
    "page shows its verdict and the evidence. A rejection is a verdict, not a failed run.",
)
def quality_gate(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> ModelEvents:
    """Decides pass or fail for the current revision and shows why."""
    verdicts: dict[str, int] = {}
    stages = pipeline.get()

    def one(model_id: str) -> dg.MaterializeResult:
        config = stages.gate_config()
        reg = stages.registry
        gated = stages.gate(model_id, context.run_id, config)
        sha, decision, evidence = gated.sha, gated.decision, gated.evidence
        verdicts[evidence.verdict] = verdicts.get(evidence.verdict, 0) + 1
        (context.log.info if decision.passed else context.log.warning)(
            f"{model_id}: {evidence.verdict}. {decision.message}"
        )
        with reg.read() as con:
            eval_run = evaluation_dagster_run(con, evidence.eval_run_id)
            package = revision_package(con, model_id, sha)
        checks = [
            dg.AssetCheckResult(
                check_name=f"{row.metric}_meets_threshold",
                passed=row.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=f"{row.display}: "
                + ("not scored" if row.score is None else f"{row.score:.2f}")
                + f" {'≥' if row.passed else '<'} {row.threshold:.2f}. {row.why[:300]}",
                metadata={
                    "score": row.score if row.score is not None else -1.0,
                    "threshold": row.threshold,
                    "why": row.why[:1000],
                },
            )
            for row in evidence.metrics
        ]
        policy = HealthPolicy.of(stages.settings)
        checks += [health_check(h) for h in health_report(reg, config, policy, model_id)]
        return dg.MaterializeResult(
            metadata={
                **evidence_metadata(
                    evidence,
                    evidence_links(model_id, eval_run, package.package_id if package else None),
                ),
                "message": decision.message,
                "revision_sha": sha,
                "config_version": config.version,
                "target_device": config.target_device,
            },
            check_results=checks,
        )

    yield from for_each_model(context, one)
    if context.has_partition_key:
        verdict = Verdict.PASSED if verdicts.get(Verdict.PASSED) else Verdict.FAILED
        context.instance.add_run_tags(context.run_id, {VERDICT_TAG: verdict.value})
