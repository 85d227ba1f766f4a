"""Publishing to a Hub organisation: evaluation reports after shadow evaluations, and a
registry card per approved model. Active only with HUB_ASSETS_PUBLISH_ORG and a token with
the write role; otherwise each materialization says why it published nothing."""

import dagster as dg

from hub_assets.defs.conventions import OWNERS, tags
from hub_assets.defs.evaluation.assets import leaderboard
from hub_assets.defs.ingest.assets import ingested_package
from hub_assets.errors import PushForbiddenError, PushUnauthorizedError, plain_message
from hub_assets.pipeline.context import Pipeline
from hub_assets.publishing.push import check_can_write
from hub_assets.publishing.reports import (
    EVALS_REPO,
    eval_report_files,
    registry_card,
    registry_card_name,
    sync_files,
)
from hub_assets.registry.approved import approved_packages
from hub_assets.resources import PipelineResource


def _why_not(stages: Pipeline):  # noqa: ANN202 - (api, reason)
    """The HfApi to publish with, or the reason nothing can be published."""
    if not stages.settings.publish_org:
        return None, "HUB_ASSETS_PUBLISH_ORG is not set: nothing is published."
    if stages.offline:
        return None, "HF_HUB_OFFLINE is set: nothing is published."
    api = stages.client().api
    try:
        check_can_write(api)
    except (PushUnauthorizedError, PushForbiddenError) as e:
        return None, f"No write token, so nothing is published: {plain_message(str(e))}"
    return api, ""


def _skipped(context: dg.AssetExecutionContext, reason: str) -> dg.MaterializeResult:
    context.log.info(reason)
    return dg.MaterializeResult(metadata={"published": False, "reason": reason})


@dg.asset(
    owners=OWNERS,
    tags=tags("publishing"),
    deps=[leaderboard],
    group_name="publishing",
    kinds={"huggingface", "parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description="Shadow-evaluation runs (one Parquet file each, per-sample rows and scores) "
    "and a card with the leaderboard and the dataset pins, in the dataset repo "
    "{org}/hub-assets-evals.",
)
def published_eval_reports(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    """Publish what changed since the last time (nothing, when nothing did)."""
    stages = pipeline.get()
    api, reason = _why_not(stages)
    if api is None:
        return _skipped(context, reason)
    with stages.registry.read() as con:
        files = eval_report_files(con)
    repo_id = f"{stages.settings.publish_org}/{EVALS_REPO}"
    done = sync_files(
        api, repo_id, "dataset", files, private=True, message="Shadow evaluations (hub-assets)"
    )
    return dg.MaterializeResult(
        metadata={
            "published": True,
            "repo": dg.MetadataValue.url(f"{api.endpoint}/datasets/{repo_id}"),
            "runs": len(files) - 1,
            "files_changed": len(done.changed),
            "commit": done.commit_sha or "none (unchanged)",
        }
    )


@dg.asset(
    owners=OWNERS,
    tags=tags("publishing"),
    deps=[ingested_package],
    group_name="publishing",
    kinds={"huggingface"},
    description="A private {org}/{name}-registry-card repo per approved model: measured "
    "results (model-index), the gate's outcome and evidence, lineage and the package.",
)
def published_model_cards(
    context: dg.AssetExecutionContext, pipeline: PipelineResource
) -> dg.MaterializeResult:
    """Publish the card of every approved model whose card changed."""
    stages = pipeline.get()
    api, reason = _why_not(stages)
    if api is None:
        return _skipped(context, reason)
    rows = []
    with stages.registry.read() as con:
        cards = {
            p.model_id: registry_card(con, p)
            for p in approved_packages(con, require_promoted=False).values()
        }
    for model_id, card in sorted(cards.items()):
        repo_id = f"{stages.settings.publish_org}/{registry_card_name(model_id)}"
        done = sync_files(
            api,
            repo_id,
            "model",
            {"README.md": card.encode()},
            private=True,
            message=f"Registry card of {model_id} (hub-assets)",
        )
        rows.append(
            dg.TableRecord({"model_id": model_id, "repo": repo_id, "changed": bool(done.changed)})
        )
    return dg.MaterializeResult(
        metadata={
            "published": True,
            "cards": len(rows),
            "changed": sum(1 for r in rows if r.data["changed"]),
            "repos": dg.MetadataValue.table(
                records=rows,
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn("model_id", "string"),
                        dg.TableColumn("repo", "string"),
                        dg.TableColumn("changed", "bool"),
                    ]
                ),
            ),
        }
    )
