"""Each judged model's health, from the registry alone: every case with its reason, the
counts, and the CLI."""

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.evaluation.datasets import DEFAULT_PINS
from hub_assets.evaluation.measurement import SCORER_VERSION
from hub_assets.gate.config import load_gate_config
from hub_assets.metrics.scanners import SCANNERS as ENGINES
from hub_assets.pipeline.rejudge import scanner_key
from hub_assets.registry.health import health_counts, model_health
from hub_assets.registry.models import append_status

GATE = load_gate_config().version
SCANNERS = scanner_key(load_gate_config())  # the key of a security verdict made now
QA_PIN = next(p for p in DEFAULT_PINS if p.task == "qa")  # pinned by default
NOW = datetime.now(UTC)


def _approved(con, model, sha, *, version=GATE, at=NOW, upstream=None, gated=None):
    """A model whose revision `sha` passed under `version` at `at` and is packaged; the Hub's
    main is `upstream` (default: that sha)."""
    con.execute(
        "INSERT INTO models (model_id, sha, gated, first_seen, last_seen) VALUES (?, ?, ?, ?, ?)",
        [model, upstream or sha, gated, at, at],
    )
    con.execute(
        "INSERT INTO gate_results (model_id, revision_sha, passed, failed_metrics, message, "
        "thresholds, config_version, target_device, run_id, created_at) "
        "VALUES (?, ?, true, '[]', 'ok', '{}', ?, 'jetson_nano', 'r', ?)",
        [model, sha, version, at],
    )
    con.execute(
        "INSERT INTO packages (package_id, name, version, model_id, revision_sha, uri, "
        "size_bytes, sha256, manifest, model_card, run_id, created_at) "
        "VALUES (?, ?, '1.0.0', ?, ?, '/p.zip', 1, 'x', '{}', '', 'r', ?)",
        [model, model.replace("/", "-"), model, sha, at],
    )


