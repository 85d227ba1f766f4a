"""A warm box: one process that has imported the model runtime forks a boxed child per run.

A cold boxed child (`sandbox.run_boxed`) spends about 5 of its 6 seconds importing torch and
transformers before it loads a model of a few megabytes. The warm box imports them once, in a
process that never reads a model byte, and forks a child for each run. Each child is the box
of `box.sandbox`, applied in the forked child before the run's module starts: stdin is
`/dev/null` and every inherited descriptor is closed (no child can write into the server's
pipes), its own scratch folder is its working folder, HOME and TMPDIR, an address-space cap,
Landlock (no writes outside the scratch folder, no TCP where the kernel allows), and a
timeout after which its process group is killed. A fork shares nothing with the next run:
each child's memory is its own copy, and its scratch folder is removed afterwards.

The dataset loader (`evaluation.datasets`) uses the same server unconfined: a trusted
loader that must reach the Hub and write the caller's cache, it gets stdin closed, the
server's descriptors closed, the caller's environment and working folder, and the timeout.

Run as `python -m hub_assets.box.warm MODULE...`: imports each MODULE, prints `ready`, then
reads one JSON request a line from stdin ({"module", "args", "scratch", "memory_mb",
"timeout_s", "confined", "env", "cwd"}) and answers each with one JSON line
({"returncode", "timed_out"}); the child's stdout and stderr are files in its scratch
folder. It exits at the end of stdin, so it never outlives its parent's pipe.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import resource
import runpy
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from hub_assets.box.sandbox import BoxedResult, landlock_abi, restrict_writes
from hub_assets.environment import become, publish_to_children

STDOUT, STDERR = "stdout.txt", "stderr.txt"
# In the server: its peak RSS once the runtime was imported. In a forked child: its RSS at
# the fork. Together they make a child's measurement that of a cold process (rss_offset).
_SERVER_PEAK = 0
_FORK_START = 0


def status_bytes(field: str) -> int:
    """A size field of /proc/self/status (VmHWM, VmRSS) in bytes, 0 where unreadable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_offset() -> int:
    """What to add to a forked child's peak RSS to read as a cold child's: a fork starts
    with only the pages it shares in its page tables (the runtime's file-backed pages are
    counted once touched), so its peak is the server's, after importing the runtime, plus
    what the run added since the fork. 0 outside a warm child."""
    return _SERVER_PEAK - _FORK_START if _FORK_START else 0


