"""The Celery workers' app on a real Redis: a worker process killed mid-step has its task
put back on the queue and run again, instead of failing the step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent

# A worker module with one extra task beside dagster-celery's: it SIGKILLs its own worker
# process on its first attempt, as the OOM killer or a lost machine would, and counts
# attempts in a file. HUB_ASSETS_TEST_PLAIN_CELERY=1 builds the app the way dagster-celery
# does by default, the control the test compares against.
WORKER_MODULE = textwrap.dedent(
    """
    import os, signal
    from pathlib import Path

    from hub_assets.defs.executors import worker_app

    if os.environ.get("HUB_ASSETS_TEST_PLAIN_CELERY") == "1":
        from dagster_celery.executor import CeleryExecutor
        from dagster_celery.make_app import make_app

        url = os.environ["HUB_ASSETS_CELERY_BROKER"]
        app = make_app(CeleryExecutor.for_cli(broker=url, backend=url).app_args())
    else:
        app = worker_app()


    @app.task(name="hub_assets_tests.die_once")
    def die_once(marker):
        path = Path(marker)
        attempts = int(path.read_text()) if path.exists() else 0
        path.write_text(str(attempts + 1))
        if attempts == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return attempts + 1
    """
)


def _attempt(tmp_path: Path, broker: str, plain: bool, monkeypatch) -> tuple[object, int]:
    """Start one worker process, send die_once, return (its result or error, attempts)."""
    (tmp_path / "kill_worker.py").write_text(WORKER_MODULE)
    marker = tmp_path / f"attempts-{plain}"
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "HUB_ASSETS_CELERY_BROKER": broker,
        "HUB_ASSETS_TEST_PLAIN_CELERY": "1" if plain else "0",
    }
    worker = subprocess.Popen(
        [
            str(BIN / "celery"),
            "-A",
            "kill_worker",
            "worker",
            "-Q",
            "dagster",
            "--concurrency",
            "1",
            "--prefetch-multiplier",
            "1",
            "-n",
            f"w{int(plain)}@%h",
            "--loglevel",
            "WARNING",
        ],  # fmt: skip
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        monkeypatch.setenv("HUB_ASSETS_CELERY_BROKER", broker)
        from hub_assets.defs.executors import worker_app

        app = worker_app()
        result = app.send_task("hub_assets_tests.die_once", args=[str(marker)], queue="dagster")
        try:
            outcome = result.get(timeout=120)
        except Exception as e:  # noqa: BLE001 - the control's WorkerLostError
            outcome = e
        return outcome, int(marker.read_text())
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def test_a_worker_process_killed_mid_step_has_its_task_run_again(
    tmp_path, redis_server, monkeypatch
):
    outcome, attempts = _attempt(
        tmp_path, redis_server.url(0), plain=False, monkeypatch=monkeypatch
    )
    assert (outcome, attempts) == (2, 2)


def test_without_the_projects_settings_the_killed_step_is_lost(tmp_path, redis_server, monkeypatch):
    """The control: dagster-celery's default app acknowledges a task when it starts, so the
    killed attempt is reported as a failure and never run again."""
    outcome, attempts = _attempt(tmp_path, redis_server.url(0), plain=True, monkeypatch=monkeypatch)
    assert attempts == 1
    assert isinstance(outcome, Exception) and "SIGKILL" in str(outcome), repr(outcome)


def test_the_executor_and_the_workers_share_the_settings(monkeypatch):
    from hub_assets.defs.executors import (
        VISIBILITY_TIMEOUT_S,
        celery_config,
        executor_for,
        worker_app,
    )
    from hub_assets.settings import load_settings

    monkeypatch.setenv("HUB_ASSETS_EXECUTOR", "celery")
    monkeypatch.setenv("HUB_ASSETS_CELERY_BROKER", "redis://127.0.0.1:1/0")
    resolved = executor_for(load_settings()).config_schema.resolve_config({}).value["config"]
    assert resolved["config_source"] == celery_config()
    app = worker_app()
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT_S
    # dagster-celery's own transport defaults are kept, not replaced
    assert app.conf.broker_transport_options["max_retries"] == 3
