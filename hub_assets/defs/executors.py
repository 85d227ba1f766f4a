"""Where a run's steps execute, chosen by HUB_ASSETS_EXECUTOR (docs/deployment.md).

- `multiprocess` (default): a process per step on the run's machine.
- `in_process`: every step in the run's process (debugging, tiny machines).
- `celery`: each step is a task on a Celery broker; workers on any machine run it
  (`celery -A hub_assets.defs.celery_worker worker`).
- `k8s`: each step is a Kubernetes job (the Helm chart's `K8sRunLauncher` starts the run).

Broker and result-backend URLs are read from the environment by name, in the run and in
the workers: Dagster's run config and the workers' files never hold them.
"""

from __future__ import annotations

import dagster as dg

from hub_assets.errors import SettingsError
from hub_assets.extras import require_extra
from hub_assets.settings import Settings, load_settings

BROKER_ENV = "HUB_ASSETS_CELERY_BROKER"
BACKEND_ENV = "HUB_ASSETS_CELERY_BACKEND"


def _backend_env(settings: Settings) -> str:
    """The variable that holds the result backend: its own if set, else the broker's."""
    return BACKEND_ENV if settings.celery_backend is not None else BROKER_ENV


def _celery_urls(settings: Settings) -> dict:
    return {"broker": {"env": BROKER_ENV}, "backend": {"env": _backend_env(settings)}}


# A step's task is acknowledged when it ends, not when it starts, and a worker process that
# dies mid-step (SIGKILL, the OOM killer) has its task put back on the queue: another
# process runs the step again in the same run (every step is idempotent: claims, cache
# keys, fingerprints). A task unacknowledged for the visibility timeout is handed out
# again, so it is longer than any step (Redis's default is one hour).
VISIBILITY_TIMEOUT_S = 12 * 3600


def celery_config() -> dict:
    """Celery settings shared by the executor (the run's side) and the workers."""
    from dagster_celery.defaults import broker_transport_options

    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "broker_transport_options": {
            **broker_transport_options,
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
        },
    }


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """The executor every job of the project uses."""
    if settings.executor == "in_process":
        return dg.in_process_executor
    if settings.executor == "celery":
        require_extra("scale", "dagster_celery", "HUB_ASSETS_EXECUTOR=celery")
        from dagster_celery import celery_executor

        return celery_executor.configured(
            {**_celery_urls(settings), "config_source": celery_config()}, name="celery"
        )
    limit = (
        {}
        if settings.max_concurrent_steps is None
        else {"max_concurrent": settings.max_concurrent_steps}
    )
    if settings.executor == "k8s":
        require_extra("scale", "dagster_k8s", "HUB_ASSETS_EXECUTOR=k8s")
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(limit, name="k8s") if limit else k8s_job_executor
    if limit:
        return dg.multiprocess_executor.configured(limit, name="multiprocess")
    return dg.multiprocess_executor


def worker_app():  # noqa: ANN201 - a celery.Celery
    """The Celery app of the workers: dagster-celery's step tasks, on the broker and result
    backend named by the environment (dagster-celery's own worker command would write
    them to a file under DAGSTER_HOME)."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

    settings = load_settings()
    if settings.celery_broker is None:
        raise SettingsError(
            f"Set {BROKER_ENV} (e.g. redis://HOST:6379/0): the broker the workers listen on."
        )
    urls = {BROKER_ENV: settings.celery_broker, BACKEND_ENV: settings.celery_backend}
    broker, backend = (
        urls[name].get_secret_value() for name in (BROKER_ENV, _backend_env(settings))
    )
    app = make_app(
        CeleryExecutor.for_cli(
            broker=broker, backend=backend, config_source=celery_config()
        ).app_args()
    )
    create_task(app)
    create_execute_job_task(app)
    create_resume_job_task(app)
    return app
