"""`hub-assets push`: a local adapter or fine-tune to a Hub, with a generated card."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from hub_assets.cli.registry import open_registry
from hub_assets.cli.startup import settings_or_exit
from hub_assets.errors import HubAssetsError, exit_code


@click.command("push")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--repo", "repo_id", required=True, help="ORG/NAME of the repo to push to.")
@click.option("--base-model", required=True, help="The model this one adapts or fine-tunes.")
@click.option("--dataset", "datasets", multiple=True, help="A training dataset (repeatable).")
@click.option("--training-config", type=click.Path(path_type=Path), default=None)
@click.option(
    "--metrics",
    type=click.Path(path_type=Path),
    default=None,
    help='JSON {"metric": value, ...}, written as model-index results.',
)
@click.option("--license", "license_id", default=None, help="A Hub licence id (apache-2.0...).")
@click.option("--task", default=None, help="Pipeline tag (default: the base model's).")
@click.option("--private", is_flag=True, help="Create the repo private.")
def push(
    path: Path,
    repo_id: str,
    base_model: str,
    datasets: tuple[str, ...],
    training_config: Path | None,
    metrics: Path | None,
    license_id: str | None,
    task: str | None,
    private: bool,
) -> None:
    """Push PATH (an adapter or a fine-tuned model) to the Hub with a generated card."""
    from huggingface_hub import HfApi

    from hub_assets.publishing.push import (
        PushRequest,
        prepare_push,
        registry_entry,
    )
    from hub_assets.publishing.push import push as push_model

    settings = settings_or_exit()
    request = PushRequest(
        path=path,
        repo_id=repo_id,
        base_model=base_model,
        datasets=list(datasets),
        training_config=training_config,
        metrics=metrics,
        private=private,
        license=license_id,
        task=task,
    )
    try:
        prepared = prepare_push(request)
        api = HfApi(endpoint=settings.hub_endpoint, token=settings.token)
        entry = registry_entry(open_registry(settings), base_model)
        click.echo(f"Pushing {len(prepared.files)} files of {path} to {repo_id}:")
        result = push_model(api, prepared, registry_entry=entry, echo=click.echo)
    except HubAssetsError as e:
        click.echo(str(e), err=True)
        sys.exit(exit_code(e.outcome))
    click.echo(f"Pushed {result.files} files: {result.repo_url}\ncommit: {result.commit_sha}")
