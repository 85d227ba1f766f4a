"""`hub-assets hub ...`: the development Hub (serve a catalog, build the demo, commit).

The one part of the CLI that imports `hub_assets.devhub`, on purpose.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import click

from hub_assets.cli import settings_or_exit

DEFAULT_CATALOG = "data/demo_hub"
DEFAULT_PORT = 8765


@click.group()
def hub() -> None:
    """The project's own Hub server and its demo catalog."""


@hub.command("serve")
@click.option(
    "--catalog",
    default=DEFAULT_CATALOG,
    show_default=True,
    type=click.Path(file_okay=False),
    help="Catalog folder to serve.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--synthetic",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="Add N listing-only synthetic models (metadata, no files).",
)
@click.option("--synthetic-seed", default=0, show_default=True, type=int)
def hub_serve(catalog: str, host: str, port: int, synthetic: int, synthetic_seed: int) -> None:
    """Serve a catalog over the Hugging Face Hub HTTP API.

    Tokens that may read gated repos come from HUB_ASSETS_HUB_TOKENS (comma-separated).
    """
    from hub_assets.devhub.server import HubServer

    tokens = settings_or_exit().hub_tokens
    try:
        server = HubServer(
            catalog,
            host=host,
            port=port,
            synthetic=synthetic,
            synthetic_seed=synthetic_seed,
            tokens=tokens,
        )
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {e.strerror}. Pick another --port."
        ) from e
    click.echo(
        f"Serving catalog {catalog} at {server.url} "
        f"({synthetic} synthetic models, {len(tokens)} gated-access tokens)",
        err=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()


@hub.command("build-demo")
@click.option("--out", default=DEFAULT_CATALOG, show_default=True, type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Rebuild even if an identical build is there.")
def hub_build_demo(out: str, force: bool) -> None:
    """Build the demo catalog (deterministic; a second build is a no-op)."""
    from hub_assets.devhub.demo_catalog import build_demo, demo_summary

    started = time.monotonic()
    path = build_demo(out, force=force)
    summary = demo_summary(path)
    click.echo(
        f"Demo catalog at {path}: {len(summary['model'])} models, "
        f"{len(summary['dataset'])} datasets ({time.monotonic() - started:.1f}s)"
    )


@hub.command("commit")
@click.option(
    "--catalog", default=DEFAULT_CATALOG, show_default=True, type=click.Path(file_okay=False)
)
@click.option("--repo-id", required=True, help="org/name of the repo to create or update.")
@click.option(
    "--repo-type", type=click.Choice(["model", "dataset"]), default="model", show_default=True
)
@click.option(
    "--folder",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Folder whose files become the repo's files at the new commit.",
)
@click.option("--author", "authors", multiple=True, required=True, help="Commit author (repeat).")
@click.option("--title", default="Upload folder", show_default=True)
@click.option(
    "--meta",
    "meta_json",
    default=None,
    help='Repo metadata as JSON, e.g. \'{"downloads": 10, "gated": "manual"}\'.',
)
def hub_commit(
    catalog: str,
    repo_id: str,
    repo_type: str,
    folder: str,
    authors: tuple[str, ...],
    title: str,
    meta_json: str | None,
) -> None:
    """Add a repo to a catalog, or a new revision of one, from a local folder."""
    from hub_assets.devhub.catalog import Catalog, CatalogError
    from hub_assets.hub.ids import InvalidRepoIdError, InvalidRepoPathError

    folder_p = Path(folder)
    files = {
        p.relative_to(folder_p).as_posix(): p
        for p in sorted(folder_p.rglob("*"))
        if p.is_file()
        and ".cache" not in p.relative_to(folder_p).parts
        and ".git" not in p.relative_to(folder_p).parts
    }
    try:
        meta = json.loads(meta_json) if meta_json else None
        commit = Catalog(catalog).commit(
            repo_type, repo_id, files, authors=authors, title=title, meta=meta, replace_all=True
        )
    except (CatalogError, InvalidRepoIdError, InvalidRepoPathError, json.JSONDecodeError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{repo_type} {repo_id}: commit {commit.sha} ({len(files)} files)")
