"""Re-judging in Dagster: a sensor sees approved verdicts made under another gate config
(after `hub-assets gate apply`) and starts a run that judges them again from stored
scores; a revision that fails now is revoked."""

import dagster as dg

from hub_assets.defs.conventions import OWNERS, lane, tags
from hub_assets.errors import HubAssetsError
from hub_assets.pipeline.rejudge import rejudge_stale, stale_approvals
from hub_assets.resources import PipelineResource


@dg.asset(
    owners=OWNERS,
    group_name="trust",
    tags=tags("trust"),
    kinds={"duckdb"},
    pool="registry",
    description="Approved revisions judged again under the current gate config, from their "
    "stored scores (nothing is measured or downloaded); one that fails now is revoked, and "
    "the mirror serves the model's last revision that still passes.",
)
def rejudged_verdicts(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    """Re-judge every stale approved verdict and show what was revoked."""
    stages = pipeline.get()
    config = stages.gate_config()
    done = rejudge_stale(stages.registry, config, context.run_id)
    for model_id, sha, why in done.revoked:
        context.log.warning(f"Revoked {model_id}@{sha[:12]}: {why}")
    rows = "\n".join(f"| {m} | `{s[:12]}` | {why[:200]} |" for m, s, why in done.revoked[:200])
    return dg.MaterializeResult(
        metadata={
            "gate_version": config.version,
            "judged": done.judged,
            "still_passing": done.still_passing,
            "revoked": len(done.revoked),
            "seconds": round(done.elapsed_s, 2),
            "revocations": dg.MetadataValue.md(
                "| model | revision | why |\n|---|---|---|\n" + rows
                if rows
                else "Nothing was revoked."
            ),
        }
    )


rejudge_job = dg.define_asset_job(
    "rejudge_job",
    selection=dg.AssetSelection.assets(rejudged_verdicts),
    description="Judge the approved revisions again under the current gate config.",
    tags=lane("evaluation"),
)


@dg.sensor(
    job=rejudge_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a re-judging run when approved verdicts were made under another "
    "gate config than the current one (after `hub-assets gate apply`).",
)
def stale_verdicts_sensor(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> dg.RunRequest | dg.SkipReason:
    """One run per gate version and set of stale verdicts (the run key)."""
    stages = pipeline.get()
    try:
        config = stages.gate_config()
        stale = stale_approvals(stages.registry, config)
    except HubAssetsError as e:
        return dg.SkipReason(str(e))
    if not stale:
        return dg.SkipReason(f"Every approved verdict was made under gate {config.version}.")
    versions = ", ".join(sorted({v or "unknown" for _, _, v in stale}))
    context.log.info(
        f"{len(stale)} approved verdicts made under gate {versions} are stale under "
        f"{config.version}: judging them again."
    )
    return dg.RunRequest(
        run_key=f"rejudge-{config.version}-{len(stale)}-{stale[-1][1][:12]}",
        tags={"hub_assets/gate_version": config.version},
    )
