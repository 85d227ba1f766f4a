"""Per-model pipeline throughput without downloads: metadata → trust metrics (no
reproducibility run) → gate, over N synthetic models, through Dagster in-process and with the
Celery executor and two workers, against the same core functions in a plain loop.

Set-up (not timed): a development Hub serving N small models (card, config.json, a small
safetensors file whose header is read, never downloaded whole); a real PostgreSQL (Debian's
server, loopback) holding the Dagster instance (deploy/dagster.yaml) and one shared registry
per mode; a real Redis as the Celery broker. Each mode starts from an empty registry and
an empty metadata cache.

- core loop: `record_metadata`, `score_revision`, `gate_revision` for each model (what the
  three assets call), in as many processes at once as there are cores (one at --tiny),
  each over its share of the models, timed from the first model to the last;
- in_process: `rescoring_job` over ranges of HUB_ASSETS_MODELS_PER_RUN models, one
  `dagster job execute` process per range, as many at once as there are cores; steps run
  in the run's process;
- celery: the same runs with HUB_ASSETS_EXECUTOR=celery; steps run on two Celery workers.

Prints models per minute for each mode, `ratio_vs_core_loop=` (each Dagster mode's time
over the core loop's: the Dagster overhead per model) and the candidate sensor's first tick
at 10,000 partitions (bench_sensor.py's measurement: the slowest tick, and one with
nothing new).

    .venv/bin/python bench/bench_pipeline.py [--models 1000] [--per-run 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

JOB = "rescoring_job"
ORG = "bench-pipeline"


def model_ids(n: int) -> list[str]:
    """The bench's model ids, in the order their partitions are added."""
    return [f"{ORG}/model-{i:05d}" for i in range(n)]


def card(model_id: str, i: int) -> str:
    """A model card that scores like a reasonable model: licence, datasets, usage, claims."""
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-classification
datasets:
- stanfordnlp/imdb
language: en
model-index:
- name: {model_id.split("/")[1]}
  results:
  - task: {{type: text-classification}}
    dataset: {{name: imdb, type: stanfordnlp/imdb}}
    metrics:
    - {{type: accuracy, value: 0.{80 + i % 15}}}
---
# {model_id}

A small sentiment classifier fine-tuned on IMDB reviews (bench model {i}).

## Usage

```python
from transformers import pipeline
classifier = pipeline("text-classification", model="{model_id}")
classifier("A wonderful film.")
```

## Training

Trained for 3 epochs with AdamW (lr 2e-5, batch 32) on the IMDB train split; evaluated on
the test split. Code: https://github.com/example/imdb-classifier

## Limitations

English only; reviews longer than 512 tokens are truncated.
"""


def build_catalog(folder: Path, n: int) -> list[str]:
    """A development-Hub catalog of `n` models with several authors' commits each."""
    import numpy as np
    from safetensors.numpy import save

    from hub_assets.devhub.catalog import Catalog

    catalog = Catalog(folder)
    weights = save({"classifier.weight": np.zeros((2, 64), dtype=np.float32)})
    config = {
        "architectures": ["BertForSequenceClassification"],
        "model_type": "bert",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 1000,
        "max_position_embeddings": 128,
    }
    ids = model_ids(n)
    for i, model_id in enumerate(ids):
        files = {
            "README.md": card(model_id, i).encode(),
            "config.json": json.dumps(config).encode(),
            "model.safetensors": weights,
        }
        catalog.commit("model", model_id, files, authors=["alice"], title="first version")
        catalog.commit(
            "model",
            model_id,
            {"README.md": (card(model_id, i) + "\nUpdated.\n").encode()},
            authors=["bob", "carol"],
            title="card update",
            meta={"downloads": 1000 + i, "likes": i % 50},
        )
    return ids


def core_loop(models: list[str]) -> None:
    """The three stages in a plain loop with the settings of the environment (a child
    process of this bench); prints the loop's seconds as JSON."""
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.settings import load_settings

    stages = Pipeline.from_settings(load_settings())
    client = stages.client()
    stages.registry.ensure_schema()
    config = stages.gate_config()
    started = time.time()
    for model_id in models:
        stages.record_metadata(client, model_id, "core-loop")
        stages.score(client, model_id, "core-loop")
        stages.gate(model_id, "core-loop", config)
    print(json.dumps({"start": started, "end": time.time()}))


