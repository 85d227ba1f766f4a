"""The process environment handed to child processes: a leaf every floor may import.

Settings are read from the environment only in `settings.py`; this module reads no value
of it. It passes the environment on to the processes the product starts (the dataset
loader, the reproducibility child, Dagster's own subprocesses), with values set or dropped.
"""

from __future__ import annotations

import os


def child_environment(set: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict:
    """The environment for a child process: this one's, with `set` applied and `drop`
    removed (e.g. a token the child must not see)."""
    env = dict(os.environ, **(set or {}))
    for name in drop:
        env.pop(name, None)
    return env


def publish_to_children(**values: str) -> None:
    """Export values to this process's environment for the child processes it starts
    (Dagster's own subprocesses read DAGSTER_HOME and the Hub endpoint from there)."""
    os.environ.update(values)
