"""`hub-assets ingest`: request a package and, with --wait, see it through."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from hub_assets.cli.instance import ensure_dagster_home
from hub_assets.cli.registry import open_registry
from hub_assets.cli.startup import settings_or_exit
from hub_assets.states import RequestStatus

if TYPE_CHECKING:
    from hub_assets.registry.store import Registry


def _print_outcome(request: dict, registry: Registry) -> int:
    """Print an ingest request's outcome; return the exit code (0 only on success)."""
    from hub_assets.errors import exit_code
    from hub_assets.registry.models import current_sha
    from hub_assets.registry.packages import find_package_by_id

    if request["status"] != RequestStatus.SUCCEEDED:
        outcome = request["outcome"] or "error"
        with registry.read() as con:
            sha = current_sha(con, request["model_id"])
        judged = f" at revision {sha[:12]}" if sha else ""  # none recorded: refused before
        click.echo(
            f"Ingest of {request['model_id']}{judged} failed ({outcome}): {request['message']}",
            err=True,
        )
        return exit_code(outcome)
    with registry.read() as con:
        package = find_package_by_id(con, request["package_id"])
    if request["outcome"] == "already_packaged":
        click.echo(f"{request['message']} Nothing new was made.", err=True)
    metrics = {k: v for k, v in package.manifest["metrics"].items()}
    click.echo(f"package_id: {package.package_id}")
    click.echo(f"name:       {package.name}")
    click.echo(f"version:    {package.version}")
    click.echo(f"model:      {package.model_id}@{package.revision_sha}")
    click.echo(f"uri:        {package.uri}")
    click.echo(
        f"net_score:  {package.net_score:.2f}" if package.net_score is not None else "net_score:  -"
    )
    click.echo(f"size:       {package.size_bytes:,} bytes (sha256 {package.sha256})")
    click.echo("metrics:    " + ", ".join(f"{k}={v:.2f}" for k, v in sorted(metrics.items())))
    return 0


@click.command("ingest")
@click.argument("model_id")
@click.option(
    "--version",
    "version",
    default=None,
    help="Package version (default 1.0.0 for a first package, else the next minor).",
)
@click.option("--description", default=None)
@click.option("--wait", is_flag=True, help="Wait for the outcome and print it.")
@click.option(
    "--timeout", default=1800, show_default=True, type=int, help="Seconds to wait with --wait."
)
def ingest(
    model_id: str, version: str | None, description: str | None, wait: bool, timeout: int
) -> None:
    """Request ingestion of MODEL_ID: metadata, trust metrics, gate, package.

    The ingest_request_sensor turns the request into a run. With --wait the command waits
    for the outcome; when no Dagster daemon is running it runs the request itself.
    """
    from hub_assets.errors import InvalidModelIdError, InvalidVersionError
    from hub_assets.ids import check_model_id
    from hub_assets.packaging.package import check_version
    from hub_assets.registry import packages as reg_packages

    try:
        check_model_id(model_id)
        if version is not None:
            check_version(version)
    except (InvalidModelIdError, InvalidVersionError) as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    settings = settings_or_exit()
    registry = open_registry(settings)
    with registry.write() as con:
        request_id = reg_packages.add_request(con, model_id, version or "", description)
    click.echo(f"Ingest request {request_id} recorded for {model_id}.", err=True)
    if not wait:
        click.echo(
            'The ingest_request_sensor will run it; `hub-assets sql "SELECT * FROM '
            f'ingest_requests WHERE request_id = {request_id}"` shows its outcome.',
            err=True,
        )
        return
    from dagster import DagsterInstance

    from hub_assets.local_runs import daemon_running, see_request_through

    ensure_dagster_home(settings)
    with DagsterInstance.get() as instance:
        if not daemon_running(instance):
            click.echo("No Dagster daemon is running: running the request here.", err=True)
        request = see_request_through(instance, registry, request_id, timeout)
    if RequestStatus(request["status"]).finished:
        sys.exit(_print_outcome(request, registry))
    click.echo(f"Request {request_id} still {request['status']} after {timeout}s.", err=True)
    sys.exit(1)
