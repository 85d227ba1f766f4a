"""`hub-assets sql | status | score`: read the registry, score models now."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from hub_assets.cli.startup import settings_or_exit

if TYPE_CHECKING:
    from hub_assets.registry.store import Registry
    from hub_assets.settings import Settings


def open_registry(settings: Settings, path: str | None = None) -> Registry:
    """The registry of the settings (or at `path`), with the one configured lock timeout."""
    from hub_assets.registry.location import registry_at

    return registry_at(path or settings.registry, lock_timeout_s=settings.registry_lock_timeout_s)


@click.command("migrate")
@click.option(
    "--from",
    "source",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="A registry file to copy into the configured shared registry (which must be empty).",
)
def migrate(source: str | None) -> None:
    """Create or upgrade the registry's tables (HUB_ASSETS_REGISTRY: the file or the shared
    registry); with --from, move a registry file's rows into an empty shared registry."""
    from hub_assets.errors import RegistryError
    from hub_assets.registry.store import Registry

    settings = settings_or_exit()
    reg = open_registry(settings)
    try:
        if source is None:
            applied = reg.ensure_schema()
            click.echo(
                f"Registry {reg.location}: "
                + (f"applied migrations {applied}." if applied else "schema already current.")
            )
            return
        if not reg.shared:
            raise RegistryError(
                "--from copies into the shared registry: set HUB_ASSETS_REGISTRY to a "
                "postgresql:// URL first (docs/deployment.md)."
            )
        from hub_assets.registry.postgres import copy_file_registry

        copied = copy_file_registry(Registry(source), reg)
    except RegistryError as e:
        click.echo(str(e), err=True)
        sys.exit(2)
    total = sum(copied.values())
    click.echo(f"Copied {total:,} rows from {source} into {reg.location}:")
    for table, rows in copied.items():
        if rows:
            click.echo(f"  {table:<22} {rows:>8,}")


@click.command("sql")
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

    from hub_assets.errors import RegistryError

    reg = open_registry(settings_or_exit(), registry_path)
    try:
        with reg.read_apart() as con:  # typed SQL reaches nothing but the registry
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


@click.command("score")
@click.argument("model_ids", nargs=-1, required=True)
@click.option(
    "--no-reproducibility",
    is_flag=True,
    help="Skip running the model (reproducibility is reported as 0).",
)
def score(model_ids: tuple[str, ...], no_reproducibility: bool) -> None:
    """Score models now and print one NDJSON line per model: the pipeline's own scoring
    stage (the same function the trust_metrics asset calls), so the values are the
    pipeline's for the same revision.

    Reads the Hub at HUB_ASSETS_HUB_ENDPOINT through the metadata cache; with the Hub down or
    HF_HUB_OFFLINE=1, a model the pipeline has seen scores from the cache, the registry and
    the verified snapshots alone. Previous values with unchanged inputs are reused, lineage
    parents, ancestors and the revision's shadow evaluation come from the registry. No
    score is written (ancestors read on the way are kept in the model tree).
    """
    from huggingface_hub.utils import disable_progress_bars

    from hub_assets.errors import HubAssetsError, InvalidModelIdError, RegistryError
    from hub_assets.ids import check_model_id
    from hub_assets.metrics.evidence import ModelEvidence
    from hub_assets.metrics.report import score_record
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.registry import metrics as reg_metrics

    settings = settings_or_exit()
    disable_progress_bars()  # stdout is NDJSON
    stages = Pipeline.from_settings(settings)
    client = stages.client()
    try:
        registry = stages.registry
        registry.ensure_schema()
    except RegistryError as e:
        click.echo(str(e), err=True)
        sys.exit(2)

    def known_revision(model_id: str) -> tuple[str, str] | None:
        with registry.read() as con:
            return reg_metrics.last_known_revision(con, model_id)

    client.known_revision = known_revision
    failures = 0
    for model_id in model_ids:
        try:
            check_model_id(model_id)
            fetched = client.model_metadata(model_id)
            if fetched.note:
                click.echo(f"{model_id}: {fetched.note}", err=True)
            sha = ModelEvidence.from_metadata(model_id, fetched.data).sha
            scored = stages.score(
                client,
                model_id,
                "cli-score",
                revision=(sha, fetched.data),
                record=False,
                run_reproducibility=not no_reproducibility and settings.repro,
                hub_reachable=not fetched.offline,
            ).scored
        except InvalidModelIdError as e:
            click.echo(str(e), err=True)
            sys.exit(2)
        except HubAssetsError as e:
            click.echo(f"{model_id}: {e}", err=True)
            failures += 1
            continue
        click.echo(json.dumps(score_record(model_id, scored)))
    if failures:
        sys.exit(1)


@click.command("status")
@click.argument("model_id")
@click.option("--registry", "registry_path", default=None)
def status(model_id: str, registry_path: str | None) -> None:
    """Print a model's lifecycle history (oldest first)."""
    from hub_assets.errors import InvalidModelIdError, RegistryError
    from hub_assets.ids import check_model_id
    from hub_assets.registry.metrics import revision_metrics
    from hub_assets.registry.models import status_history

    try:
        check_model_id(model_id)
        reg = open_registry(settings_or_exit(), registry_path)
        with reg.read() as con:
            history = status_history(con, model_id)
            sha = next((h[3] for h in reversed(history) if h[3]), None)
            current = revision_metrics(con, model_id, sha) if sha else {}
            licence = current.get("licence_obligations")
            performance = current.get("performance_claims")
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
    if licence is not None and licence.details:
        d = licence.details
        click.echo(f"Licence chain: {d.get('chain')}")
        inherited = ", ".join(
            f"{o} ({', '.join(src)})" for o, src in d.get("obligations", {}).items()
        )
        click.echo(f"  obligations: {inherited or 'none'}")
        for line in d.get("violations", []) + d.get("findings", []):
            click.echo(f"  ! {line}")
    sets = ((performance.details or {}) if performance else {}).get("evaluation_sets") or []
    if sets:
        click.echo("Evaluation sets:")
    for e in sets:
        click.echo(f"  {e['dataset']}: {e['measured']}, {e['contamination']} ({e['role']})")
        if e["contamination"] not in ("zero_shot", "not_checked"):
            click.echo(f"    {e['contamination_detail']}")


def leaderboard_text(settings: Settings) -> str:
    """The leaderboard as a plain table."""
    import pandas as pd

    from hub_assets.registry.evaluations import leaderboard

    registry = open_registry(settings)
    registry.ensure_schema()
    with registry.read() as con:
        frame = leaderboard(con)
    if not len(frame):
        return "(no evaluations yet)"
    frame["rank"] = [("" if pd.isna(r) else str(int(r))) for r in frame["rank"]]
    return frame.astype(object).where(frame.notna(), "").to_string(index=False)


def registry_summary_text(settings: Settings) -> str:
    """Each model's status, net score and gate outcome, read-only from the registry."""
    from hub_assets.registry.models import registry_summary

    reg = open_registry(settings)
    with reg.read() as con:
        status, rows = registry_summary(con)
    lines = [f"Registry {reg.location}: " + ", ".join(f"{n} {st}" for st, n in status)]
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
