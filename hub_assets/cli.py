"""The `hub-assets` command."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click

DEFAULT_CATALOG = "data/demo_hub"
DEFAULT_PORT = 8765
DEFAULT_REGISTRY = "data/registry.duckdb"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@click.group()
def main() -> None:
    """hub-assets: a curated, evaluated, auditable model registry over the Hugging Face Hub."""


# ---------------------------------------------------------------------------------------
# hub-assets hub ...
# ---------------------------------------------------------------------------------------
@main.group()
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

    tokens = [t for t in os.environ.get("HUB_ASSETS_HUB_TOKENS", "").split(",") if t]
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


# ---------------------------------------------------------------------------------------
# hub-assets demo
# ---------------------------------------------------------------------------------------
def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"The Hub server exited with code {proc.returncode}.")
        try:
            with urllib.request.urlopen(f"{url}/api/models?limit=1", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise click.ClickException(f"The Hub server did not answer at {url} within {timeout:.0f}s.")


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to the project-local .dagster_home with the project's yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    src = PROJECT_ROOT / "dagster.yaml"
    if src.exists() and not (home / "dagster.yaml").exists():
        shutil.copy(src, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@main.command("demo")
@click.option(
    "--catalog", default=DEFAULT_CATALOG, show_default=True, type=click.Path(file_okay=False)
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def demo(catalog: str, port: int) -> None:
    """Build the demo catalog, serve it, run the whole pipeline through Dagster, summarise."""
    from hub_assets.devhub.demo_catalog import build_demo

    home = ensure_dagster_home()
    from dagster import DagsterInstance

    from hub_assets.local_runs import release_abandoned_runs

    with DagsterInstance.get() as instance:
        for run_id in release_abandoned_runs(instance):
            click.echo(f"Released run {run_id[:8]}, left in progress by a process that is gone.")
    click.echo(f"[1/5] Demo catalog: {build_demo(catalog)}")
    endpoint = f"http://127.0.0.1:{port}"
    os.environ["HUB_ASSETS_HUB_ENDPOINT"] = endpoint
    env = dict(os.environ, DAGSTER_HOME=str(home))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub_assets.cli",
            "hub",
            "serve",
            "--catalog",
            catalog,
            "--port",
            str(port),
        ],
        env=env,
    )
    try:
        _wait_until_up(endpoint, server)
        click.echo(f"[2/5] Hub server up at {endpoint}")
        click.echo(f"[3/5] main_job (discovery), DAGSTER_HOME={home}")
        dg = Path(sys.executable).with_name("dg")
        rc = subprocess.call(
            [str(dg), "launch", "--job", "main_job", "-m", "hub_assets.definitions"], env=env
        )
        if rc != 0:
            raise click.ClickException(f"main_job failed (exit code {rc}); see the log above.")
        click.echo("[4/5] candidate_models_sensor tick: the per-model pipeline of each candidate")
        from dagster import DagsterInstance

        from hub_assets.local_runs import tick_sensor

        with DagsterInstance.get() as instance:
            ticked = tick_sensor(instance, "candidate_models_sensor")
        undecided = _models_without_gate_result([r.partition_key for r in ticked])
        click.echo(
            f"      {len(ticked)} model_pipeline_job runs; a run whose gate fails stops there "
            "(blocking checks), one that passes is packaged"
        )
        with DagsterInstance.get() as instance:
            from hub_assets.definitions import defs

            defs.resolve_job_def("leaderboard_job").execute_in_process(
                instance=instance,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
        click.echo("[5/5] Registry summary")
        click.echo(registry_summary_text())
        click.echo("\nShadow-evaluation leaderboard (v_leaderboard)")
        click.echo(leaderboard_text())
        if undecided:
            raise click.ClickException(
                f"No gate decision for: {', '.join(undecided)}; see the runs in the UI."
            )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _models_without_gate_result(model_ids: list[str]) -> list[str]:
    from hub_assets.registry.metrics import decided_models
    from hub_assets.registry.store import Registry

    reg = Registry(os.environ.get("HUB_ASSETS_REGISTRY", DEFAULT_REGISTRY))
    with reg.read() as con:
        decided = decided_models(con)
    return [m for m in model_ids if m not in decided]


def leaderboard_text() -> str:
    """The leaderboard as a plain table."""
    from hub_assets.registry.evaluations import leaderboard
    from hub_assets.resources import RegistryResource

    registry = RegistryResource.from_env().get()
    registry.ensure_schema()
    with registry.read() as con:
        frame = leaderboard(con)
    if not len(frame):
        return "(no evaluations yet)"
    return frame.astype(object).where(frame.notna(), "").to_string(index=False)


def registry_summary_text(path: str | None = None) -> str:
    """Each model's status, net score and gate outcome, read-only from the registry."""
    from hub_assets.registry.models import registry_summary
    from hub_assets.registry.store import Registry

    reg = Registry(path or os.environ.get("HUB_ASSETS_REGISTRY", DEFAULT_REGISTRY))
    with reg.read() as con:
        status, rows = registry_summary(con)
    lines = [f"Registry {reg.path}: " + ", ".join(f"{n} {st}" for st, n in status)]
    width = max((len(r[0]) for r in rows), default=10)
    lines.append(f"  {'model':<{width}}  {'status':<12} {'license':<11} {'net':>5}  outcome")
    for model_id, st, lic, net, passed, message, reason in rows:
        net_s = f"{net:.2f}" if net is not None else "-"
        if passed is None:
            outcome = reason or ""
        else:
            outcome = (
                "GATE PASSED"
                if passed
                else message.replace("Model does not meet quality requirements. ", "GATE FAILED: ")
            )
        lines.append(f"  {model_id:<{width}}  {st:<12} {lic or '-':<11} {net_s:>5}  {outcome}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# hub-assets sql / status
# ---------------------------------------------------------------------------------------
@main.command("sql")
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--registry",
    "registry_path",
    default=None,
    help="Registry file (default: HUB_ASSETS_REGISTRY or data/registry.duckdb).",
)
def sql(query: str, fmt: str, registry_path: str | None) -> None:
    """Run read-only SQL on the registry and print the result."""
    import duckdb

    from hub_assets.registry.store import Registry, RegistryError

    reg = Registry(registry_path or os.environ.get("HUB_ASSETS_REGISTRY", DEFAULT_REGISTRY))
    try:
        with reg.read() as con:
            df = con.execute(query).df()
    except duckdb.Error as e:
        click.echo(f"SQL error: {e}", err=True)
        sys.exit(2)
    except RegistryError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    if fmt == "csv":
        click.echo(df.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(df.to_json(orient="records", date_format="iso"))
    else:
        click.echo(df.to_string(index=False) if len(df.columns) else "(no result)")


@main.command("score")
@click.argument("model_ids", nargs=-1, required=True)
@click.option(
    "--no-reproducibility",
    is_flag=True,
    help="Skip running the model (reproducibility is reported as 0).",
)
def score(model_ids: tuple[str, ...], no_reproducibility: bool) -> None:
    """Score models now and print one NDJSON line per model.

    Reads the Hub at HUB_ASSETS_HUB_ENDPOINT (metadata cache included); lineage parents and
    the latest shadow evaluation of the revision (performance evidence) are looked up in the
    registry when it exists. Nothing is written to the registry.
    """
    from huggingface_hub.utils import disable_progress_bars

    from hub_assets.evaluation.datasets import pins_from_env
    from hub_assets.evaluation.shadow import pin_for
    from hub_assets.hub.client import HubUnavailableError, InvalidModelIdError, ModelNotFoundError
    from hub_assets.metrics.evidence import ModelEvidence
    from hub_assets.metrics.report import score_record
    from hub_assets.metrics.scoring import score_model
    from hub_assets.registry import evaluations as reg_eval
    from hub_assets.registry import metrics as reg_metrics
    from hub_assets.registry.store import Registry, RegistryError
    from hub_assets.resources import HubResource, TrustResource

    disable_progress_bars()  # stdout is NDJSON
    client = HubResource.from_env().client()
    trust = TrustResource.from_env()
    registry = Registry(os.environ.get("HUB_ASSETS_REGISTRY", DEFAULT_REGISTRY))

    def known_revision(model_id: str) -> tuple[str, str] | None:
        try:
            with registry.read() as con:
                return reg_metrics.last_known_revision(con, model_id)
        except RegistryError:
            return None

    client.known_revision = known_revision
    failures = 0
    for model_id in model_ids:
        try:
            fetched = client.model_metadata(model_id)
            if fetched.note:
                click.echo(f"{model_id}: {fetched.note}", err=True)
            ev = ModelEvidence.from_metadata(model_id, fetched.data)
            parents: dict[str, float] = {}
            measurement = None
            pin = pin_for(ev.info.get("pipeline_tag"), pins_from_env())
            try:
                with registry.read() as con:
                    parents = reg_metrics.current_net_scores(con, ev.base_models())
                    measurement = reg_eval.revision_measurement(con, model_id, ev.sha, pin)
            except RegistryError:
                pass
            scored = score_model(
                ev,
                trust.scoring_context(
                    client,
                    parent_net_scores=parents,
                    run_reproducibility=not no_reproducibility,
                    measurement=measurement,
                ),
            )
        except InvalidModelIdError as e:
            click.echo(str(e), err=True)
            sys.exit(2)
        except (ModelNotFoundError, HubUnavailableError) as e:
            click.echo(str(e), err=True)
            failures += 1
            continue
        click.echo(json.dumps(score_record(model_id, scored)))
    if failures:
        sys.exit(1)


def _daemon_running(instance: object) -> bool:
    """Whether a Dagster daemon has reported in during the last minute."""
    import time as _time

    try:
        beats = instance.get_daemon_heartbeats()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - no daemon storage: no daemon
        return False
    return any(_time.time() - hb.timestamp < 60 for hb in beats.values())


def _print_outcome(request: dict, registry_path: str) -> int:
    """Print an ingest request's outcome; return the exit code (0 only on success)."""
    from hub_assets.errors import exit_code
    from hub_assets.registry.packages import find_package_by_id
    from hub_assets.registry.store import Registry

    if request["status"] != "succeeded":
        outcome = request["outcome"] or "error"
        click.echo(
            f"Ingest of {request['model_id']} failed ({outcome}): {request['message']}",
            err=True,
        )
        return exit_code(outcome)
    with Registry(registry_path).read() as con:
        package = find_package_by_id(con, request["package_id"])
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


@main.command("ingest")
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
    from hub_assets.hub.client import InvalidModelIdError, check_model_id
    from hub_assets.packaging.package import InvalidVersionError, check_version
    from hub_assets.registry import packages as reg_packages
    from hub_assets.registry.store import Registry

    try:
        check_model_id(model_id)
        if version is not None:
            check_version(version)
    except (InvalidModelIdError, InvalidVersionError) as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    path = os.environ.get("HUB_ASSETS_REGISTRY", DEFAULT_REGISTRY)
    registry = Registry(path)
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

    ensure_dagster_home()
    with DagsterInstance.get() as instance:
        if not _daemon_running(instance):
            click.echo("No Dagster daemon is running: running the request here.", err=True)
            from hub_assets.local_runs import release_abandoned_runs, tick_sensor

            release_abandoned_runs(instance)
            tick_sensor(instance, "ingest_request_sensor", cursor=str(request_id - 1))
    deadline = time.monotonic() + timeout
    while True:
        with registry.read() as con:
            request = reg_packages.get_request(con, request_id)
        if request["status"] in ("succeeded", "failed"):
            sys.exit(_print_outcome(request, path))
        if time.monotonic() > deadline:
            click.echo(
                f"Request {request_id} still {request['status']} after {timeout}s.", err=True
            )
            sys.exit(1)
        time.sleep(2)


@main.command("status")
@click.argument("model_id")
@click.option("--registry", "registry_path", default=None)
def status(model_id: str, registry_path: str | None) -> None:
    """Print a model's lifecycle history (oldest first)."""
    from hub_assets.hub.client import InvalidModelIdError, check_model_id
    from hub_assets.registry.models import status_history
    from hub_assets.registry.store import Registry, RegistryError

    try:
        check_model_id(model_id)
        reg = Registry(registry_path or os.environ.get("HUB_ASSETS_REGISTRY", DEFAULT_REGISTRY))
        with reg.read() as con:
            history = status_history(con, model_id)
    except (InvalidModelIdError, RegistryError) as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    if not history:
        click.echo(
            f"Model {model_id!r} is not in the registry. Discovery records models "
            'it finds; `hub-assets sql "SELECT model_id FROM models"` lists them.',
            err=True,
        )
        sys.exit(1)
    click.echo(model_id)
    for at, st, reason, sha, run_id in history:
        click.echo(
            f"  {at:%Y-%m-%d %H:%M:%S}  {st:<12} {(sha or '')[:12]:<12} "
            f"run {(run_id or '')[:8]}  {reason or ''}"
        )


if __name__ == "__main__":
    main()
