"""The security verdict per model partition: the first judgment, before anything loads."""

import dagster as dg

from hub_assets.defs.conventions import (
    BATCHED,
    OWNERS,
    ModelEvents,
    for_each_model,
    metered_client,
    retry_when_transient,
    tags,
)
from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.progress import ProgressLines
from hub_assets.resources import PipelineResource

VERDICTS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("file", "string"),
        dg.TableColumn(
            "engine",
            "string",
            description="picklescan, fickling, modelscan, or a header/format check",
        ),
        dg.TableColumn("verdict", "string", description="safe, suspicious, dangerous, error"),
        dg.TableColumn("detail", "string"),
    ]
)


@dg.asset(
    owners=OWNERS,
    tags=tags("trust"),
    partitions_def=hf_models,
    deps=[model_metadata],
    group_name="trust",
    kinds={"python", "duckdb"},
    pool="model_runs",
    backfill_policy=BATCHED,
    description="The security verdict of the model's current revision, made on its whole "
    "verified snapshot before any stage loads it: every file classified by content, every "
    "pickle read by three engines, weight headers, remote code in any config, chat "
    "templates, secrets (docs/security.md). A flagged model is never loaded, evaluated or "
    "run; a failing verdict is a verdict, not a failed run.",
)
def security_scan(context: dg.AssetExecutionContext, pipeline: PipelineResource) -> ModelEvents:
    """Judges the revision's security; unchanged inputs are not scanned again."""
    stages = pipeline.get()

    def one(model_id: str) -> dg.MaterializeResult:
        with (
            retry_when_transient(),
            metered_client(context, stages, "security", model_id) as client,
        ):
            judged = stages.judge_security(
                client, model_id, context.run_id, ProgressLines(context.log.info)
            )
        verdict = judged.verdict
        (context.log.info if judged.cleared else context.log.warning)(
            f"{model_id}@{judged.sha[:12]}: security {verdict.value:.2f} ({verdict.reason})"
            + (" [unchanged]" if verdict.reused else "")
        )
        details = verdict.details or {}
        rows = [
            dg.TableRecord(
                {
                    "file": v["path"],
                    "engine": v["scanner"],
                    "verdict": v["verdict"],
                    "detail": v["detail"][:200],
                }
            )
            for v in [*details.get("verdicts", []), *details.get("format_checks", [])]
        ]
        return dg.MaterializeResult(
            metadata={
                "revision_sha": judged.sha,
                "cleared": judged.cleared,
                "security": dg.MetadataValue.float(float(verdict.value)),
                "verdict": verdict.reason,
                "rescanned": not verdict.reused,
                "remote_code": dg.MetadataValue.json(details.get("remote_code", [])),
                "engines": dg.MetadataValue.table(records=rows, schema=VERDICTS_SCHEMA),
            }
        )

    yield from for_each_model(context, one)
