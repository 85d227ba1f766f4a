"""The product without its optional extras (`service`, `scale`): the pipeline and the CLI
load, and each part that needs an extra says which one and how to install it."""

import subprocess
import sys

PROBE = """
import sys
for name in ("fastapi", "fastapi_offline", "uvicorn", "prometheus_client", "psycopg",
             "duckdb_extension_postgres", "dagster_postgres", "dagster_celery",
             "dagster_k8s", "redis"):
    sys.modules[name] = None  # as if not installed: find_spec None, import fails
from click.testing import CliRunner

import hub_assets.definitions
from hub_assets.cli import main
from hub_assets.errors import MissingExtraError
from hub_assets.registry.location import registry_at
from hub_assets.defs.executors import executor_for
from hub_assets.settings import Settings

assert hub_assets.definitions.defs.resolve_all_job_defs()
assert CliRunner().invoke(main, ["--help"]).exit_code == 0
served = CliRunner().invoke(main, ["serve"])
print("serve", served.exit_code, served.output.strip())
for call in (lambda: registry_at("postgresql://hub@127.0.0.1:5432/registry"),
             lambda: executor_for(Settings(executor="k8s"))):
    try:
        call()
    except MissingExtraError as e:
        print("refused", e.exit_code, e)
"""


def test_without_the_optional_extras_each_part_names_what_to_install():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("serve 2 hub-assets serve needs the optional 'service'")
    assert "pip install 'hub-assets[service]'" in lines[0]
    assert lines[1].startswith("refused 2 The shared registry (a postgresql:// URL) needs")
    assert "pip install 'hub-assets[scale]'" in lines[1]
    assert lines[2].startswith("refused 2 HUB_ASSETS_EXECUTOR=k8s needs the optional 'scale'")
