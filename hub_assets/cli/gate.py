"""`hub-assets gate diff|apply|history`: what a proposed gate config would change, applying
it as an audited change, and the changes applied so far."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from hub_assets.cli.browse import FORMAT, table
from hub_assets.cli.registry import open_registry
from hub_assets.cli.startup import settings_or_exit
from hub_assets.errors import HubAssetsError, exit_code


@click.group("gate")
def gate() -> None:
    """The quality gate: try a proposed config on the stored evidence, apply it, list the
    changes."""


@gate.command("diff")
@click.option(
    "--proposed",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The gate config to try (YAML, as HUB_ASSETS_GATE_CONFIG).",
)
@FORMAT
def diff(proposed: Path, fmt: str) -> None:
    """Re-decide every judged revision under the proposed config from its stored gate
    metrics (no model runs, nothing is fetched), and list each flip with the metrics that
    flip it, the mirror users who pulled that revision and the recorded lockfiles that pin
    it. Nothing is written."""
    from hub_assets.gate.config import load_gate_config
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.pipeline.gate_diff import gate_diff

    settings = settings_or_exit()
    pipeline = Pipeline.from_settings(settings)
    try:
        current = pipeline.gate_config()
        candidate = load_gate_config(proposed, pipeline.devices())
        result = gate_diff(open_registry(settings), current, candidate)
    except HubAssetsError as e:
        click.echo(str(e), err=True)
        sys.exit(exit_code(e.outcome))
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "current": current.version,
                    "proposed": candidate.version,
                    "judged": result.judged,
                    "flips": [
                        {
                            "model_id": f.model_id,
                            "revision_sha": f.sha,
                            "passed_now": f.was_passed,
                            "passed_proposed": f.now_passed,
                            "metrics": [
                                {"metric": m, "score": s, "threshold": t, "proposed": p}
                                for m, s, t, p in f.metrics
                            ],
                            "mirror_users": f.mirror_users,
                            "lockfiles": f.lockfiles,
                        }
                        for f in result.flips
                    ],
                },
                indent=2,
            )
        )
    else:
        click.echo(
            f"Gate {current.version} -> {candidate.version}: {len(result.flips)} of "
            f"{result.judged} judged revisions flip ({result.newly_failing} would fail, "
            f"{result.newly_passing} would pass)."
        )
        if result.flips:
            click.echo(
                table(
                    [
                        "model",
                        "revision",
                        "now",
                        "proposed",
                        "because",
                        "mirror users",
                        "lockfiles",
                    ],
                    [
                        [
                            f.model_id,
                            f.sha[:12],
                            "pass" if f.was_passed else "fail",
                            "pass" if f.now_passed else "fail",
                            ", ".join(
                                f"{m} {'-' if s is None else f'{s:.2f}'} vs {t:.2f}->{p:.2f}"
                                for m, s, t, p in f.metrics
                            )
                            or "(recorded verdict differs from its stored scores)",
                            ", ".join(f.mirror_users) or "-",
                            ", ".join(f.lockfiles) or "-",
                        ]
                        for f in result.flips
                    ],
                )
            )


@gate.command("apply")
@click.option(
    "--proposed",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The gate config to apply (YAML, with a new `version`).",
)
@click.option("--reason", required=True, help="Why the gate changes (audited).")
@click.option("--user", required=True, help="Who applies it (audited).")
@click.option("--yes", is_flag=True, help="Apply; without it, only show what would flip.")
def apply(proposed: Path, reason: str, user: str, yes: bool) -> None:
    """Make a new gate config the registry's gate, with who and why (audited): every later
    decision uses it. Shows first what it flips on the stored evidence (as `gate diff`);
    applies only with --yes. Verdicts already made stay until their models are judged
    again."""
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.pipeline.gate_changes import apply_gate_config

    settings = settings_or_exit()
    pipeline = Pipeline.from_settings(settings)
    try:
        text = proposed.read_text()
    except (OSError, UnicodeDecodeError) as e:
        click.echo(f"Cannot read {proposed}: {e}", err=True)
        sys.exit(exit_code("invalid"))
    try:
        current = pipeline.gate_config()
        change = apply_gate_config(
            open_registry(settings),
            current,
            text,
            str(proposed),
            pipeline.devices(),
            by=user,
            reason=reason,
            confirm=yes,
        )
    except HubAssetsError as e:
        click.echo(str(e), err=True)
        sys.exit(exit_code(e.outcome))
    diff = change.diff
    click.echo(
        f"Gate {current.version} -> {change.proposed.version}: {len(diff.flips)} of "
        f"{diff.judged} judged revisions flip ({diff.newly_failing} would fail, "
        f"{diff.newly_passing} would pass)."
    )
    if change.applied is None:
        click.echo("Not applied: run again with --yes to apply it (gate diff lists the flips).")
        return
    click.echo(f"Applied as the registry's gate (change {change.applied}), by {user}.")


@gate.command("history")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def history(limit: int) -> None:
    """The gate configs applied through the registry, newest first: who, when, why, and
    what each flipped."""
    from hub_assets.pipeline.gate_changes import gate_history

    try:
        rows = gate_history(open_registry(settings_or_exit()), limit)
    except HubAssetsError as e:
        click.echo(str(e), err=True)
        sys.exit(exit_code(e.outcome))
    if not rows:
        click.echo("No gate config was applied through the registry: the gate is the file's.")
        return
    click.echo(
        table(
            ["applied", "version", "was", "by", "flips", "reason"],
            [
                [
                    f"{r.applied_at:%Y-%m-%d %H:%M}",
                    r.version,
                    r.previous or "-",
                    r.applied_by,
                    f"{r.flips} ({r.newly_failing} fail, {r.newly_passing} pass)",
                    r.reason[:60],
                ]
                for r in rows
            ],
        )
    )
