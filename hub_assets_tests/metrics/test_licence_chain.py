"""Licence obligations through the model tree: identifiers and expressions, the findings
(permissive-washing, missing NOTICE, unknown licences), the recursive ancestry query, and
the demo's apache-2.0 fine-tune of a non-commercial base failing the gate."""

import json

import dagster as dg
import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.evaluation.assets import shadow_eval_scores
from hub_assets.defs.trust.assets import quality_gate, trust_metrics
from hub_assets.defs.trust.security import security_scan
from hub_assets.devhub.demo_cases import NC_BASE, NC_FINETUNE
from hub_assets.metrics.licence_chain import Ancestor, licence_obligations, obligations_of
from hub_assets.pipeline.discover import discover
from hub_assets.registry.tree import ancestry, record_edges
from hub_assets_tests.pipeline_resource import pipeline_resources

ALL_USES = ("commercial_use", "redistribution", "modification")


def base(model_id, license_, files=(), known=True, depth=1, child="acme/model"):
    return Ancestor(model_id, child, "finetune", depth, license_, frozenset(files), known)


@pytest.mark.parametrize(
    ("license_", "expected"),
    [
        ("apache-2.0", {"attribution", "notice"}),
        ("MIT", {"attribution"}),
        ("cc-by-nc-4.0", {"attribution", "non_commercial"}),
        ("apache-2.0 OR cc-by-nc-4.0", {"attribution", "notice"}),  # the licensee picks
        ("mit AND cc-by-sa-4.0", {"attribution", "share_alike"}),  # both apply
        ("llama3.1", {"attribution", "acceptable_use"}),
        ("other", None),
        (None, None),
        ("mit AND other", None),
    ],
)
def test_obligations_of_ids_and_expressions(license_, expected):
    got = obligations_of(license_)
    assert (set(got) if got is not None else None) == expected


def test_an_inherited_obligation_that_forbids_an_allowed_use_fails_with_the_chain():
    got = licence_obligations(
        "acme/model", "cc-by-nc-4.0", ["README.md"], [base("org/base", "mit")], ALL_USES
    )
    assert got.value == 0.0
    assert "commercial_use is allowed, but non_commercial" in got.reason
    assert got.details["chain"] == "acme/model (cc-by-nc-4.0) ← org/base (mit, finetune)"
    fine = licence_obligations("acme/model", "cc-by-nc-4.0", [], [], ("modification",))
    assert fine.value == 1.0 and fine.details["obligations"]["non_commercial"] == ["acme/model"]


def test_permissive_washing_missing_notice_and_unknown_licences_are_findings():
    washed = licence_obligations(
        "acme/model",
        "apache-2.0",
        ["NOTICE"],
        [base("org/nc", "cc-by-nc-4.0"), base("org/root", "mit", depth=2, child="org/nc")],
        ("modification",),  # even when commercial use is not needed
    )
    assert washed.value == 0.0
    assert washed.details["findings"] == [
        "permissive-washing: acme/model declares apache-2.0 over org/nc (cc-by-nc-4.0: "
        "no commercial use)"
    ]
    assert washed.details["obligations"]["non_commercial"] == ["org/nc"]
    notice = licence_obligations(
        "acme/model", "mit", ["README.md"], [base("org/apache", "apache-2.0", ["NOTICE"])], ALL_USES
    )
    assert notice.details["findings"] == ["missing NOTICE: org/apache ships one that must be kept"]
    kept = licence_obligations(
        "acme/model",
        "mit",
        ["NOTICE.txt"],
        [base("org/apache", "apache-2.0", ["NOTICE"])],
        ALL_USES,
    )
    assert kept.value == 1.0
    unknown = licence_obligations(
        "acme/model",
        "mit",
        [],
        [base("org/x", "other"), base("org/y", None, known=False)],
        ALL_USES,
    )
    assert unknown.details["findings"] == [
        "unknown licence: org/x (other)",
        "unknown licence: org/y (its metadata could not be read)",
    ]


def test_ancestry_is_a_recursive_query_that_cuts_cycles(registry):
    registry.ensure_schema()
    with registry.write() as con:
        record_edges(con, "a/child", "1" * 40, [("a/parent", "adapter", "adapter_config.json")])
        record_edges(con, "a/parent", "2" * 40, [("a/root", "finetune", "card base_model")])
        record_edges(con, "a/root", "3" * 40, [("a/child", "merge", "a cycle")])
        rows = ancestry(con, "a/child")
    assert [(r["model_id"], r["parent_of"], r["relation"], r["depth"]) for r in rows] == [
        ("a/parent", "a/child", "adapter", 1),
        ("a/root", "a/parent", "finetune", 2),
    ]
    assert not any(r["known"] for r in rows)  # no metadata in this registry


@pytest.mark.slow
def test_the_demo_fine_tune_of_a_non_commercial_base_fails_on_inherited_obligations(
    hub_client, hub_server, registry, tmp_path, monkeypatch
):
    discover(hub_client, registry, run_id="d")
    resources = pipeline_resources(hub_server.url, registry, tmp_path, eval_sample_limit=10)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [NC_FINETUNE])
        result = dg.materialize(
            [model_metadata, security_scan, shadow_eval_scores, trust_metrics, quality_gate],
            partition_key=NC_FINETUNE,
            instance=instance,
            resources=resources,
            raise_on_error=False,
        )
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["license_meets_threshold"] is True  # its own licence is fine
    assert checks["licence_obligations_meets_threshold"] is False
    with registry.read() as con:
        message = con.execute(
            "SELECT message FROM gate_results WHERE model_id = ?", [NC_FINETUNE]
        ).fetchone()[0]
        details = json.loads(
            con.execute(
                "SELECT details FROM metric_values WHERE model_id = ? "
                "AND metric = 'licence_obligations'",
                [NC_FINETUNE],
            ).fetchone()[0]
        )
    chain = f"{NC_FINETUNE} (apache-2.0) ← {NC_BASE} (cc-by-nc-4.0, finetune)"
    assert "Licence Obligations (commercial_use is allowed, but non_commercial" in message
    assert f"permissive-washing: {NC_FINETUNE} declares apache-2.0 over {NC_BASE}" in message
    assert chain in message and details["chain"] == chain
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    status = CliRunner().invoke(main, ["status", NC_FINETUNE])
    assert status.exit_code == 0 and f"Licence chain: {chain}" in status.output
    assert "non_commercial (hub-assets-demo/tiny-gpt2-noncommercial)" in status.output