def test_every_health_with_its_reason(registry, tmp_path, monkeypatch):
    registry.ensure_schema()
    with registry.write() as con:
        _approved(con, "acme/ok", "a" * 40)
        _approved(con, "acme/old-gate", "b" * 40, version="2020.1")
        _approved(con, "acme/old-evidence", "c" * 40, at=NOW - timedelta(days=30))
        _approved(con, "acme/moved", "d" * 40, upstream="e" * 40)
        _approved(con, "acme/gated", "f" * 40, gated="manual")
        _approved(con, "acme/gated-always", "2" * 40, gated="auto")
        con.execute(  # judged while gated already: not a change
            "INSERT INTO model_revisions (model_id, revision_sha, info, fetched_at, run_id) "
            "VALUES ('acme/gated-always', ?, '{\"gated\": \"auto\"}', now(), 'r')",
            ["2" * 40],
        )
        _approved(con, "acme/old-scanners", "3" * 40)
        for model, sha, key in (("acme/old-scanners", "3", "scan-A"), ("acme/ok", "a", SCANNERS)):
            con.execute(
                "INSERT INTO metric_values (model_id, revision_sha, metric, value, run_id, "
                "created_at, basis_key) VALUES (?, ?, 'security', 1.0, 'r', ?, ?)",
                [model, sha * 40, NOW, key],
            )
        _approved(con, "acme/old-scorer", "4" * 40)
        con.execute(
            "INSERT INTO eval_runs (eval_run_id, cache_key, model_id, revision_sha, task, "
            "dataset_repo, dataset_revision, dataset_fingerprint, generation_config, "
            "scorer_version, scores, claims, samples, failed_samples, run_id, created_at) "
            "VALUES ('e1', 'k', 'acme/old-scorer', ?, 'qa', ?, ?, 'f', '{}', '0', '{}', "
            "'[]', 1, 0, 'r', ?)",
            ["4" * 40, QA_PIN.repo_id, QA_PIN.revision, NOW],
        )
        _approved(con, "acme/two-engines", "6" * 40)  # scanned before ModelScan was added
        con.execute(
            "INSERT INTO metric_values (model_id, revision_sha, metric, value, run_id, "
            "created_at, basis, basis_key) VALUES ('acme/two-engines', ?, 'security', 1.0, "
            "'r', ?, ?, 'old')",
            [
                "6" * 40,
                NOW,
                json.dumps({"scanners": {"picklescan": {"version": "1"}, "fickling": {}}}),
            ],
        )
        _approved(con, "acme/regressed", "5" * 40)
        _approved(con, "acme/old-eval", "7" * 40)
        _approved(con, "acme/old-pin", "9" * 40)
        for run, model, sha, found, at in (
            ("e2", "acme/regressed", "5", ["f1 dropped by 0.2"], NOW - timedelta(hours=1)),
            ("e3", "acme/ok", "a", [], NOW),  # compared, nothing dropped
            # an older run of the regressed model that found nothing: the newest counts
            ("e4", "acme/regressed", "5", [], NOW - timedelta(hours=2)),
            # judged again today, but measured a month ago: the evaluation is the evidence
            ("e5", "acme/old-eval", "7", [], NOW - timedelta(days=30)),
            ("e6", "acme/old-pin", "9", [], NOW),  # on a revision of the set since moved
        ):
            con.execute(
                "INSERT INTO eval_runs (eval_run_id, cache_key, model_id, revision_sha, task, "
                "dataset_repo, dataset_revision, dataset_fingerprint, generation_config, "
                "scorer_version, scores, claims, samples, failed_samples, run_id, created_at, "
                "regression) VALUES (?, ?, ?, ?, 'qa', ?, ?, 'f', '{}', ?, '{}', "
                "'[]', 1, 0, 'r', ?, ?)",
                [
                    run,
                    run,
                    model,
                    sha * 40,
                    QA_PIN.repo_id,
                    "f" * 40 if model == "acme/old-pin" else QA_PIN.revision,
                    SCORER_VERSION,
                    at,
                    json.dumps({"findings": found, "summary": "; ".join(found) or "none"}),
                ],
            )
        _approved(con, "acme/revoked", "1" * 40)
        append_status(
            con, "acme/revoked", "revoked", run_id="r", revision_sha="1" * 40, reason="it fails"
        )
    with registry.read() as con:
        rows = {
            m: (h, why, sha)
            for m, h, why, sha in model_health(
                con,
                GATE,
                7,
                scanner_key=SCANNERS,
                scorer_version=SCORER_VERSION,
                scanners=ENGINES,
                pinned=[f"{QA_PIN.repo_id}@{QA_PIN.revision}"],
            )
        }
        counts = health_counts(con, GATE, 7, scanner_key=SCANNERS, scorer_version=SCORER_VERSION)
    assert rows["acme/ok"] == ("ok", "current", "a" * 40)
    assert rows["acme/old-gate"][:2] == ("stale", f"judged under gate 2020.1, the gate is {GATE}")
    assert rows["acme/old-evidence"][0] == "stale"
    assert "older than 7 days" in rows["acme/old-evidence"][1]
    assert rows["acme/moved"][:2] == (
        "at_risk",
        f"upstream main moved to {'e' * 12}, not judged yet",
    )
    assert rows["acme/gated"][:2] == (
        "at_risk",
        "upstream became gated (manual) after it was judged",
    )
    assert rows["acme/gated-always"][:2] == ("ok", "current")
    assert rows["acme/revoked"][:2] == ("revoked", "revoked: it fails")
    assert rows["acme/old-scanners"][:2] == (
        "stale",
        "security verdict made under other scanners, rule sets or allowlist",
    )
    assert rows["acme/old-scorer"][:2] == (
        "stale",
        f"evaluated by scorer v0, the scorer is v{SCORER_VERSION}",
    )
    assert rows["acme/regressed"][:2] == (
        "at_risk",
        f"open regression: {QA_PIN.repo_id}: f1 dropped by 0.2",
    )
    assert rows["acme/two-engines"][:2] == (
        "stale",
        "scanner coverage gap: scanned without modelscan",
    )
    assert rows["acme/old-eval"][0] == "stale"
    assert rows["acme/old-eval"][1].startswith("evaluated on "), rows["acme/old-eval"]
    assert rows["acme/old-eval"][1].endswith(", older than 7 days")
    assert rows["acme/old-pin"][:2] == (
        "stale",
        f"evaluated on a set revision no longer pinned: {QA_PIN.repo_id}@{'f' * 12}",
    )
    assert counts == {"ok": 3, "stale": 6, "at_risk": 3, "revoked": 1}  # pins not given
    # a longer evidence policy: the 30-day-old verdict is current
    with registry.read() as con:
        assert model_health(con, GATE, 60, "acme/old-evidence")[0][1] == "ok"

    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    shown = CliRunner().invoke(main, ["health"])
    assert shown.exit_code == 0, shown.output
    assert "13 judged models: 2 ok, 7 stale, 3 at_risk, 1 revoked" in shown.output
    assert "acme/moved" in shown.output and "acme/ok" not in shown.output
    one = CliRunner().invoke(main, ["health", "--model", "acme/ok", "--format", "json"])
    assert json.loads(one.output)[0]["health"] == "ok"
    listed = CliRunner().invoke(main, ["models", "--format", "json"])
    by_model = {r["model_id"]: r for r in json.loads(listed.output)}
    assert by_model["acme/gated"]["health"] == "at_risk"
