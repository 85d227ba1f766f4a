"""The warm box: a forked child is boxed exactly as a cold one, and a fault costs nothing but
time. That a run's output and memory measurement equal a cold process's is held by
bench/bench_warm_box.py, which the suite runs at its tiny size (test_benches.py)."""

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from hub_assets.box.sandbox import landlock_abi
from hub_assets.box.warm import WarmBox
from hub_assets.environment import box_environment

PROBE = "hub_assets_tests.box.box_probe"
CHILD = "hub_assets.metrics.reproduce_child"
ENV = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture
def box():
    box = WarmBox(ENV, [PROBE])
    yield box
    box.close()


def probe(box: WarmBox, action: str, arg: str, **limits) -> dict:
    limits = {"timeout_s": 30, "memory_mb": 2048} | limits
    result = box.run(PROBE, [action, arg], **limits)
    assert result is not None and result.returncode == 0, result
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_forked_child_is_boxed_like_a_cold_one(box, tmp_path):
    outside = tmp_path / "outside.txt"
    seen = probe(box, "write", str(outside))
    assert seen["stdin"] == ""  # nothing to read, nothing can answer a prompt
    assert seen["cwd"] == seen["home"] == seen["tmpdir"]  # its own scratch folder
    assert seen["cwd"] != os.getcwd() and not os.path.exists(seen["cwd"])  # removed after
    assert seen["inside"] == "written"
    # only its own stdin, stdout and stderr (and the listing's own descriptor): the
    # server's request and reply pipes are closed before the child's module starts
    assert len(seen["open_fds"]) <= 4 and seen["open_fds"][:3] == [0, 1, 2], seen
    if landlock_abi() > 0:  # this kernel has Landlock: writes are confined
        assert seen["outside"] == "PermissionError" and not outside.exists()
    assert seen["cwd"] != probe(box, "write", str(outside))["cwd"]  # a new folder a run


def test_no_tcp_from_a_forked_child_where_the_kernel_can_forbid_it(box):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        seen = probe(box, "connect", str(server.getsockname()[1]))
    assert seen["tcp"] == ("PermissionError" if landlock_abi() >= 4 else "connected")


def test_a_child_past_its_timeout_is_killed_and_the_next_run_is_served(box):
    with pytest.raises(subprocess.TimeoutExpired):
        box.run(PROBE, ["sleep", "60"], timeout_s=0.5, memory_mb=2048)
    assert probe(box, "none", "0")["inside"] == "written"


