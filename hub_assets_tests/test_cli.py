"""The `hub-assets` command."""

import json
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.devhub.catalog import Catalog
from hub_assets_tests.conftest import free_port


def test_build_demo_is_cached(demo_catalog):
    result = CliRunner().invoke(main, ["hub", "build-demo", "--out", str(demo_catalog)])
    assert result.exit_code == 0, result.output
    assert "17 models, 2 datasets" in result.output


def test_commit_adds_a_repo_and_a_revision(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "gpt2"}')
    (folder / ".cache").mkdir()
    (folder / ".cache" / "junk").write_text("never committed")
    catalog = tmp_path / "catalog"
    args = [
        "hub",
        "commit",
        "--catalog",
        str(catalog),
        "--repo-id",
        "me/my-model",
        "--folder",
        str(folder),
        "--author",
        "me",
        "--meta",
        '{"downloads": 7}',
    ]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    (folder / "config.json").write_text('{"model_type": "t5"}')
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0
    repo = Catalog(catalog).repo("model", "me/my-model")
    assert len(repo.commits) == 2 and set(repo.head.files) == {"config.json"}
    assert repo.meta == {"downloads": 7}


def test_commit_rejects_bad_input_clearly(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    bad_id = CliRunner().invoke(
        main,
        [
            "hub",
            "commit",
            "--catalog",
            str(tmp_path / "c"),
            "--repo-id",
            "../etc",
            "--folder",
            str(folder),
            "--author",
            "me",
        ],
    )
    assert bad_id.exit_code == 1 and "Invalid repo id '../etc'" in bad_id.output
    bad_meta = CliRunner().invoke(
        main,
        [
            "hub",
            "commit",
            "--catalog",
            str(tmp_path / "c"),
            "--repo-id",
            "a/b",
            "--folder",
            str(folder),
            "--author",
            "me",
            "--meta",
            "{oops",
        ],
    )
    assert bad_meta.exit_code == 1 and "Error" in bad_meta.output


def test_serve_missing_catalog_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["hub", "serve", "--catalog", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "does not exist" in result.output and "build-demo" in result.output


@pytest.mark.slow
def test_serve_in_a_subprocess_with_synthetic_models(demo_catalog):
    port = free_port()
    env = {"HUB_ASSETS_HUB_TOKENS": "tok-a,tok-b", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub_assets.cli",
            "hub",
            "serve",
            "--catalog",
            str(demo_catalog),
            "--port",
            str(port),
            "--synthetic",
            "1000",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                r = httpx.get(f"{url}/api/models", params={"limit": 1000})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert len(r.json()) == 1000 and 'rel="next"' in r.headers["Link"]
        gated = httpx.get(
            f"{url}/hub-assets-demo/tiny-gpt2-gated/resolve/main/config.json",
            headers={"Authorization": "Bearer tok-b"},
        )
        assert gated.status_code == 200 and json.loads(gated.content)["model_type"] == "gpt2"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "2 gated-access tokens" in err and "tok-a" not in err  # tokens never printed


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
    assert json.loads(js.output) == [{"n": 13}]


def test_bad_sql_is_duckdbs_message_and_exit_2(discovered):
    registry, _ = discovered
    bad = run_cli("sql", "SELEC nope", "--registry", str(registry.path))
    assert bad.exit_code == 2 and "SQL error: Parser Error" in bad.output
    assert "Traceback" not in bad.output
    write = run_cli("sql", "DELETE FROM models", "--registry", str(registry.path))
    assert write.exit_code == 2 and "read-only" in write.output
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM models").fetchone() == (17,)
    missing = run_cli("sql", "SELECT 1", "--registry", "/nonexistent/r.duckdb")
    assert missing.exit_code == 2 and "No registry at" in missing.output


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
