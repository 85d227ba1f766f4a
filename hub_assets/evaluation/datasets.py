"""Evaluation datasets: loaded once through the Hub at a pinned revision, kept as Parquet.

After the first load everything works offline: a pinned revision never changes, so the
Parquet files under the cache folder are the dataset. A new upstream revision is picked up
only when its pin changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hub_assets.environment import child_environment
from hub_assets.errors import DatasetLoadError
from hub_assets.evaluation.measurement import QA_TASK, RETRIEVAL_TASK


@dataclass(frozen=True)
class DatasetPin:
    """A dataset repo at an exact revision, with the (config, split) pairs we use."""

    repo_id: str
    revision: str
    task: str
    splits: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        return f"{self.repo_id.replace('/', '--')}@{self.revision}"


DEFAULT_PINS = (
    DatasetPin(
        "hub-assets-demo/fictional-towns-qa",
        "bd66c690e15564539c71c0bdba419078e6e4fcf1",
        QA_TASK,
        (("default", "validation"),),
    ),
    DatasetPin(
        "hub-assets-demo/everyday-retrieval",
        "fa1c4a5f3fbe9d27054ebcb841d10de1fd78e61b",
        RETRIEVAL_TASK,
        (("corpus", "corpus"), ("queries", "queries"), ("qrels", "test")),
    ),
)


def pins_from(qa: str | None = None, retrieval: str | None = None) -> tuple[DatasetPin, ...]:
    """The pins, with `qa` / `retrieval` (`repo@sha`, HUB_ASSETS_QA_DATASET and
    HUB_ASSETS_RETRIEVAL_DATASET, validated by the settings) replacing the defaults' repo and
    revision."""
    out = []
    for pin, value in zip(DEFAULT_PINS, (qa, retrieval), strict=True):
        if value:
            repo, _, rev = value.partition("@")
            pin = DatasetPin(repo, rev, pin.task, pin.splits)
        out.append(pin)
    return tuple(out)


@dataclass(frozen=True)
class CachedDataset:
    """A pinned dataset's Parquet files, fingerprint and row counts."""

    pin: DatasetPin
    folder: Path
    fingerprint: str
    rows: dict[str, int]
    loaded_now: bool

    def frame(self, config: str, split: str) -> pd.DataFrame:
        return pd.read_parquet(self.folder / f"{config}-{split}.parquet")


def _fingerprint(folder: Path, names: list[str]) -> str:
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode())
        h.update(hashlib.sha256((folder / name).read_bytes()).digest())
    return h.hexdigest()


def cache_dataset(
    pin: DatasetPin,
    endpoint: str,
    cache_root: Path,
    token: str | None = None,
    timeout_s: float = 600,
    offline: bool = False,
) -> CachedDataset:
    """The pinned dataset as Parquet under `cache_root`, loading it through the Hub once
    (never when `offline`: then only the cache serves, and a miss says so)."""
    folder = cache_root / pin.key
    names = [f"{config}-{split}.parquet" for config, split in pin.splits]
    stamp = folder / "dataset.json"
    if stamp.exists():
        info = json.loads(stamp.read_text())
        return CachedDataset(pin, folder, info["fingerprint"], info["rows"], False)
    if offline:
        raise DatasetLoadError(
            f"Dataset {pin.repo_id}@{pin.revision} is not cached and offline mode "
            "(HF_HUB_OFFLINE=1) forbids loading it. Run once with the Hub reachable."
        )
    cache_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".loading-", dir=cache_root))
    env = child_environment(
        set={
            "HF_ENDPOINT": endpoint.rstrip("/"),
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
            **({"HF_TOKEN": token} if token else {}),
        },
        drop=("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") + (() if token else ("HF_TOKEN",)),
    )
    try:
        triples = [
            str(part)
            for (config, split), name in zip(pin.splits, names, strict=True)
            for part in (config, split, work / name)
        ]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "hub_assets.evaluation.fetch_dataset",
                pin.repo_id,
                pin.revision,
                str(cache_root / ".hf"),
                *triples,
            ],
            stdin=subprocess.DEVNULL,  # nothing may prompt, nothing can answer
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout_s,
        )
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            splits = ", ".join(f"{c}/{s}" for c, s in pin.splits)
            raise DatasetLoadError(
                f"Cannot load {pin.repo_id}@{pin.revision} ({splits}) from "
                f"{endpoint} and it is not cached: {last}"
            )
        rows = json.loads(proc.stdout.strip().splitlines()[-1])
        fingerprint = _fingerprint(work, names)
        (work / "dataset.json").write_text(
            json.dumps(
                {
                    "repo_id": pin.repo_id,
                    "revision": pin.revision,
                    "fingerprint": fingerprint,
                    "rows": rows,
                },
                indent=1,
            )
        )
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return CachedDataset(pin, folder, fingerprint, rows, True)
