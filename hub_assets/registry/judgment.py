"""The registry's judgment of one revision as the mirror shows it in the Hub's own fields:
each file's verdict per scanner, the measured evaluations, the licence chain and the model
tree's parents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from hub_assets.registry.evidence import json_value


@dataclass(frozen=True)
class MeasuredEvaluation:
    """The latest shadow evaluation of a revision on one (task, dataset)."""

    task: str
    dataset: str
    dataset_revision: str
    scores: dict[str, float]
    intervals: dict[str, list[float]]
    samples: int
    backend: str
    contamination: str
    evaluated_at: datetime


@dataclass(frozen=True)
class RevisionJudgment:
    """What the registry holds on one revision, for the mirror's Hub fields."""

    security: dict | None  # the security metric's details (verdicts, format checks), or None
    licence: dict | None  # the licence-obligations metric's details (chain, obligations)
    evaluations: list[MeasuredEvaluation] = field(default_factory=list)
    parents: list[tuple[str, str]] = field(default_factory=list)  # (parent, relation)


def revision_judgment(con: duckdb.DuckDBPyConnection, model_id: str, sha: str) -> RevisionJudgment:
    """The latest security and licence details, evaluations and tree parents of a revision."""
    details = dict(
        con.execute(
            "SELECT metric, arg_max(details, created_at) FROM metric_values "
            "WHERE model_id = ? AND revision_sha = ? AND metric IN ('security', "
            "'licence_obligations') GROUP BY metric",
            [model_id, sha],
        ).fetchall()
    )
    runs = con.execute(
        "SELECT task, dataset_repo, arg_max(dataset_revision, created_at), "
        "arg_max(scores, created_at), arg_max(intervals, created_at), "
        "arg_max(samples, created_at), arg_max(backend, created_at), "
        "arg_max_null(contamination, created_at), max(created_at) FROM eval_runs "
        "WHERE model_id = ? AND revision_sha = ? GROUP BY task, dataset_repo "
        "ORDER BY task, dataset_repo",
        [model_id, sha],
    ).fetchall()
    parents = con.execute(
        "SELECT parent, relation FROM model_tree_edges WHERE child = ? ORDER BY parent",
        [model_id],
    ).fetchall()
    return RevisionJudgment(
        security=json_value(details["security"]) if details.get("security") else None,
        licence=json_value(details["licence_obligations"])
        if details.get("licence_obligations")
        else None,
        evaluations=[
            MeasuredEvaluation(
                task=task,
                dataset=dataset,
                dataset_revision=revision,
                scores={
                    k: float(v)
                    for k, v in (json_value(scores) or {}).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                },
                intervals=dict(json_value(intervals) or {}),
                samples=int(samples),
                backend=backend or "local",
                contamination=(json_value(contamination) or {}).get("flag", "not_checked"),
                evaluated_at=at,
            )
            for task, dataset, revision, scores, intervals, samples, backend, contamination, at in (
                runs
            )
        ],
        parents=[(p, r) for p, r in parents],
    )
