"""The Dagster instance the CLI runs against: its home folder and whether a daemon serves it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from hub_assets.cli.startup import PROJECT_ROOT
from hub_assets.environment import publish_to_children

if TYPE_CHECKING:
    from hub_assets.settings import Settings


def ensure_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME, defaulting to the project-local .dagster_home with the project's yaml;
    exported so that Dagster and its child processes find the same instance."""
    home = Path(settings.dagster_home or PROJECT_ROOT / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    src = PROJECT_ROOT / "dagster.yaml"
    if src.exists() and not (home / "dagster.yaml").exists():
        shutil.copy(src, home / "dagster.yaml")
    publish_to_children(DAGSTER_HOME=str(home))
    return home
