"""The security verdict's mark on a verified snapshot: nothing loads a folder without it.

The security stage writes `.hub-assets/clearance.json` into a snapshot folder once the
scan of exactly those verified bytes has passed (a repo file can never be named so:
`hub.untrusted` refuses the bookkeeping names). Every loader (`evaluation.loader`, the
reproducibility child) calls `require_cleared` first, so a model is never loaded, run or
evaluated before its security verdict, or after a failing one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hub_assets.errors import NotClearedError

CLEARANCE = Path(".hub-assets") / "clearance.json"


def mark_cleared(folder: Path, sha: str, verdict: str, fingerprint: str) -> None:
    """Record that the scan of this snapshot passed (written atomically)."""
    path = Path(folder) / CLEARANCE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"sha": sha, "verdict": verdict, "fingerprint": fingerprint}))
    os.replace(tmp, path)


def clear_mark(folder: Path) -> None:
    """Remove the mark (a failing verdict, or bytes about to change)."""
    (Path(folder) / CLEARANCE).unlink(missing_ok=True)


def clearance(folder: Path) -> dict | None:
    """The mark of a snapshot folder, or None."""
    try:
        mark = json.loads((Path(folder) / CLEARANCE).read_text())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return mark if isinstance(mark, dict) else None


_HEADERS_CHECKED: dict[tuple[str, int, int], str] = {}


def _header_problem(path: Path) -> str:
    """'' when the weight file's header is within its format's rules, else why not (cached
    per path, size and modification time)."""
    from hub_assets.errors import MalformedGgufError, MalformedWeightsError
    from hub_assets.hub.gguf_header import read_local_gguf_header
    from hub_assets.hub.inspection import local_safetensors_header

    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HEADERS_CHECKED:
        try:
            if path.name.lower().endswith(".gguf"):
                read_local_gguf_header(path)
            else:
                local_safetensors_header(path)
            _HEADERS_CHECKED[key] = ""
        except (MalformedWeightsError, MalformedGgufError) as e:
            _HEADERS_CHECKED[key] = str(e)
    return _HEADERS_CHECKED[key]


def require_cleared(folder: Path) -> dict:
    """The mark of `folder`, or `NotClearedError`: call before loading anything from it.
    The headers of the weight files now in the folder (safetensors, GGUF: verified bytes,
    fetched after the scan) are checked here too, with bounds."""
    folder = Path(folder)
    mark = clearance(folder)
    if mark is None:
        raise NotClearedError(
            f"Refusing to load {folder.name}: its files have no passing security "
            "verdict (the security scan runs first, on the same verified bytes)."
        )
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name.lower().endswith((".safetensors", ".gguf")):
            problem = _header_problem(path)
            if problem:
                rel = path.relative_to(folder)
                raise NotClearedError(f"Refusing to load {rel}: malformed weights ({problem}).")
    return mark