def test_a_forked_childs_exit_reads_as_a_cold_ones(box):
    """`SystemExit("why")` is a failure whose words end stderr, as the interpreter has it."""
    cold = subprocess.run(
        [sys.executable, "-m", PROBE, "exit", "The Hub is unreachable."],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    warm = box.run(PROBE, ["exit", "The Hub is unreachable."], timeout_s=30, memory_mb=2048)
    for result in (cold, warm):
        assert result.returncode == 1
        assert result.stderr.strip().splitlines()[-1] == "The Hub is unreachable."
    assert box.run(PROBE, ["exit", "3"], timeout_s=30, memory_mb=2048).returncode == 3


def test_the_memory_cap_holds_in_a_forked_child(box):
    over = box.run(PROBE, ["allocate", "4096"], timeout_s=30, memory_mb=2048)
    assert over.returncode != 0 and "MemoryError" in over.stderr
    assert probe(box, "allocate", "64")["inside"] == "written"


def test_a_server_that_dies_is_started_again(box):
    probe(box, "none", "0")
    first = box._proc.pid
    os.kill(first, signal.SIGKILL)
    box._proc.wait()
    assert probe(box, "none", "0")["inside"] == "written"
    assert box._proc.pid != first


def test_a_forked_copy_of_the_process_starts_a_server_of_its_own(box):
    """Two processes writing requests into one server's pipe would mix their answers: a
    process forked after the server started (a worker pool's child) starts its own."""
    probe(box, "none", "0")
    parent_server = box._proc.pid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked copy: its run must come from another server
        try:
            probe(box, "none", "0")
            os.write(write, str(box._proc.pid).encode())
            box.close()
        finally:
            os._exit(0)
    # a copy that exits (and closes what it inherited) leaves the parent's server running
    other = os.fork()
    if other == 0:
        try:
            box.close()
        finally:
            os._exit(0)
    os.waitpid(other, 0)
    os.close(write)
    child_server = int(os.read(read, 100) or b"0")
    os.waitpid(pid, 0)
    assert child_server not in (0, parent_server)
    assert probe(box, "none", "0")["inside"] == "written" and box._proc.pid == parent_server
    assert os.path.isdir(box._home)  # the copy removed nothing of the server's


def test_a_server_that_cannot_start_hands_the_run_back_for_a_cold_start():
    broken = WarmBox(ENV, ["hub_assets_tests.box.no_such_module"])
    try:
        assert broken.run(PROBE, ["none", "0"], timeout_s=30, memory_mb=2048) is None
    finally:
        broken.close()


def test_a_boxed_child_is_handed_no_secret(monkeypatch):
    """The child that loads untrusted files gets an allowlisted environment: no token, no
    cloud key, no database password, no webhook secret, not even an unforeseen one."""
    secrets = {
        "HF_TOKEN": "hf_secret",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "HUB_ASSETS_REGISTRY": "postgresql://hub:pw@127.0.0.1/registry",
        "HUB_ASSETS_WEBHOOK_SECRET": "whsec_" + "a" * 32,
        "SOME_FUTURE_VENDOR_KEY": "vendor-secret",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    env = box_environment({"HF_HUB_OFFLINE": "1"})
    assert not set(secrets) & set(env)
    assert not any(v in "".join(env.values()) for v in secrets.values())
    assert env["PATH"] == os.environ["PATH"] and env["HF_HUB_OFFLINE"] == "1"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == "1"


def test_an_unconfined_loader_runs_in_the_callers_folder_with_the_callers_environment(tmp_path):
    """The dataset loader's mode: it must reach the Hub and write the caller's files, so no
    Landlock; stdin and the server's descriptors are still closed, and the environment is
    exactly the one handed over, not the server's."""
    box = WarmBox({"PATH": "/usr/bin:/bin"}, [PROBE])
    try:
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen()
            port = str(server.getsockname()[1])
            env = {"PATH": "/usr/bin:/bin", "PROBE_MARK": "handed-over"}
            result = box.run(
                PROBE, ["connect", port], timeout_s=30, confined=False, env=env, cwd=tmp_path
            )
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        assert seen["cwd"] == str(tmp_path.resolve()) and (tmp_path / "inside.txt").exists()
        assert seen["tcp"] == "connected" and seen["stdin"] == ""
        assert seen["mark"] == "handed-over" and seen["home"] is None  # only what it was given
        assert len(seen["open_fds"]) <= 4 and not result.landlock
        with pytest.raises(subprocess.TimeoutExpired):
            box.run(PROBE, ["sleep", "60"], timeout_s=0.5, confined=False, env=env)
    finally:
        box.close()


def test_the_dataset_loader_is_forked_from_one_server(hub_server, tmp_path):
    """Two pinned datasets loaded through the warm loader: both land, from one server
    (it imported `datasets` once)."""
    from hub_assets.box import warm
    from hub_assets.evaluation.datasets import _LOADER, DEFAULT_PINS, cache_dataset

    pins = list(DEFAULT_PINS)[:2]
    first = cache_dataset(pins[0], hub_server.url, tmp_path / "a")
    server = warm._BOXES[(_LOADER,)]._proc.pid
    second = cache_dataset(pins[1], hub_server.url, tmp_path / "a")
    assert warm._BOXES[(_LOADER,)]._proc.pid == server
    assert first.rows and second.rows and first.fingerprint != second.fingerprint
