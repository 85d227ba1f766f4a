"""The reproducibility metric: really run the model, in a child process with limits.

The revision's loadable files (safetensors or its smallest GGUF file, configs and tokenizer
files: pickles are never read; a PEFT adapter's base too) come from the verified snapshot
store, so nothing unverified is ever run; then `reproduce_child` loads them with transformers
(`trust_remote_code=False`) and runs the pipeline of the model's task on a fixed input, in
the box of `box.sandbox` (stdin closed, scratch folder, no writes elsewhere, no TCP,
a timeout and an address-space cap), forked by `box.warm` (which imported the
runtime once, so a run takes a fraction of a second, not the six of a cold start), and
only once the snapshot bears its passing security verdict. 1.0 runs as documented; 0.5 runs
only with a fallback; 0.0 fails. The reason is recorded either way, with the run's
measurement (peak RSS, load time, time to the first output) for the hardware-fit
estimate's error.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from hub_assets.box.sandbox import run_boxed
from hub_assets.box.warm import warm_box
from hub_assets.environment import box_environment
from hub_assets.errors import (
    GatedModelError,
    MalformedGgufError,
    ModelNotFoundError,
    NotClearedError,
)
from hub_assets.hub.clearance import require_cleared
from hub_assets.hub.client import HubClient
from hub_assets.hub.gguf_header import read_local_gguf_header
from hub_assets.hub.snapshots import LOADABLE_PATTERNS, SnapshotStore
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.trust import MetricResult

log = logging.getLogger(__name__)
SCORES = {"documented": 1.0, "fallback": 0.5, "failed": 0.0}
_CHILD = "hub_assets.metrics.reproduce_child"


@dataclass(frozen=True)
class ReproducibilityLimits:
    """Bounds of one reproducibility run (HUB_ASSETS_REPRO_*: their defaults are written in
    `settings.py` only, and `Pipeline.limits` passes them)."""

    timeout_s: float
    memory_mb: int
    max_weight_bytes: int


def reproducibility(
    client: HubClient,
    ev: ModelEvidence,
    store: SnapshotStore | Path,
    limits: ReproducibilityLimits,
) -> MetricResult:
    """Run the revision's task once on its verified snapshot (see module). `store` is the
    snapshot store, or a folder to keep one in."""
    if not isinstance(store, SnapshotStore):
        store = SnapshotStore(Path(store))
    task = ev.info.get("pipeline_tag") or ev.card_data.get("pipeline_tag") or "feature-extraction"
    inputs = {
        "revision": ev.sha,
        "task": task,
        "limits": limits.__dict__,
        "files": {
            p: f.get("lfs_sha256") or f.get("blob_id")
            for p, f in ev.files.items()
            if not p.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl"))
        },
    }
    weights = ev.weight_files()
    safetensors = {p: n for p, n in weights.items() if p.endswith(".safetensors")}
    gguf = ev.runnable_gguf()
    if gguf:
        safetensors = {gguf: ev.files[gguf].get("size") or 0}
        inputs["gguf_file"] = gguf
    if not safetensors:
        return MetricResult(
            0.0, "no safetensors or GGUF weights (pickle files are never loaded)", inputs
        )
    size = sum(safetensors.values())
    if size > limits.max_weight_bytes:
        return MetricResult(
            0.0,
            f"weights of {size / 1e9:.1f} GB exceed the {limits.max_weight_bytes / 1e9:.1f}"
            " GB reproducibility limit",
            inputs,
        )
    patterns = LOADABLE_PATTERNS + ((gguf,) if gguf else ())
    base = ev.adapter_base()
    try:
        with ExitStack() as stack:
            snapshot = stack.enter_context(
                store.use(client, ev.model_id, ev.sha, ev.info.get("siblings") or [], patterns)
            )
            require_cleared(snapshot.folder)  # the security verdict first, always
            base_folder = None
            if base:
                meta = client.model_metadata(base).data
                inputs["base"] = f"{base}@{meta['info']['sha']}"
                base_folder = stack.enter_context(
                    store.use(
                        client,
                        base,
                        meta["info"]["sha"],
                        meta["info"]["siblings"] or [],
                        LOADABLE_PATTERNS,
                    )
                ).folder
            if gguf:  # the verified bytes' header, checked before any loader sees them
                try:
                    read_local_gguf_header(snapshot.folder / gguf)
                except MalformedGgufError as e:
                    return MetricResult(
                        0.0, f"not run: {gguf}: malformed GGUF header ({e})", inputs
                    )
            return _run_child(snapshot.folder, ev.model_id, task, limits, inputs, gguf, base_folder)
    except GatedModelError:
        return MetricResult(0.0, "gated repo: the configured token has no access", inputs)
    except NotClearedError as e:
        return MetricResult(0.0, f"not run: {e}", inputs)
    except ModelNotFoundError as e:
        return MetricResult(0.0, f"the adapter's base cannot be had: {e}", inputs)


def _run_child(
    target: Path,
    model_id: str,
    task: str,
    limits: ReproducibilityLimits,
    inputs: dict,
    gguf: str | None = None,
    base: Path | None = None,
) -> MetricResult:
    env = box_environment(
        {
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
    )  # no secret, no setting: the child needs none
    log.info("reproducibility child started for %s (%s)", model_id, task)
    # absolute paths: the child runs in a scratch folder of its own
    args = (
        [str(Path(target).resolve()), task]
        + (["--gguf", gguf] if gguf else [])
        + (["--base", str(Path(base).resolve())] if base else [])
    )
    try:
        proc = warm_box(env, [_CHILD]).run(
            _CHILD, args, timeout_s=limits.timeout_s, memory_mb=limits.memory_mb
        ) or run_boxed(  # the warm box could not be had: the same box, started cold
            [sys.executable, "-m", _CHILD, *args],
            env=env,
            timeout_s=limits.timeout_s,
            memory_mb=limits.memory_mb,
        )
    except subprocess.TimeoutExpired:
        return MetricResult(0.0, f"did not finish within {limits.timeout_s:.0f} s", inputs)
    line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    try:
        outcome = json.loads(line)
    except ValueError:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        return MetricResult(
            0.0, f"the loader crashed (exit {proc.returncode}): {tail[0][:300]}", inputs
        )
    return MetricResult(
        SCORES[outcome["status"]],
        outcome["reason"],
        inputs,
        {"output": outcome.get("output"), "measurement": outcome.get("measurement")},
    )
