"""The `hub-assets` command."""

import json

import dagster as dg
import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.devhub.server import HubServer


# -- sql and status over a discovered registry ---------------------------------------------------
def run_cli(*args: str):
    return CliRunner().invoke(main, list(args))


def test_sql_formats(discovered):
    registry, _ = discovered
    q = "SELECT model_id, status FROM v_model_status WHERE model_id LIKE '%gpl%'"
    table = run_cli("sql", q, "--registry", str(registry.path))
    assert table.exit_code == 0 and "hub-assets-demo/tiny-gpt2-gpl filtered_out" in table.output
    csv = run_cli("sql", q, "--format", "csv", "--registry", str(registry.path))
    assert csv.output == "model_id,status\nhub-assets-demo/tiny-gpt2-gpl,filtered_out\n"
    js = run_cli(
        "sql",
        "SELECT count(*) AS n FROM v_candidates",
        "--format",
        "json",
        "--registry",
        str(registry.path),
    )
    assert json.loads(js.output) == [{"n": 17}]


def test_bad_sql_is_duckdbs_message_and_exit_2(discovered):
    registry, _ = discovered
    bad = run_cli("sql", "SELEC nope", "--registry", str(registry.path))
    assert bad.exit_code == 2 and "SQL error: Parser Error" in bad.output
    assert "Traceback" not in bad.output
    write = run_cli("sql", "DELETE FROM models", "--registry", str(registry.path))
    assert write.exit_code == 2 and "read-only" in write.output
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM models").fetchone() == (26,)
    missing = run_cli("sql", "SELECT 1", "--registry", "/nonexistent/r.duckdb")
    assert missing.exit_code == 2 and "No registry at" in missing.output


def test_typed_sql_writes_nowhere_else_either(discovered, tmp_path):
    """The registry is read on a DuckDB of its own: typed SQL can neither attach and write
    another file nor write to the process's in-memory database, and messages name the file."""
    registry, _ = discovered
    other = tmp_path / "other.duckdb"
    attach = run_cli("sql", f"ATTACH '{other}' AS o", "--registry", str(registry.path))
    assert attach.exit_code == 2 and "read-only" in attach.output and not other.exists()
    memory = run_cli(
        "sql", "CREATE TABLE memory.main.x AS SELECT 1", "--registry", str(registry.path)
    )
    assert memory.exit_code == 2
    write = run_cli("sql", "DELETE FROM models", "--registry", str(registry.path))
    assert f'database "{registry.path.stem}"' in write.output


def test_status_prints_the_lifecycle(discovered):
    registry, _ = discovered
    ok = run_cli("status", "hub-assets-demo/tiny-gpt2-gpl", "--registry", str(registry.path))
    assert ok.exit_code == 0
    lines = ok.output.splitlines()
    assert lines[0] == "hub-assets-demo/tiny-gpt2-gpl"
    assert "discovered" in lines[1] and "listed under text-generation" in lines[1]
    assert "filtered_out" in lines[2] and "license gpl-3.0 not in allowlist" in lines[2]
    assert "run run-disc" in lines[2]
    unknown = run_cli("status", "nobody/nothing", "--registry", str(registry.path))
    assert unknown.exit_code == 1 and "not in the registry" in unknown.output
    invalid = run_cli("status", "../x", "--registry", str(registry.path))
    assert invalid.exit_code == 2 and "Invalid model id" in invalid.output


