"""What every command does first: find the project, read the settings or exit in words."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub_assets.errors import SettingsError, exit_code

if TYPE_CHECKING:
    from hub_assets.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent  # the repository


def settings_or_exit() -> Settings:
    """The settings, or the invalid variable in words and exit code 2."""
    from hub_assets.settings import load_settings  # pydantic-settings: only when run

    try:
        return load_settings()
    except SettingsError as e:
        click.echo(str(e), err=True)
        sys.exit(exit_code(e.outcome))
