"""`hub-assets gate diff`: what a proposed gate config would change, before it is applied."""

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
    """The quality gate: try a proposed config on the registry's stored evidence."""


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
