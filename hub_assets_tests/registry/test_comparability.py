"""Comparability keys: every evaluation run, metric value and gate result records what it
rests on, and scores with different keys are never ranked together or paired (the SQL
invariant below holds on the leaderboard, the ranked view and the regression pairing);
rows from before keys existed get a legacy key from their stored inputs."""

import itertools
import json
import random
import subprocess
import sys

import dagster as dg
import duckdb

from hub_assets.cli.registry import leaderboard_text
from hub_assets.comparability import basis_key, digest, is_legacy
from hub_assets.defs.evaluation.assets import leaderboard
from hub_assets.evaluation.measurement import evaluation_key
from hub_assets.gate.config import load_gate_config
from hub_assets.metrics.security_judgment import scanner_basis
from hub_assets.registry import evaluations as reg_eval
from hub_assets.registry.metrics import write_metrics
from hub_assets.registry.migrations import migrate
from hub_assets.registry.models import now
from hub_assets.settings import load_settings
from hub_assets_tests.conftest import record_pass
from hub_assets_tests.pipeline_resource import pipeline_resources

QA_SET = "org/squad-mini"
# every input a score rests on, each with two values
VARIANTS = {
    "dataset_revision": ("r1", "r2"),
    "dataset_fingerprint": ("f1", "f2"),
    "scorer_version": ("1", "2"),
    "backend": ("local", "inference_api"),
    "generation_config": ({"max_new_tokens": 32}, {"max_new_tokens": 64}),
}

# The invariant: within one rank group of the ranked leaderboard, every row's run has the
# same stored inputs (read from eval_runs' own columns, not from the key).
MIXED_GROUPS = """
SELECT l.task, l.dataset, l.basis_key
FROM v_leaderboard_ranked l JOIN eval_runs e ON e.eval_run_id = l.eval_run_id
GROUP BY l.task, l.dataset, l.basis_key
HAVING count(DISTINCT (e.dataset_revision, e.dataset_fingerprint, e.scorer_version,
                       coalesce(e.backend, 'local'), CAST(e.generation_config AS VARCHAR))) > 1
"""


def _sample(i: int, f1: float) -> dict:
    return {
        "sample_id": f"s{i}",
        "prediction": "x",
        "scores": {"f1": f1, "exact_match": f1},
        "prompt_hash": "p",
        "reference_hash": "r",
        "generation_config_hash": "g",
        "error": None,
    }


def _evaluated(con, model: str, n: int, score: float, **inputs) -> str:
    """A current model `model` evaluated on the QA set with `inputs` (defaults: each
    variant's first value); returns the run's id."""
    parts = {name: values[0] for name, values in VARIANTS.items()} | inputs
    sha = digest(model)[:20] * 2
    con.execute(
        "INSERT OR REPLACE INTO models (model_id, sha, first_seen, last_seen) VALUES (?, ?, ?, ?)",
        [model, sha, now(), now()],
    )
    run = f"{model}#{n}"
    reg_eval.write_eval_run(
        con,
        eval_run_id=run,
        key=f"cache-{run}",
        model_id=model,
        sha=sha,
        task="qa",
        dataset_repo=QA_SET,
        samples=[_sample(i, score) for i in range(5)],
        scores={"f1": score, "exact_match": score},
        claims=[],
        duration_s=1.0,
        run_id="r",
        intervals={"f1": [score - 0.05, score + 0.05]},
        baseline={"name": "empty", "scores": {"f1": 0.1}},
        **parts,
    )
    return run


def test_scores_with_different_keys_are_never_ranked_together(registry, tmp_path, monkeypatch):
    registry.ensure_schema()
    rng = random.Random(7)
    combos = list(itertools.product(*VARIANTS.values()))
    with registry.write() as con:
        for i in range(60):  # 60 models over 32 bases: most bases hold several models
            combo = dict(zip(VARIANTS, rng.choice(combos), strict=True))
            _evaluated(con, f"org/m{i}", 0, round(rng.random(), 3), **combo)
    with registry.read() as con:
        assert con.execute(MIXED_GROUPS).fetchall() == []
        ranked = con.execute(
            "SELECT basis_key, rank, score FROM v_leaderboard_ranked ORDER BY basis_key, rank"
        ).fetchall()
        keys = {
            r[0]: json.loads(r[1])
            for r in con.execute("SELECT basis_key, basis FROM eval_runs").fetchall()
        }
        board = reg_eval.leaderboard(con)
    # each group is ranked 1.. by its own scores; a key is the digest of its basis
    for key, rows in itertools.groupby(ranked, key=lambda r: r[0]):
        rows = list(rows)
        assert rows[0][1] == 1
        assert [r[2] for r in rows] == sorted((r[2] for r in rows), reverse=True)
        assert basis_key(keys[key]) == key
    assert len(keys) > 10  # the data really has many bases
    models = board[~board["model_id"].str.startswith("(chance")]
    assert len(models) == 60
    assert models.groupby("comparable")["rank"].min().eq(1).all()

    # as users see it: the CLI's table and the Dagster asset's (chance rows have no rank)
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    text = leaderboard_text(load_settings())
    header, first = text.splitlines()[:2]
    assert header.split()[:5] == ["task", "model_id", "dataset", "comparable", "rank"]
    assert first.split()[4] == "1"
    shown = dg.materialize([leaderboard], resources=pipeline_resources(None, registry, tmp_path))
    table = shown.asset_materializations_for_node("leaderboard")[0].metadata["leaderboard"]
    ranks = {r.data["model_id"].startswith("(chance"): r.data["rank"] for r in table.value.records}
    assert ranks[True] is None and isinstance(ranks[False], int)


