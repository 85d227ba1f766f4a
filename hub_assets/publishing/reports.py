"""What the registry publishes to a Hub organisation, and the one way it pushes: evaluation
reports (a dataset repo, one Parquet file per shadow-evaluation run, a card with the
leaderboard and the dataset pins) and registry cards (a private model repo per approved
model: measured results, the gate's outcome and evidence, lineage, the package).

Files are compared with what the repo holds (git blob id, or sha256 for LFS files) and only
changed ones are committed, so publishing the same facts again changes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from huggingface_hub import (
    CommitOperationAdd,
    DatasetCard,
    DatasetCardData,
    EvalResult,
    HfApi,
    ModelCard,
    ModelCardData,
)
from huggingface_hub.hf_api import RepoFile

from hub_assets.hub_protocol.repos import git_blob_sha1
from hub_assets.registry.approved import ApprovedPackage
from hub_assets.registry.evaluations import leaderboard, report_runs, report_samples
from hub_assets.registry.metrics import latest_gate_result, revision_metrics

EVALS_REPO = "hub-assets-evals"


@dataclass(frozen=True)
class Published:
    """One repo's publication: the files that changed (none: nothing was committed)."""

    repo_id: str
    changed: list[str]
    commit_sha: str | None


def sync_files(
    api: HfApi,
    repo_id: str,
    repo_type: str,
    files: dict[str, bytes],
    *,
    private: bool,
    message: str,
) -> Published:
    """Create the repo if needed and commit the files whose bytes differ from the repo's."""
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    remote = {
        e.path: e
        for e in api.list_repo_tree(repo_id, repo_type=repo_type, recursive=True)
        if isinstance(e, RepoFile)
    }
    changed = []
    for path, data in sorted(files.items()):
        entry = remote.get(path)
        if entry is not None:
            if entry.lfs is not None and entry.lfs.sha256 == hashlib.sha256(data).hexdigest():
                continue
            if entry.lfs is None and entry.blob_id == git_blob_sha1(io.BytesIO(data), len(data)):
                continue
        changed.append(path)
    if not changed:
        return Published(repo_id, [], None)
    commit = api.create_commit(
        repo_id,
        [CommitOperationAdd(p, files[p]) for p in changed],
        repo_type=repo_type,
        commit_message=message,
    )
    return Published(repo_id, changed, commit.oid)


def _parquet(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf, compression="zstd")
    return buf.getvalue()


def _markdown(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        cells = ["" if pd.isna(v) else str(v) for v in row]  # None, NaN, NA → empty
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def eval_report_files(con: duckdb.DuckDBPyConnection) -> dict[str, bytes]:
    """`runs/<eval run>.parquet` per run (one row per sample, a column per score) and the
    dataset card: the leaderboard and the dataset pins."""
    runs = report_runs(con)
    files: dict[str, bytes] = {}
    for run in runs:
        rows = []
        for s in report_samples(con, run["eval_run_id"]):
            scores = json.loads(s.pop("scores"))
            rows.append(
                {
                    "eval_run_id": run["eval_run_id"],
                    "model_id": run["model_id"],
                    "revision_sha": run["revision_sha"],
                    "task": run["task"],
                    "dataset_repo": run["dataset_repo"],
                    "dataset_revision": run["dataset_revision"],
                    **s,
                    **{f"score_{k}": float(v) for k, v in sorted(scores.items())},
                }
            )
        files[f"runs/{run['eval_run_id']}.parquet"] = _parquet(rows)
    pins = sorted(
        {
            (r["task"], r["dataset_repo"], r["dataset_revision"], r["dataset_fingerprint"])
            for r in runs
        }
    )
    data = DatasetCardData(
        license="other",
        tags=["hub-assets", "evaluation", "shadow-evaluation"],
        configs=[{"config_name": "default", "data_files": "runs/*.parquet"}],
        pretty_name="hub-assets shadow evaluations",
    )
    text = (
        f"---\n{data.to_yaml()}\n---\n\n# Shadow evaluations\n\n"
        f"{len(runs)} runs of the registry's shadow evaluations, one Parquet file each "
        "(`runs/<eval run id>.parquet`): one row per sample with its prediction, its scores "
        "(`score_*`) and the hashes of its prompt, reference and generation config.\n\n"
        "## Leaderboard\n\n" + _markdown(leaderboard(con)) + "\n\n## Dataset pins\n\n"
        "| task | dataset | revision | fingerprint |\n|---|---|---|---|\n"
        + "\n".join(f"| {t} | {d} | `{rev}` | `{fp[:16]}` |" for t, d, rev, fp in pins)
        + "\n"
    )
    files["README.md"] = str(DatasetCard(text)).encode()
    return files


def registry_card_name(model_id: str) -> str:
    """The repo name of a model's registry card: `{name}-registry-card`."""
    return f"{model_id.split('/')[-1]}-registry-card"


def registry_card(con: duckdb.DuckDBPyConnection, package: ApprovedPackage) -> str:
    """A card of what the registry knows about an approved revision: measured results as
    `model-index`, the gate outcome with its evidence, lineage and the package."""
    model_id, sha = package.model_id, package.revision_sha
    runs = [r for r in report_runs(con) if r["model_id"] == model_id and r["revision_sha"] == sha]
    latest = {(r["task"], r["dataset_repo"]): r for r in runs}  # oldest first: last wins
    results = [
        EvalResult(
            task_type=task,
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_revision=run["dataset_revision"],
            metric_type=name,
            metric_value=round(float(value), 4),
        )
        for (task, dataset), run in sorted(latest.items())
        for name, value in sorted(json.loads(run["scores"]).items())
    ]
    gate = latest_gate_result(con, model_id, sha) or {}
    metrics = revision_metrics(con, model_id, sha)
    manifest = package.manifest
    parents = (manifest.get("lineage") or {}).get("base_models") or []
    data = ModelCardData(
        license=manifest.get("license"),
        base_model=parents or None,
        tags=["hub-assets", "registry-card"],
        model_name=model_id,
        eval_results=results or None,
    )
    failed = gate.get("failed_metrics") or []
    lineage = "Fine-tuned from " + ", ".join(parents) if parents else "No base model declared."
    evidence = "\n".join(
        f"| {m.metric} | {m.value:.3f} | `{m.code_version}` | `{m.inputs_fingerprint}` |"
        for m in sorted(metrics.values(), key=lambda m: m.metric)
        if m.value is not None
    )
    text = (
        f"---\n{data.to_yaml()}\n---\n\n# {model_id} in the registry\n\n"
        f"Revision `{sha}` of [{model_id}]({manifest.get('source', '')}/{model_id}).\n\n"
        f"## Quality gate\n\n**{'Passed' if gate.get('passed') else 'Not passed'}** "
        f"(config {gate.get('config_version')}): {gate.get('message', 'no decision')}\n\n"
        + (f"Failed checks: {json.dumps(failed)}\n\n" if failed else "")
        + "## Evidence\n\n| metric | value | code version | inputs fingerprint |\n"
        "|---|---:|---|---|\n" + evidence + "\n\n"
        f"## Lineage\n\n{lineage}\n\n"
        f"## Package\n\n{package.name} {package.version}: `{package.uri}` (sha256 "
        f"`{package.sha256}`, {package.size_bytes:,} bytes).\n"
    )
    return str(ModelCard(text))
