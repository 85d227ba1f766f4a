"""Read what the Hub reports about weight files, without loading them.

safetensors headers give parameter counts; pickle files are scanned with picklescan, which
reads the opcode stream and never unpickles anything.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path
from typing import BinaryIO

from picklescan.scanner import scan_bytes, scan_file_path

# Files that may hold pickles (which run code on load): the one list every stage uses.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

_MAX_HEADER = 100 * 1024 * 1024


def safetensors_parameters(source: Path | BinaryIO) -> dict[str, int]:
    """Parameter count per dtype from a safetensors file's header (a path, or a readable
    binary file at its start); {} if not readable."""
    if isinstance(source, Path):
        with source.open("rb") as f:
            return safetensors_parameters(f)
    raw = source.read(8)
    if len(raw) < 8:
        return {}
    (n,) = struct.unpack("<Q", raw)
    if n > _MAX_HEADER:
        return {}
    try:
        header = json.loads(source.read(n))
    except ValueError:
        return {}
    if not isinstance(header, dict):
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


def pickle_scan(source: Path | BinaryIO, name: str = "") -> list[dict]:
    """The imports a pickle (or a torch zip of pickles) would perform, with their safety:
    from a path, or from a seekable binary file named `name` (its suffix picks the format).

    Returns `[{"module", "name", "safety"}]` where safety is "innocuous", "suspicious" or
    "dangerous", as picklescan classifies them.
    """
    if isinstance(source, Path):
        result = scan_file_path(str(source))
    else:
        ext = os.path.splitext(name)[1] or None
        data = io.BufferedReader(source) if isinstance(source, io.RawIOBase) else source
        result = scan_bytes(data, name, ext)
    out = []
    for g in result.globals:
        out.append({"module": g.module, "name": g.name, "safety": g.safety.value})
    return out
