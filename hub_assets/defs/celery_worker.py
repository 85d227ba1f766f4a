"""The Celery workers' app: `celery -A hub_assets.defs.celery_worker worker` on any machine
with the project installed, DAGSTER_HOME on the shared instance and HUB_ASSETS_CELERY_BROKER
set (docs/deployment.md)."""

from hub_assets.defs.executors import worker_app

app = worker_app()
