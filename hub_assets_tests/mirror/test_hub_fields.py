"""The registry's judgment in the Hub's own fields, read with the unmodified
huggingface_hub client and compared with the registry's own rows."""

import json

import pytest
from huggingface_hub import EvalResultEntry, HfApi

from hub_assets.devhub.demo_cases import MINILM, QA_MODEL
from hub_assets_tests.mirror.conftest import sha_of

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]


def _registry_rows(registry, model_id: str, sha: str) -> tuple[dict, dict, list[tuple]]:
    with registry.read() as con:
        details = {
            metric: json.loads(d) if isinstance(d, str) else d
            for metric, d in con.execute(
                "SELECT metric, arg_max(details, created_at) FROM metric_values "
                "WHERE model_id = ? AND revision_sha = ? GROUP BY metric",
                [model_id, sha],
            ).fetchall()
        }
        runs = con.execute(
            "SELECT dataset_repo, arg_max(dataset_revision, created_at), "
            "arg_max(scores, created_at) FROM eval_runs WHERE model_id = ? AND revision_sha = ? "
            "GROUP BY task, dataset_repo",
            [model_id, sha],
        ).fetchall()
    return details["security"], details["licence_obligations"], runs


@pytest.mark.parametrize("model_id", [QA_MODEL, MINILM])
def test_security_eval_results_and_licence_chain_equal_the_registry(mirror, world, model_id):
    registry, _ = world
    sha = sha_of(registry, model_id)
    security, licence, runs = _registry_rows(registry, model_id, sha)
    api = HfApi(endpoint=mirror.url, token=False)

    status = api.model_info(model_id, securityStatus=True).security_repo_status
    assert status["scansDone"] is True and status["filesWithIssues"] == []  # approved
    shown = {f["path"]: f["scanners"] for f in status["files"]}
    rows = [*security["verdicts"], *security["format_checks"]]
    assert rows, "the registry scanned files of an approved model"
    for row in rows:
        path = row["path"].split(":", 1)[0]
        assert shown[path][row["scanner"]]["verdict"] == row["verdict"], row
    assert sum(len(s) for s in shown.values()) == len({(r["path"], r["scanner"]) for r in rows})

    info = api.model_info(model_id, expand=["evalResults", "cardData"])
    measured = {
        (dataset, metric, revision): value
        for dataset, revision, scores in runs
        for metric, value in (json.loads(scores) if isinstance(scores, str) else scores).items()
        if isinstance(value, int | float)
    }
    assert measured, "the registry measured the approved model"
    assert all(isinstance(e, EvalResultEntry) for e in info.eval_results)
    got = {(e.dataset_id, e.task_id, e.dataset_revision): e.value for e in info.eval_results}
    assert got.keys() == measured.keys()  # the measured scores only: no claim of the card
    for key, value in measured.items():
        assert got[key] == pytest.approx(value, abs=1e-6)
    assert all("measured by hub-assets" in e.notes for e in info.eval_results)
    assert all("contamination" in e.notes and "backend" in e.notes for e in info.eval_results)

    card = info.card_data
    assert card.license_chain == licence["chain"]
    assert card.license_obligations == licence["obligations"]
