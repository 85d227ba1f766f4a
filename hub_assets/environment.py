"""The process environment handed to child processes: a leaf every floor may import.

Settings are read from the environment only in `settings.py`; this module reads no value
of it. It passes the environment on to the processes the product starts (the dataset
loader, the reproducibility child, Dagster's own subprocesses), with values set or dropped.
"""

from __future__ import annotations

import os

# Lookups beyond the configured Hub that the libraries make on their own, off in every child
# the product starts: `datasets` reports each load to s3.amazonaws.com with the dataset's
# name in the URL, huggingface_hub's telemetry, the `hf` CLI's update check (pypi.org).
NO_OUTSIDE_LOOKUPS = {
    "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
}


def child_environment(set: dict[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict:
    """The environment for a child process: this one's, with the outside lookups off,
    `set` applied and `drop` removed (e.g. a token the child must not see)."""
    env = dict(os.environ, **NO_OUTSIDE_LOOKUPS, **(set or {}))
    for name in drop:
        env.pop(name, None)
    return env


# All a boxed child that loads untrusted model files is handed of this process's environment
# (the values it needs are set by its caller): no secret of any kind, which an allowlist
# keeps so for the ones nobody thought of (a cloud key, a database URL, a webhook secret).
BOX_PASSES = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
)


def box_environment(set: dict[str, str]) -> dict:
    """The environment for a boxed child (see BOX_PASSES): the allowlisted names of this
    process's, the outside lookups off, and `set`."""
    passed = {name: os.environ[name] for name in BOX_PASSES if name in os.environ}
    return {**passed, **NO_OUTSIDE_LOOKUPS, **set}


def become(env: dict[str, str]) -> None:
    """Make this process's environment exactly `env`: a forked child taking on the one its
    caller would have handed an exec'd child (`box.warm`)."""
    os.environ.clear()
    os.environ.update(env)


def publish_to_children(**values: str) -> None:
    """Export values to this process's environment for the child processes it starts
    (Dagster's own subprocesses read DAGSTER_HOME and the Hub endpoint from there)."""
    os.environ.update(values)
