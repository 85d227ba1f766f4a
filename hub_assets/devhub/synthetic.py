"""Listing-only synthetic models: metadata for discovery at scale, no files on disk.

Model `i` is fully determined by `(seed, i)`. Attributes are drawn for all models at once
with NumPy the first time they are needed (8 bytes a model per attribute, so a million
models cost a few tens of MB), and each model's JSON is built only when it is served.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime

import numpy as np

PIPELINE_TAGS = (
    "text-generation",
    "text2text-generation",
    "feature-extraction",
    "sentence-similarity",
    "text-classification",
    "fill-mask",
)
LIBRARIES = ("transformers", "sentence-transformers", "transformers", "gguf", "diffusers")
LICENSES = ("apache-2.0", "mit", "openrail", "bsd-3-clause", "gpl-3.0", "cc-by-nc-4.0", None)
_EPOCH_2020 = 1577836800
_SPAN = 6 * 365 * 86400  # createdAt spreads over six years


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class SyntheticModels:
    """`count` deterministic listing-only models, named `synthetic-org-K/model-NNNNNNN`."""

    def __init__(self, count: int, seed: int = 0) -> None:
        if count < 0:
            raise ValueError(f"Synthetic model count must be ≥ 0, got {count}.")
        self.count = count
        self.seed = seed
        self._cols: dict[str, np.ndarray] | None = None
        self._orders: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _columns(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._cols is None:
                n = self.count
                rng = np.random.default_rng(self.seed)
                created = _EPOCH_2020 + rng.integers(0, _SPAN, n)
                self._cols = {
                    "downloads": rng.lognormal(6.0, 2.5, n).astype(np.int64),
                    "likes": rng.lognormal(1.5, 1.8, n).astype(np.int64),
                    "createdAt": created,
                    "lastModified": created + rng.integers(0, 400 * 86400, n),
                    "trendingScore": rng.integers(0, 200, n),
                    "pipeline": rng.integers(0, len(PIPELINE_TAGS), n).astype(np.int8),
                    "library": rng.integers(0, len(LIBRARIES), n).astype(np.int8),
                    "license": rng.integers(0, len(LICENSES), n).astype(np.int8),
                    "safetensors": rng.random(n) < 0.8,
                }
            return self._cols

    def order(self, sort: str, descending: bool) -> np.ndarray:
        """Model indexes sorted by `sort` (ties broken by index), computed once per key."""
        key = f"{sort}:{descending}"
        cols = self._columns()
        with self._lock:
            if key not in self._orders:
                if sort == "id" or sort not in cols:
                    idx = np.arange(self.count)
                    self._orders[key] = idx[::-1].copy() if descending else idx
                else:
                    vals = cols[sort]
                    self._orders[key] = np.lexsort(
                        (np.arange(self.count), -vals if descending else vals)
                    )
            return self._orders[key]

    def sort_value(self, i: int, sort: str) -> int | str:
        """The value model `i` is sorted on."""
        if sort == "id":
            return self.repo_id(i)
        return int(self._columns()[sort][i])

    def repo_id(self, i: int) -> str:
        return f"synthetic-org-{i % 997:03d}/model-{i:07d}"

    def index_of(self, repo_id: str) -> int | None:
        """The index of a synthetic model id, or None if it names no synthetic model."""
        org, _, name = repo_id.partition("/")
        if not (org.startswith("synthetic-org-") and name.startswith("model-")):
            return None
        try:
            i = int(name[len("model-") :])
        except ValueError:
            return None
        if 0 <= i < self.count and self.repo_id(i) == repo_id:
            return i
        return None

    def info(self, i: int) -> dict:
        """The full Hub JSON of model `i` (as `/api/models/{id}` would return it)."""
        c = self._columns()
        repo_id = self.repo_id(i)
        pipeline = PIPELINE_TAGS[c["pipeline"][i]]
        library = LIBRARIES[c["library"][i]]
        license_ = LICENSES[c["license"][i]]
        tags = [library, pipeline, "en"]
        if c["safetensors"][i]:
            tags.append("safetensors")
        else:
            tags.append("pytorch")
        if license_:
            tags.append(f"license:{license_}")
        sha = hashlib.sha1(f"synthetic:{self.seed}:{i}".encode()).hexdigest()
        card = {"library_name": library, "pipeline_tag": pipeline}
        if license_:
            card["license"] = license_
        weights = "model.safetensors" if c["safetensors"][i] else "pytorch_model.bin"
        return {
            "_id": sha[:24],
            "id": repo_id,
            "modelId": repo_id,
            "author": repo_id.split("/")[0],
            "sha": sha,
            "lastModified": _iso(c["lastModified"][i]),
            "createdAt": _iso(c["createdAt"][i]),
            "private": False,
            "disabled": False,
            "gated": False,
            "downloads": int(c["downloads"][i]),
            "likes": int(c["likes"][i]),
            "trendingScore": int(c["trendingScore"][i]),
            "pipeline_tag": pipeline,
            "library_name": library,
            "tags": tags,
            "cardData": card,
            "siblings": [{"rfilename": n} for n in ("README.md", "config.json", weights)],
        }