def test_score_prints_one_ndjson_line_per_model(hub_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_ASSETS_HUB_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HUB_ASSETS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HUB_ASSETS_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(tmp_path / "none.duckdb"))
    result = CliRunner().invoke(
        main, ["score", "hub-assets-demo/tiny-gpt2-complete", "hub-assets-demo/gpt2-oversized"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["name"] for r in lines] == [
        "hub-assets-demo/tiny-gpt2-complete",
        "hub-assets-demo/gpt2-oversized",
    ]
    first = lines[0]
    assert first["category"] == "MODEL" and first["reproducibility"] == 1.0
    metrics = [
        "net_score",
        "ramp_up_time",
        "bus_factor",
        "performance_claims",
        "license",
        "size_score",
        "dataset_and_code_score",
        "dataset_quality",
        "code_quality",
        "reproducibility",
        "security",
        "tree_score",
        "licence_obligations",
    ]
    assert list(first) == ["name", "category"] + [k for m in metrics for k in (m, f"{m}_latency")]
    assert all(isinstance(first[f"{m}_latency"], int) for m in metrics)
    assert set(lines[1]["size_score"]) == {
        "raspberry_pi",
        "jetson_nano",
        "desktop_pc",
        "aws_server",
    }
    assert lines[1]["size_score"]["raspberry_pi"] == 0.0


def test_score_errors(hub_server, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_ASSETS_HUB_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HUB_ASSETS_CACHE_DIR", str(tmp_path / "cache"))
    missing = CliRunner().invoke(main, ["score", "nobody/nothing", "--no-reproducibility"])
    assert missing.exit_code == 1 and "not found on the Hub" in missing.output
    invalid = CliRunner().invoke(main, ["score", "a/b/c"])
    assert invalid.exit_code == 2 and "Invalid model id" in invalid.output


@pytest.mark.slow
def test_score_offline_gives_the_pipelines_values(demo_catalog, registry, tmp_path):
    """`hub-assets score` is the pipeline's scoring stage: after the pipeline has seen a
    model, it prints the pipeline's values with the Hub stopped, with and without
    HF_HUB_OFFLINE=1, from the cache, the registry and the verified snapshots alone."""
    from hub_assets.defs.discovery.assets import model_metadata
    from hub_assets.defs.evaluation.assets import eval_datasets, shadow_eval_scores
    from hub_assets.defs.trust.assets import trust_metrics
    from hub_assets.defs.trust.security import security_scan
    from hub_assets.devhub.demo_catalog import QA_MODEL
    from hub_assets.pipeline.discover import discover
    from hub_assets.registry.metrics import current_revision, revision_metrics
    from hub_assets.resources import PipelineResource
    from hub_assets_tests.conftest import pipeline_env

    server = HubServer(demo_catalog).start()
    try:
        with pipeline_env(server.url, registry, tmp_path):
            resources = {"pipeline": PipelineResource.of(eval_sample_limit=40)}
            discover(resources["pipeline"].get().client(), registry, run_id="d1")
            with dg.DagsterInstance.ephemeral() as instance:
                instance.add_dynamic_partitions("hf_models", [QA_MODEL])
                assert dg.materialize([eval_datasets], instance=instance, resources=resources)
                ran = dg.materialize(
                    [model_metadata, security_scan, shadow_eval_scores, trust_metrics],
                    partition_key=QA_MODEL,
                    instance=instance,
                    resources=resources,
                )
                assert ran.success
            with registry.read() as con:
                sha, _ = current_revision(con, QA_MODEL)
                stored = {
                    m: round(v.value, 2) for m, v in revision_metrics(con, QA_MODEL, sha).items()
                }
            server.stop()
            for offline in ("0", "1"):
                result = CliRunner().invoke(
                    main, ["score", QA_MODEL], env={"HF_HUB_OFFLINE": offline}
                )
                assert result.exit_code == 0, (offline, result.output)
                line = json.loads(result.stdout.strip().splitlines()[-1])
                printed = {m: line[m] for m in stored if m in line and m != "size_score"}
                assert printed == {m: stored[m] for m in printed}, offline
                assert len(printed) >= 11 and printed["performance_claims"] > 0.5
    finally:
        server.stop()


def test_the_command_starts_without_importing_heavy_libraries():
    """`hub-assets --help` (and every command's help) imports none of the heavy libraries:
    each command imports what it uses when it runs (bench/bench_cli.py times it)."""
    import subprocess
    import sys

    heavy = ("pandas", "duckdb", "dagster", "torch", "transformers", "huggingface_hub")
    heavy += ("pydantic_settings", "gguf", "fastapi", "psycopg", "datasets")
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from hub_assets.cli import main\n"
        "for args in (['--help'], ['ingest', '--help'], ['users', 'add', '--help']):\n"
        "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
