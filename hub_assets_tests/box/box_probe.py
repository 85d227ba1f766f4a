"""Run in a box by test_warm_box: prints, as one JSON line, what the box lets it do."""

import json
import os
import socket
import sys
import time
from pathlib import Path


def _write(path: str) -> str:
    try:
        Path(path).write_text("x")
        return "written"
    except OSError as e:
        return type(e).__name__


def _connect(port: int) -> str:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return "connected"
    except OSError as e:
        return type(e).__name__


if __name__ == "__main__":
    action, arg = sys.argv[1], sys.argv[2]
    if action == "sleep":
        time.sleep(float(arg))
    if action == "allocate":
        block = bytearray(int(arg) * 1024 * 1024)
    if action == "exit":
        raise SystemExit(int(arg) if arg.isdigit() else arg)
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    print(
        json.dumps(
            {
                "stdin": sys.stdin.read(),
                "cwd": os.getcwd(),
                "home": os.environ.get("HOME"),
                "tmpdir": os.environ.get("TMPDIR"),
                "mark": os.environ.get("PROBE_MARK"),
                "inside": _write("inside.txt"),
                "outside": _write(arg) if action == "write" else None,
                "tcp": _connect(int(arg)) if action == "connect" else None,
                "open_fds": fds,
            }
        )
    )
