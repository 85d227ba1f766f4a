"""Trust metrics of a model's current revision, scored with the registry's evidence and
recorded with lineage: the per-model pipeline's scoring stage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hub_assets.comparability import basis_key
from hub_assets.errors import HubAssetsError
from hub_assets.evaluation.datasets import DatasetPin
from hub_assets.evaluation.shadow import dataset_task_for
from hub_assets.hardware.fit import fit_record
from hub_assets.hub.client import HubClient
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.licence_chain import ancestors_of
from hub_assets.metrics.scoring import ScoredMetric, ScoringContext, judge_security, score_model
from hub_assets.registry import evaluations as reg_eval
from hub_assets.registry import hardware as reg_hardware
from hub_assets.registry import metrics as reg_metrics
from hub_assets.registry import tree as reg_tree
from hub_assets.registry.models import record_evaluated, save_revision
from hub_assets.registry.store import Registry
from hub_assets.registry.tree import ancestry, missing_ancestors


@dataclass
class ScoredRevision:
    """Every metric of the revision (new values and unchanged ones reused) and its fit."""

    sha: str
    scored: dict[str, ScoredMetric]
    fresh: list[ScoredMetric]  # the values computed now (the others' inputs were unchanged)
    fit: dict


def score_revision(
    client: HubClient,
    registry: Registry,
    model_id: str,
    run_id: str,
    *,
    pins: Sequence[DatasetPin],
    scoring_context: Callable[..., ScoringContext],
    revision: tuple[str, dict] | None = None,
    record: bool = True,
) -> ScoredRevision:
    """Score the current revision and record the new values, the hardware fit and the
    `evaluated` status in one write. The evidence comes from the registry: previous values
    (unchanged inputs are reused, nothing re-run), model-tree parents and ancestors, and the
    revision's shadow-evaluation measurements (one per pinned set of its task).
    `scoring_context(client, **evidence)` adds the deployment's settings (the trust
    resource's).

    `hub-assets score` calls this too, so it gives the pipeline's values: with `revision`
    (sha, metadata) for a revision the Hub has now, and `record=False` (no metric, fit or
    status is written; the ancestors read on the way are kept, as the pipeline keeps them)."""
    if revision is None:
        with registry.read() as con:
            revision = reg_metrics.require_current_revision(con, model_id)
    sha, metadata = revision
    ev = ModelEvidence.from_metadata(model_id, metadata)
    task = dataset_task_for(ev.info.get("pipeline_tag"))
    with registry.read() as con:
        previous = reg_metrics.revision_metrics(con, model_id, sha)
        tree_parents = reg_tree.parents(con, model_id)
        parents = reg_metrics.current_net_scores(con, [p for p, _ in tree_parents])
        measurements = reg_eval.revision_measurements(
            con, model_id, sha, [p for p in pins if p.task == task]
        )
    fetch_ancestry(client, registry, model_id, run_id)
    with registry.read() as con:
        ancestors = ancestors_of(ancestry(con, model_id))
    scored = score_model(
        ev,
        scoring_context(
            client,
            parent_net_scores=parents,
            tree_parents=tree_parents,
            previous=previous,
            measurements=measurements,
            ancestors=ancestors,
        ),
    )
    fresh = [s for s in scored.values() if not s.reused]
    size, repro = scored["size_score"], scored["reproducibility"]
    fit = fit_record(size.details or {}, (repro.details or {}).get("measurement"))
    if not record:
        return ScoredRevision(sha, scored, fresh, fit)
    with registry.write() as con:
        reg_metrics.write_metrics(con, model_id, sha, [s.row() for s in fresh], run_id)
        reg_hardware.record_fit(
            con, model_id, sha, fit, size.inputs_fingerprint, size.code_version, run_id
        )
        if fresh:
            record_evaluated(
                con,
                model_id,
                sha,
                run_id=run_id,
                reason=f"trust metrics scored ({len(fresh)} new value(s))",
            )
    return ScoredRevision(sha, scored, fresh, fit)


@dataclass
class SecurityVerdict:
    """The revision judged and its security verdict (reused when its inputs are unchanged)."""

    sha: str
    verdict: ScoredMetric

    @property
    def cleared(self) -> bool:
        """Whether the revision may be loaded (the verdict passed)."""
        return self.verdict.value > 0


def judge_revision_security(
    client: HubClient,
    registry: Registry,
    model_id: str,
    run_id: str,
    *,
    scoring_context: Callable[..., ScoringContext],
) -> SecurityVerdict:
    """Judge the current revision's security on its verified snapshot before any stage
    loads it, and record the verdict (a `security` metric value with its evidence) in one
    short write: the stage every loading stage waits for."""
    with registry.read() as con:
        sha, metadata = reg_metrics.require_current_revision(con, model_id)
        previous = reg_metrics.revision_metrics(con, model_id, sha)
    ev = ModelEvidence.from_metadata(model_id, metadata)
    verdict = judge_security(ev, scoring_context(client, previous=previous))
    if not verdict.reused:
        with registry.write() as con:
            reg_metrics.write_metrics(con, model_id, sha, [verdict.row()], run_id)
            if verdict.basis:  # the scanners it was made under are in use from now
                reg_metrics.note_scanner_key(con, basis_key(verdict.basis), verdict.basis)
    return SecurityVerdict(sha, verdict)


def fetch_ancestry(
    client: HubClient, registry: Registry, model_id: str, run_id: str, rounds: int = 8
) -> None:
    """Read the metadata of every ancestor the registry does not know yet (their edges
    then reveal the next generation), so the ancestry query sees the whole chain. An
    ancestor that cannot be read stays unknown (a finding, never a crash)."""
    tried: set[str] = set()
    for _ in range(rounds):
        with registry.read() as con:
            todo = [m for m in missing_ancestors(con, model_id) if m not in tried]
        if not todo:
            return
        for parent in todo:
            tried.add(parent)
            try:
                fetched = client.model_metadata(parent)
            except (HubAssetsError, ValueError):
                continue
            with registry.write() as con:
                save_revision(
                    con,
                    parent,
                    fetched.data,
                    from_cache=fetched.from_cache,
                    fetched_at=fetched.fetched_at,
                    run_id=run_id,
                )
