"""Shadow evaluations: pinned datasets, per-model scores, the leaderboard."""

import dagster as dg
import pandas as pd

from hub_assets.defs.conventions import (
    BATCHED,
    DAILY,
    OWNERS,
    ModelEvents,
    for_each_model,
    metered_client,
    retry_when_transient,
    tags,
)
from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.discovery.partitions import hf_models
from hub_assets.defs.evaluation.metadata import (
    CLAIMS_SCHEMA,
    LEADERBOARD_SCHEMA,
    SAMPLES_SCHEMA,
    api_metadata,
    regression_check,
    sets_table,
)
from hub_assets.defs.trust.security import security_scan
from hub_assets.evaluation.contamination import describe
from hub_assets.evaluation.measurement import METRIC_LABELS, PRIMARY
from hub_assets.metrics.scoring import fingerprint
from hub_assets.pipeline.samples import worst_samples
from hub_assets.progress import ProgressLines
from hub_assets.registry import evaluations as reg_eval
from hub_assets.registry.store import Registry
from hub_assets.resources import PipelineResource


@dg.asset(
    owners=OWNERS,
    tags=tags("evaluation"),
    group_name="evaluation",
    kinds={"huggingface", "parquet"},
    description="The QA and retrieval dataset repos at their pinned revisions, loaded with "
    "datasets.load_dataset through the Hub once and kept as Parquet (then offline).",
)
def eval_datasets(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    """Caches every pinned dataset and records its revision, fingerprint and row counts."""
    stages = pipeline.get()
    # the Hub first, then one short write: no registry lock is held during a download
    cached = [(pin, stages.cache_dataset(pin)) for pin in stages.pins]
    with stages.registry.write() as con:
        for pin, data in cached:
            reg_eval.record_dataset(
                con,
                repo_id=pin.repo_id,
                revision=pin.revision,
                task=pin.task,
                fingerprint=data.fingerprint,
                rows=data.rows,
                folder=str(data.folder),
                run_id=context.run_id,
            )
    rows = [
        dg.TableRecord(
            {
                "dataset": pin.repo_id,
                "revision": pin.revision[:12],
                "task": pin.task,
                "rows": sum(data.rows.values()),
                "splits": ", ".join(f"{k}: {v}" for k, v in data.rows.items()),
                "fingerprint": data.fingerprint[:12],
                "loaded": "now" if data.loaded_now else "cached",
            }
        )
        for pin, data in cached
    ]
    return dg.MaterializeResult(
        metadata={
            "datasets": dg.MetadataValue.table(records=rows, schema=DATASETS_SCHEMA),
            "rows_total": sum(r.data["rows"] for r in rows),
        }
    )


DATASETS_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("dataset", "string"),
        dg.TableColumn("revision", "string", description="the pinned commit"),
        dg.TableColumn("task", "string"),
        dg.TableColumn("rows", "int"),
        dg.TableColumn("splits", "string", description="rows per (config, split)"),
        dg.TableColumn("fingerprint", "string", description="sha256 of the Parquet files"),
        dg.TableColumn("loaded", "string", description="now, or from the cache"),
    ]
)


