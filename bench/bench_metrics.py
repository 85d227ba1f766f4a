"""Metadata trust metrics (all but reproducibility) for 1,000 generated models.

Each model gets a generated card (YAML, sections, usage code, model-index on some), a file
list with sizes, commits with authors and a config. Scored serially, then with a
multiprocessing pool of one worker per core, in the same run.

Prints models per second for both and `ratio_parallel_vs_serial=` (pool wall time /
serial wall time: below 1 means the pool is faster).

    .venv/bin/python bench/bench_metrics.py [--models 1000] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub_assets.metrics.evidence import ModelEvidence  # noqa: E402
from hub_assets.metrics.scoring import ScoringContext, score_model  # noqa: E402

NOW = datetime(2026, 11, 24, tzinfo=UTC)
LICENSES = ["apache-2.0", "mit", "gpl-3.0", "cc-by-nc-4.0", None, "openrail", "lgpl-3.0"]


def generated_model(i: int) -> tuple[str, dict]:
    """A model's metadata as the Hub client returns it, generated from `i`."""
    rng = random.Random(i)
    model_id = f"bench-org-{i % 50}/model-{i:05d}"
    lic = rng.choice(LICENSES)
    card = {
        "license": lic,
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "datasets": [f"data-org/set-{rng.randrange(20)}" for _ in range(rng.randrange(3))],
    }
    if rng.random() < 0.5:
        card["model-index"] = [
            {
                "name": "m",
                "results": [
                    {
                        "task": {"type": "text-generation"},
                        "dataset": {"type": "d", "name": "d"},
                        "metrics": [{"type": "f1", "value": round(rng.random(), 3)}],
                    }
                ],
            }
        ]
    sections = ["## Intended uses", "Text. " * rng.randrange(10, 200)]
    if rng.random() < 0.7:
        sections += [
            "## How to use",
            "```python\nfrom transformers import pipeline\n"
            f"pipe = pipeline('text-generation', model='{model_id}')\n```",
        ]
    if rng.random() < 0.5:
        sections += ["## Training data", "| dataset | rows |\n|---|---|\n| a | 100 |\n| b | 5 |"]
    if rng.random() < 0.3:
        sections += ["## Evaluation", "| metric | value |\n|---|---|\n| f1 | 71.5 |"]
    weights = rng.choice([2e5, 9e7, 5e8, 3e9])
    siblings = [
        {"path": "config.json", "size": 600, "blob_id": "a" * 40, "lfs_sha256": None},
        {
            "path": "model.safetensors",
            "size": int(weights),
            "blob_id": "b" * 40,
            "lfs_sha256": f"{i:064x}",
        },
        {"path": "tokenizer.json", "size": 2e5, "blob_id": "c" * 40, "lfs_sha256": None},
    ]
    start = NOW - timedelta(days=rng.randrange(30, 2000))
    commits = [
        {
            "id": f"{i:08x}{n:032x}",
            "title": f"c{n}",
            "date": (start + timedelta(days=7 * n)).isoformat(),
            "authors": [f"user{rng.randrange(6)}"],
        }
        for n in range(rng.randrange(1, 12))
    ]
    info = {
        "model_id": model_id,
        "sha": f"{i:040x}",
        "license": lic,
        "siblings": siblings,
        "pipeline_tag": "text-generation",
    }
    return model_id, {
        "info": info,
        "card_data": card,
        "card_text": "# " + model_id + "\n\n" + "\n\n".join(sections),
        "commits": commits,
        "config": {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]},
    }


def score_one(i: int) -> float:
    model_id, metadata = generated_model(i)
    ctx = ScoringContext(
        client=None, work_dir=Path(tempfile.gettempdir()), now=NOW, run_reproducibility=False
    )
    return score_model(ModelEvidence.from_metadata(model_id, metadata), ctx)["net_score"].value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.models, args.workers = 4, 2
    score_one(0)  # warm imports (transformers' config mapping) outside the timings

    t = time.perf_counter()
    serial = [score_one(i) for i in range(args.models)]
    serial_s = time.perf_counter() - t

    t = time.perf_counter()
    with Pool(args.workers, initializer=score_one, initargs=(0,)) as pool:
        pool_start = time.perf_counter()
        parallel = pool.map(score_one, range(args.models), chunksize=25)
        pool_s = time.perf_counter() - pool_start
    with_startup_s = time.perf_counter() - t
    assert parallel == serial, "parallel scoring must give the same scores"

    print(f"models={args.models} workers={args.workers}")
    print(f"serial_s={serial_s:.2f} serial_models_per_s={args.models / serial_s:.0f}")
    print(
        f"pool_s={pool_s:.2f} pool_models_per_s={args.models / pool_s:.0f} "
        f"(with worker start-up: {with_startup_s:.2f}s)"
    )
    print(f"ratio_parallel_vs_serial={pool_s / serial_s:.2f}")


if __name__ == "__main__":
    main()
