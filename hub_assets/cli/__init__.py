"""The `hub-assets` command: a thin shell over the product core, one module per group.

Each command reads the settings once (`settings_or_exit`, in `cli/startup.py`), so a bad
environment variable is one clear line and exit code 2 (`invalid`), never a traceback.
"""

from __future__ import annotations

import click


@click.group()
def main() -> None:
    """hub-assets: a curated, evaluated, auditable model registry over the Hugging Face Hub."""


def _register() -> None:
    from hub_assets.cli.browse import adapters, health, models, recommend, samples, tree
    from hub_assets.cli.events import events
    from hub_assets.cli.gate import gate
    from hub_assets.cli.ingest import ingest
    from hub_assets.cli.mirror import fetch, lock, mirror, usage, verify_cache
    from hub_assets.cli.proof import keys, verify
    from hub_assets.cli.publish import push
    from hub_assets.cli.registry import migrate, score, sql, status
    from hub_assets.cli.service import promote, reject, retire, serve, tokens, users

    for command in (sql, score, ingest, status, migrate, serve, users, tokens):
        main.add_command(command)
    for command in (mirror, lock, fetch, verify_cache, usage, push, promote, retire, reject):
        main.add_command(command)
    for command in (keys, verify, gate, events):
        main.add_command(command)
    for command in (models, health, recommend, adapters, tree, samples):
        main.add_command(command)


_register()
