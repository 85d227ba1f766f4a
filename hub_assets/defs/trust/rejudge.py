"""Re-judging in Dagster: a sensor sees approved verdicts that rest on something changed
(a security verdict made under other scanners, rule sets or allowlist; a gate result made
under another gate config, after `hub-assets gate apply`) and starts a run that makes them
again without the Hub; a revision that fails now is revoked."""

import dagster as dg

from hub_assets.defs.conventions import OWNERS, lane, tags
from hub_assets.errors import HubAssetsError
from hub_assets.pipeline.rejudge import (
    note_scanners,
    rejudge_stale,
    rescan_stale,
    stale_approvals,
    stale_scan_approvals,
)
from hub_assets.resources import PipelineResource


@dg.asset(
    owners=OWNERS,
    group_name="trust",
    tags=tags("trust"),
    kinds={"duckdb"},
    pool="registry",
    description="Approved revisions judged again when what their verdict rests on changed: "
    "a security verdict made under other scanners, rule sets or allowlist is made again on "
    "the kept verified snapshot, a gate result made under another config is decided again "
    "from the stored scores (nothing is downloaded, no model runs); one that fails now is "
    "revoked, and the mirror serves the model's last revision that still passes.",
)
def rejudged_verdicts(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    """Re-scan every stale security verdict, re-judge every stale gate verdict, and show
    what was revoked and what waits for the Hub."""
    stages = pipeline.get()
    config = stages.gate_config()
    scanned = rescan_stale(stages.registry, stages.snapshots(), config, context.run_id)
    done = rejudge_stale(stages.registry, config, context.run_id)
    revoked = scanned.revoked + done.revoked
    for model_id, sha, why in revoked:
        context.log.warning(f"Revoked {model_id}@{sha[:12]}: {why}")
    for model_id, sha, why in scanned.waiting:
        context.log.info(f"Not re-scanned {model_id}@{sha[:12]}: {why}")
    rows = "\n".join(f"| {m} | `{s[:12]}` | {why[:200]} |" for m, s, why in revoked[:200])
    waiting = "\n".join(f"| {m} | `{s[:12]}` | {why[:200]} |" for m, s, why in scanned.waiting)
    return dg.MaterializeResult(
        metadata={
            "gate_version": config.version,
            "scanner_key": scanned.scanner_key,
            "rescanned": scanned.rescanned,
            "judged": done.judged,
            "still_passing": done.still_passing + scanned.still_passing,
            "revoked": len(revoked),
            "waiting_for_the_hub": len(scanned.waiting),
            "seconds": round(done.elapsed_s + scanned.elapsed_s, 2),
            "revocations": dg.MetadataValue.md(
                "| model | revision | why |\n|---|---|---|\n" + rows
                if rows
                else "Nothing was revoked."
            ),
            "waiting": dg.MetadataValue.md(
                "| model | revision | why |\n|---|---|---|\n" + waiting
                if waiting
                else "Every stale verdict was made again."
            ),
        }
    )


rejudge_job = dg.define_asset_job(
    "rejudge_job",
    selection=dg.AssetSelection.assets(rejudged_verdicts, "model_health"),
    description="Judge the approved revisions again (a new gate config, new scanners), then "
    "every model's health.",
    tags=lane("evaluation"),
)


@dg.sensor(
    job=rejudge_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a re-judging run when approved verdicts rest on something changed: "
    "security verdicts made under other scanners, rule sets or allowlist, or gate results "
    "made under another gate config (after `hub-assets gate apply`).",
)
def stale_verdicts_sensor(
    context: dg.SensorEvaluationContext, pipeline: PipelineResource
) -> dg.RunRequest | dg.SkipReason:
    """One run per gate version, scanner key and set of stale verdicts (the run key)."""
    stages = pipeline.get()
    try:
        config = stages.gate_config()
        key = note_scanners(stages.registry, config)  # the grace period counts from here
        stale = stale_approvals(stages.registry, config)
        scans = stale_scan_approvals(stages.registry, config)
    except HubAssetsError as e:
        return dg.SkipReason(str(e))
    if not stale and not scans:
        return dg.SkipReason(
            f"Every approved verdict was made under gate {config.version} and the installed "
            "scanners."
        )
    if stale:
        versions = ", ".join(sorted({v or "unknown" for _, _, v in stale}))
        context.log.info(
            f"{len(stale)} approved verdicts made under gate {versions} are stale under "
            f"{config.version}: judging them again."
        )
    if scans:
        context.log.info(
            f"{len(scans)} approved security verdicts were made under other scanners, rule "
            "sets or allowlist: scanning them again."
        )
    last = (stale or scans)[-1][1][:12]
    return dg.RunRequest(
        run_key=f"rejudge-{config.version}-{key[:12]}-{len(stale)}-{len(scans)}-{last}",
        tags={"hub_assets/gate_version": config.version, "hub_assets/scanner_key": key},
    )
