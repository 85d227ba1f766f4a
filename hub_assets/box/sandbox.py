"""The box a child process that loads model files runs in.

`run_boxed` starts a command with stdin closed (transformers can never ask "run this
repo's code? [y/N]", and nothing can answer), its own scratch folder as working folder,
HOME and TMPDIR, an address-space cap, a timeout, and, where the kernel offers Landlock
(Linux 5.13+), no right to write, create or remove anything outside the scratch folder
(and `/dev/null`) and, with Landlock ABI 4 (Linux 6.7+), no TCP connections at all. Where
Landlock is missing the rest still holds; `landlock_abi()` tells which.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_PR_SET_NO_NEW_PRIVS = 38
_RULE_PATH_BENEATH = 1
_CREATE_RULESET_VERSION = 1
# Every right that changes the file system (ABI 1; TRUNCATE from ABI 3, REFER from ABI 2).
_WRITE_RIGHTS_V1 = sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))
_REFER, _TRUNCATE = 1 << 13, 1 << 14
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: not available)."""
    try:
        abi = _libc().syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    return max(int(abi), 0)


def restrict_writes(writable: Sequence[Path]) -> bool:
    """Forbid this process (and its children) to change the file system anywhere but
    under `writable`, and to make TCP connections (ABI 4+). Irreversible; returns False
    where Landlock is not available."""
    abi = landlock_abi()
    if abi < 1:
        return False
    libc = _libc()
    rights = _WRITE_RIGHTS_V1 | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(rights, (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 4 else 8
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return False
    try:
        for folder in writable:
            fd = os.open(str(folder), os.O_PATH | os.O_CLOEXEC)
            try:
                file_rights = (1 << 1) | (_TRUNCATE if abi >= 3 else 0)
                rule = _PathBeneath(rights if os.path.isdir(folder) else file_rights, fd)
                if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0):
                    return False
            finally:
                os.close(fd)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            return False
        return libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) == 0
    finally:
        os.close(ruleset)


@dataclass
class BoxedResult:
    """What the boxed command printed, its exit code, and whether the box had Landlock."""

    returncode: int
    stdout: str
    stderr: str
    landlock: bool


def _preexec(scratch: Path, memory_mb: int):  # noqa: ANN202 - a preexec_fn
    def apply() -> None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        restrict_writes([scratch, Path("/dev/null")])

    return apply


def run_boxed(
    args: Sequence[str],
    *,
    env: dict[str, str],
    timeout_s: float,
    memory_mb: int,
    scratch_parent: Path | None = None,
) -> BoxedResult:
    """Run `args` in the box (see module docstring); `subprocess.TimeoutExpired` past the
    timeout (the child is killed). The scratch folder is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="hub-assets-box-", dir=scratch_parent) as tmp:
        scratch = Path(tmp)
        env = {**env, "HOME": tmp, "TMPDIR": tmp, "HF_HOME": str(scratch / "hf")}
        proc = subprocess.run(
            list(args),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            cwd=tmp,
            preexec_fn=_preexec(scratch, memory_mb),
        )
        return BoxedResult(proc.returncode, proc.stdout, proc.stderr, landlock_abi() > 0)
