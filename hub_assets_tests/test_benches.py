"""Benches that cannot rot: each script in bench/ runs to its end at its tiny size
(`--tiny`: seconds, not minutes) and prints a ratio against a baseline it measured in the
same run. `make bench` runs them all at full size."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHES = sorted(p.name for p in (ROOT / "bench").glob("bench_*.py"))


def test_make_bench_runs_every_bench():
    make = (ROOT / "Makefile").read_text()
    target = make.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    assert sorted(re.findall(r"bench/(bench_\w+\.py)", target)) == BENCHES


@pytest.mark.slow
@pytest.mark.parametrize("bench", BENCHES)
def test_each_bench_runs_to_its_end_at_tiny_size(bench, demo_catalog, tmp_path):
    env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HOME": str(tmp_path)}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / bench), "--tiny"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ratios = re.findall(r"^\w*ratio\w*=([0-9.]+)", done.stdout, flags=re.M)
    assert ratios, done.stdout
    assert all(float(r) > 0 for r in ratios), done.stdout
