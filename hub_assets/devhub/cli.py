"""`hub-assets-dev`: the development Hub's own command: serve a catalog, build the demo
catalog, commit to a catalog, and run the demo end to end.

A command of its own, so that the product's `hub-assets` never imports the development Hub.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from hub_assets.cli.instance import ensure_dagster_home
from hub_assets.cli.registry import leaderboard_text, registry_summary_text
from hub_assets.cli.startup import settings_or_exit
from hub_assets.environment import child_environment, publish_to_children
from hub_assets.proof.keys import PRIVATE_NAME, PUBLIC_NAME

DEFAULT_CATALOG = "data/demo_hub"
DEFAULT_PORT = 8765


@click.group()
def main() -> None:
    """hub-assets-dev: the development Hub (a Hub API over a catalog folder) and the demo."""


@main.command("serve")
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
@click.option(
    "--max-file-mb",
    default=50 * 1024,
    show_default=True,
    type=click.IntRange(1),
    help="Largest file a write may add (bigger ones answer 413).",
)
def hub_serve(
    catalog: str, host: str, port: int, synthetic: int, synthetic_seed: int, max_file_mb: int
) -> None:
    """Serve a catalog over the Hugging Face Hub HTTP API.

    Tokens come from HUB_ASSETS_HUB_TOKENS, comma-separated TOKEN[:read|write[:USER]]: read
    tokens open gated and private repos, write tokens also create repos and commit.
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
            max_file_bytes=max_file_mb * 1024 * 1024,
        )
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    except OSError as e:
        raise click.ClickException(
            f"Cannot listen on {host}:{port}: {e.strerror}. Pick another --port."
        ) from e
    click.echo(
        f"Serving catalog {catalog} at {server.url} "
        f"({synthetic} synthetic models, {len(tokens)} tokens)",
        err=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()


@main.command("build-demo")
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


@main.command("commit")
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
    from hub_assets.errors import InvalidRepoIdError, InvalidRepoPathError

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


DEMO_KEY_FOLDER = Path("data") / "signing"


def demo_signing_key() -> Path:
    """The demo's signing key (data/signing/signing-key.pem), made on first use."""
    from hub_assets.proof.keys import create_keys

    private = DEMO_KEY_FOLDER / PRIVATE_NAME
    if not private.exists():
        create_keys(DEMO_KEY_FOLDER)
    return private.resolve()


@main.command("demo")
@click.option(
    "--catalog", default=DEFAULT_CATALOG, show_default=True, type=click.Path(file_okay=False)
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def demo(catalog: str, port: int) -> None:
    """Build the demo catalog, serve it, run the whole pipeline through Dagster, summarise."""
    from dagster import DagsterInstance

    settings = settings_or_exit()
    # The local Hub has no quota: unless told otherwise, the inference API (which evaluates
    # gpt2-oversized) is not held to the free tier's 10 requests a minute. Set before the
    # Dagster definitions are imported, which read the settings once.
    if not {"inference_api_per_minute", "inference_api_per_hour"} & settings.model_fields_set:
        publish_to_children(
            HUB_ASSETS_INFERENCE_API_PER_MINUTE="0", HUB_ASSETS_INFERENCE_API_PER_HOUR="0"
        )
    # The demo catalog has GGUF repos and a PEFT adapter: discovery takes them here (the
    # product's default stays transformers and sentence-transformers with safetensors).
    if not {"libraries", "weight_formats"} & settings.model_fields_set:
        publish_to_children(
            HUB_ASSETS_LIBRARIES="transformers,sentence-transformers,gguf,peft",
            HUB_ASSETS_WEIGHT_FORMATS="safetensors,gguf",
        )
    # The demo's packages are signed: with the configured key, else a key pair the demo
    # makes once under data/signing (the private key 0600, never printed).
    demo_key = settings.signing_key is None
    if demo_key:
        publish_to_children(HUB_ASSETS_SIGNING_KEY=str(demo_signing_key()))
    from hub_assets.devhub.demo_catalog import build_demo
    from hub_assets.devhub.process import ServerStartError, served_catalog
    from hub_assets.local_runs import release_abandoned_runs, signals_kept, tick_sensor

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
                f"      {len(ticked)} model_pipeline_job runs; a model the gate rejects is "
                "a verdict (its packaging is skipped), one that passes is packaged"
            )
            with DagsterInstance.get() as instance, signals_kept():
                from hub_assets.definitions import defs

                defs.resolve_job_def("leaderboard_job").execute_in_process(
                    instance=instance,
                    run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
                )
            if demo_key:
                click.echo(
                    f"      packages signed with {DEMO_KEY_FOLDER / PRIVATE_NAME}; check one "
                    f"offline: hub-assets verify PACKAGE --key {DEMO_KEY_FOLDER / PUBLIC_NAME}"
                )
            click.echo("[5/5] Registry summary")
            click.echo(registry_summary_text(settings))
            click.echo("\nShadow-evaluation leaderboard (v_leaderboard_ranked)")
            click.echo(leaderboard_text(settings))
            if undecided:
                raise click.ClickException(
                    f"No gate decision for: {', '.join(undecided)}; see the runs in the UI."
                )
    except ServerStartError as e:
        raise click.ClickException(f"The Hub server did not start: {e}") from e


def _models_without_gate_result(settings: object, model_ids: list[str]) -> list[str]:
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.registry.metrics import decided_models

    with Pipeline.from_settings(settings).registry.read() as con:
        decided = decided_models(con)
    return [m for m in model_ids if m not in decided]


if __name__ == "__main__":
    main()


# The reviewer's pages of docs/reviewing.md: (file name, path on the Dagster UI).
SCREENSHOTS = (
    ("gate-evidence.jpg", "/assets/quality_gate?view=partitions&partition={model}"),
    ("gate-checks.jpg", "/assets/quality_gate?view=checks&checkDetail={check}"),
    ("runs.jpg", "/runs"),
)


@main.command("screenshots")
@click.option("--ui", default="http://127.0.0.1:3000", show_default=True, help="Dagster UI.")
@click.option("--out", default="docs/images", show_default=True, type=click.Path(file_okay=False))
@click.option(
    "--model",
    default="hub-assets-demo/tiny-bert-qa-overclaimed",
    show_default=True,
    help="The model whose evidence page is shown.",
)
def screenshots(ui: str, out: str, model: str) -> None:
    """The pictures of docs/reviewing.md, taken with Debian's headless chromium from a
    running `make dev` (after `make demo`)."""
    import shutil

    browser = shutil.which("chromium")
    if browser is None:
        raise click.ClickException("chromium is not installed (make servers installs it).")
    import httpx

    # Dagster greets a new local instance with a newsletter dialog over every page: mark it
    # seen, as its "Skip" button does
    httpx.post(
        ui.rstrip("/") + "/graphql", json={"query": "mutation SetNuxSeen { setNuxSeen }"}
    ).raise_for_status()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in SCREENSHOTS:
        target = folder / name
        url = ui.rstrip("/") + path.format(model=model, check="performance_claims_meets_threshold")
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--virtual-time-budget=20000",
                f"--screenshot={target.resolve()}",
                url,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=120,
            check=True,
        )
        click.echo(f"{target}: {url}")