def test_the_key_changes_with_every_input_and_only_them():
    base = {name: values[0] for name, values in VARIANTS.items()}
    first = evaluation_key(task="qa", dataset_repo=QA_SET, **base)
    assert evaluation_key(task="qa", dataset_repo=QA_SET, **dict(base)) == first
    for name, values in VARIANTS.items():
        other = evaluation_key(task="qa", dataset_repo=QA_SET, **(base | {name: values[1]}))
        assert other != first, name
    # a gate config's key names every rule: one threshold moved is another key
    gate = load_gate_config()
    moved = type(gate)(**{**gate.__dict__, "thresholds": {**gate.thresholds, "license": 0.99}})
    assert basis_key(gate.basis()) == basis_key(load_gate_config().basis())
    assert basis_key(moved.basis()) != basis_key(gate.basis())


def test_a_regression_is_measured_only_against_a_comparable_run(registry):
    registry.ensure_schema()
    with registry.write() as con:
        _evaluated(con, "org/a", 0, 0.9)
        _evaluated(con, "org/a", 1, 0.2, scorer_version="2")  # newer, another scorer
    same = evaluation_key(task="qa", dataset_repo=QA_SET, **{n: v[0] for n, v in VARIANTS.items()})
    bumped = evaluation_key(
        task="qa",
        dataset_repo=QA_SET,
        **({n: v[0] for n, v in VARIANTS.items()} | {"scorer_version": "2"}),
    )
    with registry.read() as con:
        paired = reg_eval.previous_samples(con, "org/a", same, "cache-new")
        other = reg_eval.previous_samples(con, "org/a", bumped, "cache-new")
        unseen = reg_eval.previous_samples(
            con,
            "org/a",
            evaluation_key(
                task="qa", dataset_repo="org/other", **{n: v[0] for n, v in VARIANTS.items()}
            ),
            "cache-new",
        )
    assert {s["scores"]["f1"] for s in paired} == {0.9}  # not the newer, incomparable run
    assert {s["scores"]["f1"] for s in other} == {0.2}
    assert unseen == []


def test_metric_values_and_gate_results_record_their_basis(registry):
    registry.ensure_schema()
    gate = load_gate_config()
    with registry.write() as con:
        write_metrics(
            con,
            "org/a",
            "a" * 40,
            [
                {
                    "metric": "security",
                    "value": 1.0,
                    "latency_ms": 1.0,
                    "inputs_fingerprint": "f",
                    "code_version": "security/v9",
                    "details": {},
                    "basis": {"kind": "security", "scanners": {"picklescan": "1.0"}},
                },
                {
                    "metric": "license",
                    "value": 1.0,
                    "latency_ms": 1.0,
                    "inputs_fingerprint": "f",
                    "code_version": "license/v3",
                    "details": {},
                },
            ],
            "r",
        )
        record_pass(con, "org/a", "a" * 40)
        rows = dict(con.execute("SELECT metric, basis_key FROM metric_values").fetchall())
        gate_key = con.execute("SELECT basis_key FROM v_gate").fetchone()[0]
    assert rows["security"] == basis_key({"kind": "security", "scanners": {"picklescan": "1.0"}})
    assert rows["license"] == basis_key({"metric": "license", "code": "license/v3"})
    assert gate_key == basis_key(gate.basis())


def test_rows_from_before_keys_get_a_legacy_key_of_their_inputs(tmp_path):
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    migrate(con, 21)
    for run, revision in (("e1", "r1"), ("e2", "r1"), ("e3", "r2")):
        con.execute(
            "INSERT INTO eval_runs (eval_run_id, cache_key, model_id, revision_sha, task, "
            "dataset_repo, dataset_revision, dataset_fingerprint, generation_config, "
            "scorer_version, scores, claims, samples, failed_samples, run_id, created_at) "
            "VALUES (?, ?, 'org/a', 's', 'qa', ?, ?, 'f', '{}', '1', '{}', '[]', 1, 0, 'r', now())",
            [run, run, QA_SET, revision],
        )
    con.execute(
        "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, message, "
        "thresholds, config_version, target_device, run_id, created_at) "
        "VALUES ('org/a', 's', true, '[]', 'ok', '{}', '2024.1', 'cpu', 'r', now())"
    )
    assert migrate(con, 22) == [22]
    keys = dict(con.execute("SELECT eval_run_id, basis_key FROM eval_runs").fetchall())
    assert keys["e1"] == keys["e2"] != keys["e3"]
    assert all(is_legacy(k) for k in keys.values())
    assert is_legacy(con.execute("SELECT basis_key FROM v_gate").fetchone()[0])
    assert not is_legacy(basis_key(load_gate_config().basis()))


def test_the_scanner_key_is_the_same_in_every_process():
    """The engines' rule tables hold objects (ModelScan's settings are keyed by them): the
    key spells them without memory addresses, so every process computes the same one."""
    code = (
        "from hub_assets.comparability import basis_key\n"
        "from hub_assets.metrics.security_judgment import scanner_basis\n"
        "print(basis_key(scanner_basis(['a.b'])))"
    )
    keys = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            stdin=subprocess.DEVNULL,
        ).stdout.strip()
        for _ in range(2)
    ]
    assert keys[0] == keys[1] == basis_key(scanner_basis(["a.b"]))
    assert basis_key(scanner_basis(["a.c"])) != keys[0]
