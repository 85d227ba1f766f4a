"""`hub-assets-dev`: the development Hub's own command."""

import json
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from hub_assets.devhub.catalog import Catalog
from hub_assets.devhub.cli import main
from hub_assets_tests import loopback
from hub_assets_tests.conftest import free_port


def test_build_demo_is_cached(demo_catalog):
    result = CliRunner().invoke(main, ["build-demo", "--out", str(demo_catalog)])
    assert result.exit_code == 0, result.output
    assert "26 models, 3 datasets" in result.output


def test_commit_adds_a_repo_and_a_revision(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "gpt2"}')
    (folder / ".cache").mkdir()
    (folder / ".cache" / "junk").write_text("never committed")
    catalog = tmp_path / "catalog"
    args = [
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
    result = CliRunner().invoke(main, ["serve", "--catalog", str(tmp_path / "none")])
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
            "hub_assets.devhub.cli",
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
                r = loopback.get(f"{url}/api/models", params={"limit": 1000})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert len(r.json()) == 1000 and 'rel="next"' in r.headers["Link"]
        gated = loopback.get(
            f"{url}/hub-assets-demo/tiny-gpt2-gated/resolve/main/config.json",
            headers={"Authorization": "Bearer tok-b"},
        )
        assert gated.status_code == 200 and json.loads(gated.content)["model_type"] == "gpt2"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "2 tokens" in err and "tok-a" not in err  # tokens never printed
