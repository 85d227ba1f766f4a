"""Progress on long work: bars with total, speed and ETA in a pseudo-terminal, nothing when
output is not a terminal, and bounded per-file lines for run logs."""

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from hub_assets.devhub.demo_cases import MINILM
from hub_assets.progress import ProgressLines, TransferBars

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]
BIN = Path(sys.executable).parent


def _run_in_pty(args: list[str], env: dict) -> str:
    """Run a command with stdout and stderr on a pseudo-terminal; what it wrote."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, stdout=child, stderr=child, stdin=child, env=env)
    os.close(child)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        out += data
    proc.wait(timeout=60)
    os.close(main)
    return out.decode(errors="replace")


def test_fetch_draws_bars_on_a_terminal_and_none_in_a_pipe(mirror, world, tmp_path):
    registry, packages = world
    env = {
        **os.environ,
        "HUB_ASSETS_REGISTRY": str(registry.path),
        "HUB_ASSETS_PACKAGE_STORE": str(packages),
    }
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)  # as a user's terminal has it
    lock = tmp_path / "models.lock"
    made = subprocess.run(
        [str(BIN / "hub-assets"), "lock", MINILM, "-o", str(lock)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    total = sum(f["size"] for f in json.loads(lock.read_text())["models"][MINILM]["files"])
    fetch = [str(BIN / "hub-assets"), "fetch", "--lock", str(lock), "--endpoint", mirror.url]

    shown = _run_in_pty(fetch + ["--dir", str(tmp_path / "tty")], env)
    assert "files verified" in shown
    assert "verify (total)" in shown and "100%" in shown  # the total, with its bar
    assert f"verify {MINILM}/model.safetensors" in shown  # the 90 MB file has its own bar
    assert "B/s" in shown and "<" in shown  # speed and ETA
    assert f"{total / 1024**2:.1f}M" in shown or f"{total / 1024**2:.0f}M" in shown

    piped = subprocess.run(
        fetch + ["--dir", str(tmp_path / "pipe")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr
    assert "files verified" in piped.stdout + piped.stderr
    assert "verify (total)" not in piped.stderr and "\r" not in piped.stderr


def test_bars_stay_quiet_when_disabled_and_lines_are_bounded(monkeypatch):
    class Tty:
        def __init__(self):
            self.text = ""

        def isatty(self):
            return True

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # as the tests and CI run
    quiet = Tty()
    TransferBars(stream=quiet)("download", "w", 5, 10)
    assert quiet.text == ""
    loud = Tty()
    with TransferBars(stream=loud, large=8, enabled=True) as bars:
        for done in range(0, 11):
            bars("download", "big.bin", done, 10)
        bars("download", "small.txt", 3, 3)
    assert "download (total)" in loud.text and "download big.bin" in loud.text
    assert "download small.txt" not in loud.text  # under the large-file threshold
    assert "13.0/13.0" in loud.text  # the total grew as files appeared

    now = [0.0]
    lines: list[str] = []
    report = ProgressLines(lines.append, interval_s=5.0, clock=lambda: now[0])
    for i in range(101):  # 100 reports over 10 seconds
        now[0] = i / 10
        report("download", "w", i, 100)
    assert lines[0] == "download w: 0/100 bytes (0%)"
    assert lines[-1] == "download w: 100/100 bytes (100%)"
    assert len(lines) <= 4  # start, every 5 s, end