def _reset_peak_rss() -> None:
    """Start the child's VmHWM afresh (a fork inherits the server's high-water mark; an
    exec starts a new one): writing 5 to clear_refs resets it (Linux 4.0+)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _child(request: dict) -> None:
    """In the forked child: enter the box, run the module as __main__, never return."""
    code = 1
    try:
        os.setsid()  # its own process group: a timeout kills whatever it started too
        scratch = Path(request["scratch"])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(scratch / STDOUT, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        err = os.open(scratch / STDERR, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        for fd, target in ((null, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
        sys.stdin = os.fdopen(0, "r", closefd=False)  # /dev/null, not the server's pipe
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's pipes among them
        if request.get("env") is not None:  # the environment an exec'd child would get
            become(request["env"])
        if request.get("confined", True):
            limit = int(request["memory_mb"]) * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            restrict_writes([scratch, Path(os.devnull)])
            os.chdir(scratch)
            home = str(scratch)
            publish_to_children(HOME=home, TMPDIR=home, HF_HOME=str(scratch / "hf"))
            tempfile.tempdir = home
            _reset_peak_rss()
            global _FORK_START
            _FORK_START = status_bytes("VmRSS")
        else:  # a trusted loader: the caller's folder, files where the caller said
            os.chdir(request["cwd"])
            tempfile.tempdir = None
        sys.argv = [request["module"], *request["args"]]
        sys.modules.pop(request["module"], None)  # run afresh as __main__, quietly
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, int | None):  # as the interpreter says it on exit
                print(e.code, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 - reported as the child's own failure
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _wait(pid: int, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return {"returncode": os.waitstatus_to_exitcode(status), "timed_out": False}
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            _, status = os.waitpid(pid, 0)
            return {"returncode": os.waitstatus_to_exitcode(status), "timed_out": True}
        time.sleep(0.005)


def serve(modules: list[str]) -> None:
    """Import `modules`, then fork one boxed child per request line until stdin ends."""
    for name in modules:
        module = importlib.import_module(name)
        if hasattr(module, "preload"):
            module.preload()
    global _SERVER_PEAK
    _SERVER_PEAK = status_bytes("VmHWM")
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing imported may print into replies
    channel.write("ready\n")
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        channel.write(json.dumps(_wait(pid, float(request["timeout_s"]))) + "\n")


_READ_LIMIT = 1 << 20  # of a child's stdout or stderr: the last MiB
_START_TIMEOUT_S = 120.0


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(f.seek(0, os.SEEK_END) - _READ_LIMIT, 0))
            return f.read(_READ_LIMIT).decode("utf-8", "replace")
    except OSError:
        return ""


class WarmBox:
    """The parent's end of a warm box server (see module): started on first use, one run at
    a time, restarted after any fault. `run` returns None when the server cannot be had,
    so the caller runs the child cold instead; nothing is lost either way."""

    def __init__(self, env: dict[str, str], modules: Sequence[str]) -> None:
        self.env, self.modules = dict(env), list(modules)
        self._proc: subprocess.Popen | None = None
        self._home: str | None = None
        self._owner = os.getpid()  # a forked copy of this process starts its own server
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        self._home = tempfile.mkdtemp(prefix="hub-assets-warm-box-")
        env = {**self.env, "HOME": self._home, "TMPDIR": self._home}
        env["HF_HOME"] = str(Path(self._home) / "hf")
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub_assets.box.warm", *self.modules],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=self._home,
        )
        if self._line(proc, _START_TIMEOUT_S) != "ready":
            self._stop(proc)
            raise OSError("the warm box server did not start")
        return proc

    @staticmethod
    def _line(proc: subprocess.Popen, timeout_s: float) -> str | None:
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        if not ready:
            return None
        line = proc.stdout.readline(4096)
        return line.strip() if line.endswith("\n") else None

    def _stop(self, proc: subprocess.Popen | None = None) -> None:
        proc = proc or self._proc
        if proc is not None:
            proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        if proc is self._proc:
            self._proc = None
        if self._home:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    def close(self) -> None:
        """Stop the server (its children are waited for by it, or killed with it); in a
        forked copy of the process, only forget the parent's."""
        with self._lock:
            if self._owner != os.getpid():
                self._proc, self._home, self._owner = None, None, os.getpid()
            self._stop()

    def run(
        self,
        module: str,
        args: Sequence[str],
        *,
        timeout_s: float,
        memory_mb: int = 0,
        confined: bool = True,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        scratch_parent: Path | None = None,
    ) -> BoxedResult | None:
        """Run `python -m module args` in a forked child; `subprocess.TimeoutExpired` past
        the timeout (its process group is killed), None when the server failed.

        `confined`: in the box (the memory cap, Landlock, its scratch folder as working
        folder and home). Otherwise (a trusted loader that writes the caller's files and
        reaches the Hub): stdin closed, descriptors closed, `cwd` (default: this process's)
        as working folder. `env`: the child's whole environment, as an exec'd child's."""
        with (
            self._lock,
            tempfile.TemporaryDirectory(prefix="hub-assets-box-", dir=scratch_parent) as tmp,
        ):
            try:
                if self._owner != os.getpid():  # inherited through a fork: not ours to use
                    self._proc, self._home, self._owner = None, None, os.getpid()
                if self._proc is None or self._proc.poll() is not None:
                    self._proc = self._start()
                request = {
                    "module": module,
                    "args": [str(a) for a in args],
                    "scratch": tmp,
                    "memory_mb": memory_mb,
                    "timeout_s": timeout_s,
                    "confined": confined,
                    "env": env,
                    "cwd": str(Path(cwd or Path.cwd()).resolve()),
                }
                self._proc.stdin.write(json.dumps(request) + "\n")
                self._proc.stdin.flush()
                line = self._line(self._proc, timeout_s + 30)
                reply = json.loads(line) if line else None
            except (OSError, ValueError):
                reply = None
            if not isinstance(reply, dict):
                self._stop()
                return None
            if reply.get("timed_out"):
                raise subprocess.TimeoutExpired([module, *args], timeout_s)
            return BoxedResult(
                int(reply["returncode"]),
                _tail(Path(tmp) / STDOUT),
                _tail(Path(tmp) / STDERR),
                confined and landlock_abi() > 0,
            )


_BOXES: dict[tuple[str, ...], WarmBox] = {}
_BOXES_LOCK = threading.Lock()


def warm_box(env: dict[str, str], modules: Sequence[str]) -> WarmBox:
    """This process's warm box for the preloaded modules, started with `env` (the
    variables its libraries read when imported): one per list of modules (a server holds
    its libraries' memory), replaced when asked for with another environment, stopped when
    the process exits."""
    key = tuple(modules)
    with _BOXES_LOCK:
        box = _BOXES.get(key)
        if box is None or box.env != env:
            if box is not None:
                box.close()
            box = _BOXES[key] = WarmBox(env, modules)
        return box


@atexit.register
def _close_all() -> None:
    for box in list(_BOXES.values()):
        box.close()


if __name__ == "__main__":
    # through the imported module, not this __main__ copy: the children read its globals
    from hub_assets.box.warm import serve as _serve

    _serve(sys.argv[1:])
