"""Read what the Hub reports about weight files, without loading them.

safetensors headers give parameter counts; pickle files are scanned with picklescan, which
reads the opcode stream and never unpickles anything.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from picklescan.scanner import scan_file_path

# Files that may hold pickles (which run code on load): the one list every stage uses.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

_MAX_HEADER = 100 * 1024 * 1024


def safetensors_parameters(path: Path) -> dict[str, int]:
    """Parameter count per dtype from a safetensors file's header; {} if not readable."""
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            return {}
        (n,) = struct.unpack("<Q", raw)
        if n > _MAX_HEADER:
            return {}
        try:
            header = json.loads(f.read(n))
        except ValueError:
            return {}
    counts: dict[str, int] = {}
    for name, t in header.items():
        if name == "__metadata__" or not isinstance(t, dict):
            continue
        numel = 1
        for d in t.get("shape", []):
            numel *= int(d)
        counts[t["dtype"]] = counts.get(t["dtype"], 0) + numel
    return counts


def pickle_scan(path: Path) -> list[dict]:
    """The imports a pickle (or a torch zip of pickles) would perform, with their safety.

    Returns `[{"module", "name", "safety"}]` where safety is "innocuous", "suspicious" or
    "dangerous", as picklescan classifies them.
    """
    result = scan_file_path(str(path))
    out = []
    for g in result.globals:
        out.append({"module": g.module, "name": g.name, "safety": g.safety.value})
    return out