def core_loops(env: dict, models: list[str], parallel: int) -> float:
    """The core loop in `parallel` processes at once (as many as the Dagster modes run),
    each over its share of the models; seconds from the first model to the last."""
    share = [models[i::parallel] for i in range(parallel)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--core-loop", *part],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in share
    ]
    spans = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"core loop failed:\n{err[-3000:]}")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    return max(s["end"] for s in spans) - min(s["start"] for s in spans)


def gated(registry_url: str, models: list[str]) -> tuple[int, int]:
    """(models with a gate decision, of which passed) in a mode's registry."""
    from hub_assets.registry.location import registry_at

    with registry_at(registry_url).read() as con:
        rows = con.execute("SELECT model_id, passed FROM v_gate").fetchall()
    decided = {m: p for m, p in rows if m in set(models)}
    return len(decided), sum(1 for p in decided.values() if p)


def run_ranges(env: dict, ranges: list[tuple[str, str]], parallel: int, log: Path) -> float:
    """`dagster job execute` of the job once per range, `parallel` at a time; seconds."""

    def one(bounds: tuple[str, str]) -> int:
        tags = {
            "dagster/asset_partition_range_start": bounds[0],
            "dagster/asset_partition_range_end": bounds[1],
        }
        with open(log, "ab") as out:
            return subprocess.run(
                [str(BIN / "dagster"), "job", "execute", "-m", "hub_assets.definitions"]
                + ["-j", JOB, "--tags", json.dumps(tags)],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=3600,
            ).returncode

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, ranges))  # a range with a failed gate exits 1: counted below
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--per-run", type=int, default=100, help="models per run")
    parser.add_argument("--core-loop", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--skip-celery", action="store_true")
    parser.add_argument("--sensor-partitions", type=int, default=10_000)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.models, args.per_run, args.skip_celery, args.sensor_partitions = 4, 4, True, 20
    if args.core_loop is not None:
        core_loop(args.core_loop)
        return

    from bench_sensor import ticks

    from hub_assets.defs.evaluation.schedules import model_ranges
    from hub_assets.devhub.process import served_catalog
    from hub_assets_tests.local_servers import LocalPostgres, LocalRedis

    # one process a mode at --tiny: its four models make one run, so one core-loop process
    # is the like-for-like baseline (a second only cost the suite a process's imports)
    parallel = 1 if args.tiny else os.cpu_count() or 2
    results: dict[str, tuple[float, tuple[int, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        models = build_catalog(tmp / "hub", args.models)
        print(f"catalog: {len(models):,} models in {time.perf_counter() - started:.0f} s")
        pg = LocalPostgres().start()
        redis = None if args.skip_celery else LocalRedis().start()
        workers: list[subprocess.Popen] = []
        try:
            with served_catalog(tmp / "hub") as endpoint:
                base = {
                    **os.environ,
                    "HUB_ASSETS_HUB_ENDPOINT": endpoint,
                    "HUB_ASSETS_HUB_RATE_LIMIT": "0",  # our own Hub: no quota to respect
                    "HUB_ASSETS_REPRO": "false",
                    "HUB_ASSETS_MODELS_PER_RUN": str(args.per_run),
                    "HUB_ASSETS_PACKAGE_STORE": str(tmp / "packages"),
                    "HUB_ASSETS_EVAL_CACHE_DIR": str(tmp / "eval"),
                    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                }

                def mode_env(name: str) -> tuple[dict, str]:
                    url = pg.create_database(name)
                    return {
                        **base,
                        "HUB_ASSETS_REGISTRY": url,
                        "HUB_ASSETS_CACHE_DIR": str(tmp / name / "cache"),
                        "HUB_ASSETS_WORK_DIR": str(tmp / name / "work"),
                    }, url

                env, url = mode_env("core")
                seconds = core_loops(env, models, parallel)
                results["core_loop"] = (seconds, gated(url, models))
                print(f"core loop done in {seconds:.0f} s", flush=True)

                home = tmp / "dagster_home"
                home.mkdir()
                (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
                instance_env = {
                    "DAGSTER_HOME": str(home),
                    "DAGSTER_PG_HOST": "127.0.0.1",
                    "DAGSTER_PG_PORT": str(pg.port),
                    "DAGSTER_PG_USER": "hub",
                    "DAGSTER_PG_PASSWORD": "",
                    "DAGSTER_PG_DB": pg.create_database("dagster").rsplit("/", 1)[1],
                }
                os.environ.update(instance_env)
                import dagster as dg

                # the instance's tables are created as it first opens (dagster-postgres), in
                # this process: a `dagster instance migrate` process cost seconds of imports
                with dg.DagsterInstance.get() as instance:
                    for pool in ("model_runs", "registry", "packaging"):
                        instance.event_log_storage.set_concurrency_slots(pool, 8)
                    instance.add_dynamic_partitions("hf_models", models)
                ranges = model_ranges(models, set(models), args.per_run)

                env, url = mode_env("in_process")
                env |= instance_env | {"HUB_ASSETS_EXECUTOR": "in_process"}
                seconds = run_ranges(env, ranges, parallel, tmp / "in_process.log")
                results["in_process"] = (seconds, gated(url, models))
                print(f"in_process done in {seconds:.0f} s", flush=True)

                if not args.skip_celery:
                    env, url = mode_env("celery")
                    env |= instance_env | {
                        "HUB_ASSETS_EXECUTOR": "celery",
                        "HUB_ASSETS_CELERY_BROKER": redis.url(0),
                        "HUB_ASSETS_CELERY_BACKEND": redis.url(1),
                    }
                    for name in ("w1", "w2"):
                        workers.append(
                            subprocess.Popen(
                                [str(BIN / "celery"), "-A", "hub_assets.defs.celery_worker"]
                                + ["worker", "-Q", "dagster", "--concurrency", "1"]
                                + ["--prefetch-multiplier", "1", "-n", f"{name}@%h"]
                                + ["--loglevel", "WARNING"],
                                env=env,
                                cwd=ROOT,
                                stdout=open(tmp / f"{name}.log", "wb"),  # noqa: SIM115
                                stderr=subprocess.STDOUT,
                            )
                        )
                    seconds = run_ranges(env, ranges, parallel, tmp / "celery.log")
                    results["celery"] = (seconds, gated(url, models))
                    print(f"celery done in {seconds:.0f} s", flush=True)
        finally:
            for w in workers:
                w.terminate()
                w.wait(timeout=60)
            if redis is not None:
                redis.stop()
            pg.stop()
        for mode, (_, (decided, _)) in results.items():
            if decided != len(models):
                logs = "".join(p.read_text(errors="replace")[-2000:] for p in tmp.glob("*.log"))
                raise SystemExit(f"{mode}: {decided} of {len(models)} models gated\n{logs}")
    tick_times, idle_s, requested = ticks(args.sensor_partitions)

    core_s = results["core_loop"][0]
    n = len(models)
    print(f"models={n} per_run={args.per_run} runs={len(ranges)} parallel_runs={parallel}")
    for mode, (seconds, (decided, passed)) in results.items():
        print(
            f"{mode}: {n} models in {seconds:.1f} s = {n / seconds * 60:.0f} models/min "
            f"(gate: {passed} passed, {decided - passed} failed)"
        )
    for mode in ("in_process", "celery"):
        if mode in results:
            seconds = results[mode][0]
            print(f"models_per_min_{mode}={n / seconds * 60:.0f}")
            print(f"ratio_vs_core_loop_{mode}={seconds / core_s:.2f}")
    size = f"{args.sensor_partitions // 1000}k" if args.sensor_partitions >= 1000 else "tiny"
    print(
        f"sensor_max_tick_ms_{size}={max(tick_times) * 1000:.0f} ({requested:,} run requests "
        f"in {len(tick_times)} ticks)"
    )
    print(f"sensor_idle_tick_ms_{size}={idle_s * 1000:.0f}")


if __name__ == "__main__":
    main()
