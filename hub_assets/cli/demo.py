"""`hub-assets demo`: the development Hub, the main job, the per-model runs, a summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from hub_assets.cli import settings_or_exit
from hub_assets.cli.hub import DEFAULT_CATALOG, DEFAULT_PORT
from hub_assets.cli.instance import ensure_dagster_home
from hub_assets.cli.registry import leaderboard_text, registry_summary_text
from hub_assets.settings import child_environment, publish_to_children


@click.command("demo")
@click.option(
    "--catalog", default=DEFAULT_CATALOG, show_default=True, type=click.Path(file_okay=False)
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def demo(catalog: str, port: int) -> None:
    """Build the demo catalog, serve it, run the whole pipeline through Dagster, summarise."""
    from dagster import DagsterInstance

    from hub_assets.devhub.demo_catalog import build_demo
    from hub_assets.devhub.process import ServerStartError, served_catalog
    from hub_assets.local_runs import release_abandoned_runs, tick_sensor

    home = ensure_dagster_home(settings_or_exit())
    with DagsterInstance.get() as instance:
        for run_id in release_abandoned_runs(instance):
            click.echo(f"Released run {run_id[:8]}, left in progress by a process that is gone.")
    click.echo(f"[1/5] Demo catalog: {build_demo(catalog)}")
    try:
        with served_catalog(catalog, port=port, quiet=False) as endpoint:
            # The pipeline reads the Hub the demo serves, in this process and its children.
            publish_to_children(HUB_ASSETS_HUB_ENDPOINT=endpoint)
            settings = settings_or_exit()
            click.echo(f"[2/5] Hub server up at {endpoint}")
            click.echo(f"[3/5] main_job (discovery), DAGSTER_HOME={home}")
            dg = Path(sys.executable).with_name("dg")
            rc = subprocess.call(
                [str(dg), "launch", "--job", "main_job", "-m", "hub_assets.definitions"],
                env=child_environment(),
            )
            if rc != 0:
                raise click.ClickException(f"main_job failed (exit code {rc}); see the log above.")
            click.echo(
                "[4/5] candidate_models_sensor tick: the per-model pipeline of each candidate"
            )
            with DagsterInstance.get() as instance:
                ticked = tick_sensor(instance, "candidate_models_sensor")
            undecided = _models_without_gate_result(settings, [r.partition_key for r in ticked])
            click.echo(
                f"      {len(ticked)} model_pipeline_job runs; a run whose gate fails stops "
                "there (blocking checks), one that passes is packaged"
            )
            with DagsterInstance.get() as instance:
                from hub_assets.definitions import defs

                defs.resolve_job_def("leaderboard_job").execute_in_process(
                    instance=instance,
                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                )
            click.echo("[5/5] Registry summary")
            click.echo(registry_summary_text(settings))
            click.echo("\nShadow-evaluation leaderboard (v_leaderboard)")
            click.echo(leaderboard_text(settings))
            if undecided:
                raise click.ClickException(
                    f"No gate decision for: {', '.join(undecided)}; see the runs in the UI."
                )
    except ServerStartError as e:
        raise click.ClickException(f"The Hub server did not start: {e}") from e


def _models_without_gate_result(settings: object, model_ids: list[str]) -> list[str]:
    from hub_assets.registry.metrics import decided_models
    from hub_assets.resources import RegistryResource

    with RegistryResource.from_settings(settings).get().read() as con:
        decided = decided_models(con)
    return [m for m in model_ids if m not in decided]
