"""Comparability keys: what a verdict or a score rests on, in a form a program can compare.

Each stored verdict (a scanner verdict, a gate result) and each evaluation score carries
its *basis*, a small JSON object naming its inputs (scanner names, versions and rule-set
digests; the gate config's digest; the scorer's version, the dataset's revision and
fingerprint, the backend), and the basis's *key*, a digest of it. The model and its sha
are the row's own columns, not part of the key: two models' scores are comparable when
their keys are equal, and a verdict is stale when its key differs from the key the
current scanners, gate or scorer would give.

Rows written before keys existed have a key beginning `legacy-` (migration 22 made it
from their stored columns): equal only to rows with the same stored inputs, never to a
current key, so they are never mixed with new scores and read as stale.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

LEGACY_PREFIX = "legacy-"


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _spelling(value: object) -> str:
    """A text for an object that is the same in every process: its type and its fields
    when it has them, else its `repr` without memory addresses."""
    if hasattr(value, "__dict__") and not isinstance(value, type):
        fields = canonical(vars(value))
        return f"{type(value).__module__}.{type(value).__qualname__}({fields})"
    return _ADDRESS.sub("", repr(value))


def _plain(value: object) -> object:
    """`value` as JSON-able data with one spelling in every process: sets and frozensets
    sorted, tuples as lists, mappings with text keys, other objects by `_spelling`."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else _spelling(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _spelling(value)


def canonical(value: object) -> str:
    """The one text of `value` that its digest is taken of (sorted keys, no spaces)."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))


def digest(value: object) -> str:
    """A short SHA-256 digest of `value`'s canonical text (a rule set, a config)."""
    return hashlib.sha256(canonical(value).encode()).hexdigest()[:24]


def basis_key(basis: Mapping[str, object]) -> str:
    """The comparability key of a basis: equal exactly when the bases are equal."""
    return digest(basis)


def is_legacy(key: str | None) -> bool:
    """Whether `key` was made from a row stored before keys existed (or is missing)."""
    return key is None or key.startswith(LEGACY_PREFIX)
