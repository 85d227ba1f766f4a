"""Child starts: the warm box's forked children against cold `python -m` children.

Two children the pipeline starts per model: the reproducibility run (in the box, on the
demo's `tiny-gpt2-complete`, a verified snapshot marked cleared) and the dataset loader
(unconfined, the demo's QA set through a development Hub on loopback, into a fresh cache
folder each time). Each is run RUNS times cold (`box.sandbox.run_boxed`, `subprocess.run`:
the baseline, what every run cost before) and RUNS times forked from one warm server (its
first run, which starts the server, is printed apart).

Prints seconds per run for each, `repro_ratio_vs_cold=` and `dataset_ratio_vs_cold=` (warm
per run / cold per run; target ≤ 0.3) and that the outputs are the same; and the warm
reproducibility run's peak RSS against the cold one's (`repro_peak_rss_error=`, within
±10 %, asserted: the hardware-fit estimate is judged against it).

    .venv/bin/python bench/bench_warm_box.py [--runs 10] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub_assets.box.sandbox import run_boxed  # noqa: E402
from hub_assets.box.warm import WarmBox  # noqa: E402
from hub_assets.devhub.catalog import Catalog  # noqa: E402
from hub_assets.devhub.demo_catalog import ORG, build_demo  # noqa: E402
from hub_assets.devhub.server import HubServer  # noqa: E402
from hub_assets.environment import box_environment, child_environment  # noqa: E402
from hub_assets.evaluation.datasets import _READ_AT_IMPORT, DEFAULT_PINS  # noqa: E402
from hub_assets.hub.clearance import mark_cleared  # noqa: E402

CHILD = "hub_assets.metrics.reproduce_child"
LOADER = "hub_assets.evaluation.fetch_dataset"


def snapshot(catalog: Catalog, model_id: str, folder: Path) -> Path:
    """The model's loadable files, as the verified snapshot store keeps them, cleared."""
    for path, entry in catalog.repo("model", model_id).head.files.items():
        if path.endswith((".safetensors", ".json", ".txt")):
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(catalog.blob_path(entry.sha256), folder / path)
    mark_cleared(folder, "sha", "pass", "fingerprint")
    return folder


def timed(run, runs: int) -> tuple[float, list[str]]:
    """Seconds per run and each run's last stdout line."""
    outputs, started = [], time.perf_counter()
    for i in range(runs):
        result = run(i)
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(result.stdout.strip().splitlines()[-1])
    return (time.perf_counter() - started) / runs, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--tiny", action="store_true", help="1 run each: the suite's check")
    args = parser.parse_args()
    runs = 1 if args.tiny else args.runs
    catalog = Catalog(build_demo(ROOT / "data" / "demo_hub"))
    with tempfile.TemporaryDirectory(prefix="bench-warm-box-") as folder:
        tmp = Path(folder)
        model = snapshot(catalog, f"{ORG}/tiny-gpt2-complete", tmp / "snapshot")
        env = box_environment({"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
        argv = [str(model), "text-generation"]
        limits = {"timeout_s": 300, "memory_mb": 4096}
        cold, cold_out = timed(
            lambda i: run_boxed([sys.executable, "-m", CHILD, *argv], env=env, **limits), runs
        )
        box = WarmBox(env, [CHILD])
        try:
            first, _ = timed(lambda i: box.run(CHILD, argv, **limits), 1)
            warm, warm_out = timed(lambda i: box.run(CHILD, argv, **limits), runs)
        finally:
            box.close()
        same = {json.loads(o)["output"] for o in cold_out + warm_out}
        print(f"repro_cold_s={cold:.2f} repro_warm_first_s={first:.2f} repro_warm_s={warm:.2f}")
        print(f"repro_outputs_equal={len(same) == 1}")
        assert len(same) == 1, same
        # the hardware-fit estimate is judged against this: a forked child's peak RSS must
        # read as a cold process's, not as the few pages it touched since the fork
        cold_peak, warm_peak = (
            sum(json.loads(o)["measurement"]["peak_rss_bytes"] for o in out) / len(out)
            for out in (cold_out, warm_out)
        )
        peak_error = (warm_peak - cold_peak) / cold_peak
        print(f"repro_peak_rss_mib_cold={cold_peak / 2**20:.0f} warm={warm_peak / 2**20:.0f}")
        print(f"repro_peak_rss_error={peak_error:+.3f}")
        assert abs(peak_error) <= 0.10, (cold_peak, warm_peak)
        print(f"repro_ratio_vs_cold={warm / cold:.3f}")

        pin = DEFAULT_PINS[0]
        with HubServer(catalog.root) as hub:
            env = child_environment(set={"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1"})

            def loader_args(name: str, i: int) -> list[str]:
                out = tmp / name / str(i)
                out.mkdir(parents=True)
                splits = [str(p) for c, s in pin.splits for p in (c, s, out / f"{c}-{s}.pq")]
                return [pin.repo_id, pin.revision, str(out / ".hf"), *splits]

            d_cold, d_cold_out = timed(
                lambda i: subprocess.run(
                    [sys.executable, "-m", LOADER, *loader_args("cold", i)],
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    env=env,
                    timeout=300,
                ),
                runs,
            )
            imported = {k: v for k, v in env.items() if k.startswith(_READ_AT_IMPORT)}
            box = WarmBox(imported, [LOADER])
            try:
                d_first, _ = timed(
                    lambda i: box.run(
                        LOADER, loader_args("first", i), timeout_s=300, confined=False, env=env
                    ),
                    1,
                )
                d_warm, d_warm_out = timed(
                    lambda i: box.run(
                        LOADER, loader_args("warm", i), timeout_s=300, confined=False, env=env
                    ),
                    runs,
                )
            finally:
                box.close()
        print(
            f"dataset_cold_s={d_cold:.2f} dataset_warm_first_s={d_first:.2f} "
            f"dataset_warm_s={d_warm:.2f}"
        )
        print(f"dataset_outputs_equal={len(set(d_cold_out + d_warm_out)) == 1}")
        assert len(set(d_cold_out + d_warm_out)) == 1, d_cold_out + d_warm_out
        print(f"dataset_ratio_vs_cold={d_warm / d_cold:.3f}")


if __name__ == "__main__":
    main()
