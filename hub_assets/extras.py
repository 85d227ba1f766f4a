"""The optional parts of the product (`pyproject.toml` extras) and a clear error when one is
asked for without its extra installed: `service` (`hub-assets serve`) and `scale` (the
shared registry in PostgreSQL, the Celery and Kubernetes executors)."""

from __future__ import annotations

import importlib.util

from hub_assets.errors import MissingExtraError


def require_extra(extra: str, module: str, what: str) -> None:
    """Raise `MissingExtraError` naming the pip command when `module` (a library of the
    `extra`) is not installed; `what` says which part of the product needs it."""
    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"{what} needs the optional '{extra}' dependencies ({module} is not installed): "
            f"pip install 'hub-assets[{extra}]'"
        )
