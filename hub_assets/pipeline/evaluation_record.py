"""What one shadow evaluation writes to the registry: the run with its samples and its
contamination verdict, the `shadow_*` metric values with their lineage, and the
`evaluated` status event, in one transaction."""

from __future__ import annotations

from dataclasses import asdict

from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.comparison import Comparison
from hub_assets.evaluation.datasets import DatasetPin
from hub_assets.evaluation.measurement import SCORER_VERSION, Measurement
from hub_assets.evaluation.shadow import ShadowResult
from hub_assets.registry import evaluations as reg_eval
from hub_assets.registry.metrics import write_metrics
from hub_assets.registry.models import record_evaluated
from hub_assets.registry.store import Registry


def record_evaluation(
    registry: Registry,
    model_id: str,
    sha: str,
    suffix: str,
    pin: DatasetPin,
    fingerprint: str,
    key: str,
    config: GenerationConfig,
    result: ShadowResult,
    measurement: Measurement,
    claims: list[dict],
    run_id: str,
    comparison: Comparison | None = None,
) -> None:
    """Record one evaluation in one write: the run, its samples and its comparison with
    the previous comparable run, its `shadow_*` values (named `shadow_<score><suffix>`)
    with lineage, and the status event."""
    eval_run_id = measurement.eval_run_id
    lineage = {
        "dataset": pin.repo_id,
        "dataset_revision": pin.revision,
        "dataset_fingerprint": fingerprint,
        "eval_run_id": eval_run_id,
    }
    with registry.write() as con:
        reg_eval.write_eval_run(
            con,
            eval_run_id=eval_run_id,
            key=key,
            model_id=model_id,
            sha=sha,
            task=pin.task,
            dataset_repo=pin.repo_id,
            dataset_revision=pin.revision,
            dataset_fingerprint=fingerprint,
            generation_config=asdict(config),
            scorer_version=SCORER_VERSION,
            scores=result.scores,
            claims=claims,
            samples=result.samples,
            duration_s=result.duration_s,
            run_id=run_id,
            intervals=result.intervals,
            baseline=result.baseline,
            backend=result.backend,
            coverage=result.coverage,
            api_stats=result.api,
            contamination=measurement.contamination,
            regression=comparison.record() if comparison is not None else None,
        )
        write_metrics(
            con,
            model_id,
            sha,
            [
                {
                    "metric": f"shadow_{name}{suffix}",
                    "value": value,
                    "latency_ms": round(result.duration_s * 1000, 2),
                    "inputs_fingerprint": key,
                    "code_version": f"scorers/v{SCORER_VERSION}",
                    "details": {
                        **lineage,
                        "samples": len(result.samples),
                        "failed_samples": result.failed_samples,
                        "interval": result.intervals.get(name),
                        "chance": result.baseline["scores"].get(name),
                        "baseline": result.baseline["name"],
                        "backend": result.backend,
                        "coverage": round(result.coverage, 4),
                        "contamination": measurement.flag,
                    },
                }
                for name, value in result.scores.items()
            ],
            run_id,
        )
        record_evaluated(
            con,
            model_id,
            sha,
            run_id=run_id,
            reason=f"shadow evaluation on {pin.repo_id}: "
            + ", ".join(f"{k}={v:.3f}" for k, v in result.scores.items()),
        )