@dg.asset(
    owners=OWNERS,
    tags=tags("evaluation"),
    freshness_policy=DAILY,
    partitions_def=hf_models,
    deps=[model_metadata, security_scan, eval_datasets],
    group_name="evaluation",
    kinds={"pytorch", "duckdb"},
    pool="model_runs",
    backfill_policy=BATCHED,
    check_specs=[
        dg.AssetCheckSpec(
            name="no_significant_regression",
            asset="shadow_eval_scores",
            partitions_def=hf_models,
            blocking=False,
            description="Against the model's previous evaluation on the same samples "
            "(McNemar's exact test for exact match, a paired bootstrap for the others, "
            "Holm-adjusted across the task's metrics): warns when one dropped significantly; "
            "no verdict with fewer paired samples than HUB_ASSETS_REGRESSION_MIN_SAMPLES.",
        )
    ],
    description="The model's task run on the pinned dataset (QA for generators, retrieval "
    "for encoders): eval_runs, per-sample eval_samples, aggregate metric_values with lineage.",
)
def shadow_eval_scores(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> ModelEvents:
    """Evaluates the current revision unless an identical evaluation is cached: locally, or
    through the inference API for a model over the local limit (or configured for it)."""
    stages = pipeline.get()

    def one(model_id: str) -> dg.MaterializeResult:
        with (
            retry_when_transient(),
            metered_client(context, stages, "shadow_evaluation", model_id) as client,
        ):
            outcomes = stages.evaluate(
                client, model_id, context.run_id, ProgressLines(context.log.info)
            )
        measured = [o for o in outcomes if o.measurement is not None]
        if not measured:
            reasons = "; ".join(dict.fromkeys(o.reason for o in outcomes))
            return _not_evaluated(context, model_id, reasons, outcomes[0].api)
        for o in outcomes:
            where = o.pin.repo_id if o.pin else "-"
            flag = o.measurement.flag if o.measurement else ""
            context.log.info(f"{model_id} on {where}: {o.status} {flag}: {o.reason}")
        compared = [o for o in outcomes if o.comparison is not None and o.comparison.compared]
        findings = [f"{o.pin.repo_id}: {f}" for o in compared for f in o.comparison.findings]
        for f in findings:
            context.log.warning(f"{model_id}: {f}")
        # the headline: the task's first set measured (the one shadow_<metric> names); the
        # evaluation_sets table has every set
        outcome = measured[0]
        measurement, pin, claims = outcome.measurement, outcome.pin, outcome.claims
        primary = PRIMARY[measurement.task][0]
        worst = worst_samples(stages.registry, model_id, stages.eval_cache_dir, WORST_SHOWN)
        interval = measurement.interval(primary) or (0.0, 0.0)
        chance = measurement.chance(primary)
        return dg.MaterializeResult(
            metadata={
                "outcome": outcome.status,
                "backend": outcome.backend,
                "coverage": dg.MetadataValue.float(round(float(outcome.coverage), 3)),
                **api_metadata(outcome.api),
                "eval_run_id": measurement.eval_run_id,
                "dataset": f"{pin.repo_id}@{pin.revision[:12]}",
                "contamination": describe(measurement.contamination),
                "evaluation_sets": sets_table(outcomes),
                "cache_key": outcome.key,
                # plottable across runs in the UI: the primary metric under its own name
                **{
                    k: dg.MetadataValue.float(round(float(v), 3))
                    for k, v in measurement.scores.items()
                },
                "primary_metric": primary,
                "ci_low": round(float(interval[0]), 3),
                "ci_high": round(float(interval[1]), 3),
                "chance": round(float(chance), 3) if chance is not None else -1.0,
                "above_chance": measurement.above_chance(),
                "measured": measurement.describe(primary),
                "regression": "; ".join(
                    f"{o.pin.repo_id}: "
                    + (o.comparison.summary() if o.comparison else "no earlier evaluation")
                    for o in measured
                ),
                "worst_samples": dg.MetadataValue.table(
                    records=[
                        dg.TableRecord(
                            {
                                "sample": r.sample_id,
                                "input": r.input,
                                "reference": r.reference,
                                "prediction": r.prediction,
                                "score": r.score,
                            }
                        )
                        for r in worst.rows
                    ],
                    schema=SAMPLES_SCHEMA,
                ),
                "claimed_vs_measured": dg.MetadataValue.table(
                    records=[
                        dg.TableRecord(
                            {
                                "metric": METRIC_LABELS.get(c["metric"], c["metric"]),
                                "claimed": round(c["claimed"], 3),
                                "measured": round(c["measured"], 3),
                                "ci_low": c["interval"][0],
                                "ci_high": c["interval"][1],
                                "verdict": "contradicted" if c["contradicted"] else "consistent",
                            }
                        )
                        for c in claims
                    ],
                    schema=CLAIMS_SCHEMA,
                ),
            },
            # nothing compared (no earlier evaluation, or too few shared samples): no verdict
            check_results=[regression_check(compared, findings)] if compared else [],
        )

    yield from for_each_model(context, one)


WORST_SHOWN = 10  # samples in the evaluation's table; `hub-assets samples` shows any number


def _not_evaluated(
    context: dg.AssetExecutionContext, model_id: str, reason: str, api: dict | None = None
) -> dg.MaterializeResult:
    """A model this machine cannot evaluate, or the API answered too little of: no
    measurement, so its gate judges the card."""
    context.log.info(f"{model_id}: {reason}")
    metadata: dict = {
        "outcome": reason if reason.startswith("not ") else f"not evaluated: {reason}"
    }
    if api:
        metadata |= {
            "coverage": dg.MetadataValue.float(float(api.get("coverage", 0.0))),
            **api_metadata(api),
        }
    # nothing measured, nothing compared: the regression check gives no verdict
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    owners=OWNERS,
    tags=tags("evaluation"),
    deps=[shadow_eval_scores],
    group_name="evaluation",
    kinds={"duckdb"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Every evaluated model's latest shadow scores, net score and gate outcome, "
    "ranked only against scores with the same comparability key (registry view "
    "v_leaderboard_ranked).",
)
def leaderboard(pipeline: PipelineResource) -> dg.MaterializeResult:
    """Reads the leaderboard (with a chance row per task) and shows it as a table."""
    frame = leaderboard_frame(pipeline.get().registry)
    records = [
        dg.TableRecord(
            {k: None if _missing(v) else int(v) if k == "rank" else v for k, v in row.items()}
        )
        for row in frame.to_dict(orient="records")
    ]
    return dg.MaterializeResult(
        metadata={
            "models": int(
                frame.loc[~frame["model_id"].str.startswith("(chance"), "model_id"].nunique()
            ),
            "leaderboard": dg.MetadataValue.table(records=records, schema=LEADERBOARD_SCHEMA),
            "inputs_fingerprint": fingerprint(frame.to_dict(orient="records")),
        }
    )


def _missing(value: object) -> bool:
    """A cell pandas marks missing (None, NaN, NA), for the table's None."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def leaderboard_frame(reg: Registry):  # noqa: ANN201 - a pandas DataFrame
    """The leaderboard, best first within each task, chance rows included."""
    reg.ensure_schema()
    with reg.read() as con:
        return reg_eval.leaderboard(con)
