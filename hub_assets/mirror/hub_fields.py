"""The registry's judgment in the Hub's own fields, so every Hub tool shows it with no
plugin: `securityRepoStatus` (each file's verdict per scanner), `evalResults` (the measured
scores in the Hub's eval-results shape, never the card's claims), and the card's
`base_model` with the licence chain."""

from __future__ import annotations

from collections.abc import Iterable

from hub_assets.registry.judgment import RevisionJudgment

# A scanner's verdict as the Hub's security levels name it.
LEVELS = {"dangerous": "danger", "suspicious": "warning"}
SOURCE_NAME = "hub-assets shadow evaluation"


def repo_file(scanned_path: str, files: Iterable[str]) -> str:
    """The repo file a scanner row names (`training_args.bin:archive/data.pkl`: a member
    of the archive `training_args.bin`)."""
    names = set(files)
    if scanned_path in names:
        return scanned_path
    head = scanned_path.split(":", 1)[0]
    return head if head in names else scanned_path


def security_repo_status(judgment: RevisionJudgment, files: Iterable[str]) -> dict:
    """`securityRepoStatus` from the registry's scanner rows: every file with each
    scanner's verdict, and the files with issues as the Hub lists them."""
    files = sorted(files)
    security = judgment.security
    if security is None:
        return {"scansDone": False, "filesWithIssues": [], "files": []}
    per_file: dict[str, dict[str, dict]] = {}
    issues: dict[str, dict] = {}
    for row in [*security.get("verdicts", []), *security.get("format_checks", [])]:
        path = repo_file(str(row.get("path", "")), files)
        verdict = str(row.get("verdict", ""))
        per_file.setdefault(path, {})[str(row.get("scanner", ""))] = {
            "verdict": verdict,
            "detail": str(row.get("detail", ""))[:200],
        }
        level = LEVELS.get(verdict)
        if level is not None:
            issue = issues.setdefault(path, {"path": path, "level": level, "pickleImports": []})
            if level == "danger":
                issue["level"] = "danger"
            for name in row.get("imports") or []:
                module, _, attr = str(name).rpartition(".")
                entry = {"module": module, "name": attr, "safety": verdict}
                if entry not in issue["pickleImports"]:
                    issue["pickleImports"].append(entry)
    return {
        "scansDone": True,
        "filesWithIssues": [issues[p] for p in sorted(issues)],
        "files": [{"path": p, "scanners": per_file[p]} for p in sorted(per_file)],
        "summary": security.get("reason", ""),
    }


def eval_results(judgment: RevisionJudgment, source_url: str | None) -> list[dict]:
    """The measured scores as the Hub's `evalResults` entries: one per (evaluation set,
    metric), with the dataset's pinned revision and, in `notes`, the interval, samples,
    backend and contamination flag."""
    out = []
    for e in judgment.evaluations:
        for metric, value in sorted(e.scores.items()):
            low_high = e.intervals.get(metric)
            interval = (
                f"95% CI [{low_high[0]:.4f}, {low_high[1]:.4f}]"
                if isinstance(low_high, list | tuple) and len(low_high) == 2
                else "no interval"
            )
            entry = {
                "dataset": {"id": e.dataset, "task_id": metric, "revision": e.dataset_revision},
                "value": round(value, 6),
                "date": e.evaluated_at.isoformat().replace("+00:00", "Z"),
                "notes": (
                    f"measured by hub-assets ({e.task}): {interval}, {e.samples} samples, "
                    f"backend {e.backend}, contamination {e.contamination}"
                ),
            }
            if source_url:
                entry["source"] = {"url": source_url, "name": SOURCE_NAME}
            out.append(entry)
    return out


def card_additions(judgment: RevisionJudgment) -> dict:
    """`base_model` and `base_model_relation` from the registry's model tree, and the
    licence chain with its obligations (shown beside the card's own keys, never over
    them)."""
    out: dict = {}
    if judgment.parents:
        parents = [p for p, _ in judgment.parents]
        out["base_model"] = parents[0] if len(parents) == 1 else parents
        out["base_model_relation"] = judgment.parents[0][1]
    if judgment.licence and judgment.licence.get("chain"):
        out["license_chain"] = judgment.licence["chain"]
        out["license_obligations"] = judgment.licence.get("obligations") or {}
    return out


def tree_tags(judgment: RevisionJudgment) -> list[str]:
    """The Hub's model-tree tags: `base_model:PARENT` and `base_model:RELATION:PARENT`."""
    tags = []
    for parent, relation in judgment.parents:
        tags += [f"base_model:{parent}", f"base_model:{relation}:{parent}"]
    return tags
