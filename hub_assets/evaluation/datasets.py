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

from hub_assets.box.sandbox import BoxedResult
from hub_assets.box.warm import warm_box
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
    # no demo model declares it as training data (the demo QA model trains on the set above)
    DatasetPin(
        "hub-assets-demo/held-out-towns-qa",
        "a014aa086e3dff5e53e2a62bb61585c79ea644c8",
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
    """The pins: for each task the default sets, or those `qa` / `retrieval` name
    (`repo@sha[,repo@sha...]`: HUB_ASSETS_QA_DATASET and HUB_ASSETS_RETRIEVAL_DATASET,
    validated by the settings), with the splits of that task's default sets."""
    out: list[DatasetPin] = []
    for task, value in ((QA_TASK, qa), (RETRIEVAL_TASK, retrieval)):
        defaults = [p for p in DEFAULT_PINS if p.task == task]
        if not value:
            out += defaults
            continue
        for one in value.split(","):
            repo, _, rev = one.strip().partition("@")
            out.append(DatasetPin(repo, rev, task, defaults[0].splits))
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
    env = _child_env(endpoint, token)
    try:
        triples = [
            str(part)
            for (config, split), name in zip(pin.splits, names, strict=True)
            for part in (config, split, work / name)
        ]
        proc = _load([pin.repo_id, pin.revision, str(cache_root / ".hf"), *triples], env, timeout_s)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            splits = ", ".join(f"{c}/{s}" for c, s in pin.splits)
            raise DatasetLoadError(
                f"Cannot load {pin.repo_id}@{pin.revision} ({splits}) from "
                f"{endpoint} and it is not cached: {last}"
            )
        rows = json.loads(proc.stdout.strip().splitlines()[-1])["rows"]
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


_LOADER = "hub_assets.evaluation.fetch_dataset"
# what `datasets` and huggingface_hub read as they are imported (the endpoint, the caches):
# the warm loader is started with these, and started again when they change
_READ_AT_IMPORT = ("HF_", "XDG_", "HOME")


def _load(
    args: list[str], env: dict, timeout_s: float
) -> BoxedResult | subprocess.CompletedProcess:
    """Run the loader child on `args` (see fetch_dataset): forked from the warm box server,
    which imported `datasets` once, else started cold; `subprocess.TimeoutExpired` past
    the timeout either way."""
    imported = {k: v for k, v in env.items() if k.startswith(_READ_AT_IMPORT)}
    warm = warm_box(imported, [_LOADER]).run(
        _LOADER, args, timeout_s=timeout_s, confined=False, env=env
    )
    if warm is not None:
        return warm
    return subprocess.run(
        [sys.executable, "-m", _LOADER, *args],
        stdin=subprocess.DEVNULL,  # nothing may prompt, nothing can answer
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )


def _child_env(endpoint: str, token: str | None) -> dict:
    return child_environment(
        set={
            "HF_ENDPOINT": endpoint.rstrip("/"),
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
            **({"HF_TOKEN": token} if token else {}),
        },
        drop=("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") + (() if token else ("HF_TOKEN",)),
    )


@dataclass(frozen=True)
class TrainingText:
    """The text of a declared training dataset's rows, as far as the budget allowed."""

    repo_id: str
    revision: str
    texts: list[str]
    complete: bool  # False: cut at the row limit or the time budget


def read_training_text(
    repo_id: str,
    revision: str,
    endpoint: str,
    cache_root: Path,
    token: str | None,
    *,
    max_rows: int,
    budget_s: float,
) -> TrainingText:
    """Stream the `train` split of a declared training dataset (at most `max_rows` rows,
    within `budget_s` seconds) for the overlap check; raise DatasetLoadError when it
    cannot be read at all."""
    cache_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root, prefix=".training-") as work:
        out = Path(work) / "rows.jsonl"
        args = [str(cache_root / ".hf"), str(out), str(max_rows)]
        try:
            env = _child_env(endpoint, token)
            proc = _load(["--text", repo_id, revision, *args], env, budget_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            proc, timed_out = None, True
        if proc is not None and proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DatasetLoadError(f"Cannot read {repo_id}@{revision[:12]}'s train split: {last}")
        texts = []
        if out.exists():
            with out.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        texts.append(str(json.loads(line)))
                    except ValueError:  # the last line of a child stopped mid-write
                        break
        complete = not timed_out and json.loads(proc.stdout.strip().splitlines()[-1])["complete"]
        return TrainingText(repo_id, revision, texts, bool(complete))
