"""The client's persistent metadata cache: one JSON file per (endpoint, repo, revision, kind),
written atomically, so any number of processes can share it."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

CACHE_FORMAT = 2  # bump when the cached shape changes: older entries are then ignored


class MetadataCache:
    """Cached Hub answers under `root`, kept apart per Hub endpoint."""

    def __init__(self, root: Path, endpoint: str) -> None:
        self.root = root / hashlib.sha1(endpoint.encode()).hexdigest()[:12]

    def path(self, kind: str, repo_id: str, revision: str) -> Path:
        """Where the `kind` answer ("metadata", "dataset") for a repo revision is kept."""
        return self.root / f"{repo_id.replace('/', '--')}@{revision}.{kind}.json"

    def read(self, path: Path) -> tuple[dict, float] | None:
        """(data, fetched_at epoch) of a cached answer, or None when absent or outdated."""
        try:
            raw = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        if raw.get("format") != CACHE_FORMAT:
            return None
        return raw["data"], raw["fetched_at"]

    def write(self, path: Path, data: dict) -> float:
        """Store an answer atomically; return when it was fetched (epoch seconds)."""
        now = time.time()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps({"format": CACHE_FORMAT, "fetched_at": now, "data": data}))
        os.replace(tmp, path)
        return now
