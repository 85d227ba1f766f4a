"""The suite's own machinery: tests marked with one `xdist_group` run on one worker, so an
expensive world (the mirror's, PostgreSQL's) is built once (`make test` runs
`-n 2 --dist loadgroup --no-loadscope-reorder`)."""

import subprocess
import sys


def test_a_group_runs_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(
        "import pytest\n"
        "pytestmark = pytest.mark.xdist_group('world')\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_one(i):\n"
        "    assert i >= 0\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v"]
        + ["-p", "no:cacheprovider", "test_grouped.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    passed = [line for line in done.stdout.splitlines() if " PASSED " in line]
    assert len(passed) == 6, done.stdout
    assert len({line.split("]")[0] for line in passed}) == 1, done.stdout  # one [gwN]
    assert "@world" in done.stdout  # the node ids carry the group, as the scheduler needs
