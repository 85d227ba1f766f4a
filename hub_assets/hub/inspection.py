"""Read what the Hub reports about weight files, without loading them.

safetensors headers give parameter counts; pickle files are scanned with picklescan, which
reads the opcode stream and never unpickles anything.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from picklescan.scanner import scan_bytes, scan_file_path

from hub_assets.errors import MalformedWeightsError

# Files that may hold pickles (which run code on load), by suffix, matched without regard
# to case: the one list every stage uses. Content decides too (`hub_assets.metrics.formats`).
PICKLE_SUFFIXES = (
    ".bin",
    ".pt",
    ".pth",
    ".pkl",
    ".pickle",
    ".ckpt",
    ".joblib",
    ".npy",
    ".npz",
    ".dill",
    ".mar",
    ".pdparams",
    ".dat",
    ".data",
)

_MAX_HEADER = 100 * 1024 * 1024
# The safetensors format's own bound on its JSON header (the Rust crate refuses more).
SAFETENSORS_MAX_HEADER = 100_000_000
FIRST_READ = 100_000  # bytes asked for first: the length and, mostly, the whole header
SAFETENSORS_DTYPES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "F8_E8M0": 1,
    "F4": 1,
    "F6_E2M3": 1,
    "F6_E3M2": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
}


@dataclass(frozen=True)
class SafetensorsHeader:
    """A checked safetensors header: parameters per dtype and the number of tensors."""

    parameter_count: dict[str, int]
    tensors: int


def is_pickle_name(path: str) -> bool:
    """Whether a file's name says it may hold a pickle (any case)."""
    return path.lower().endswith(PICKLE_SUFFIXES)


def safetensors_header(read: Callable[[int, int], bytes], size: int) -> SafetensorsHeader:
    """Parse and check a safetensors header through `read(offset, length)`, reading only
    the header: its length within the file and the format's bound, a JSON object of
    tensors with known dtypes, shapes of non-negative integers, and data offsets that lie
    inside the file and match each tensor's byte size. Raises `MalformedWeightsError`."""
    if size < 8:
        raise MalformedWeightsError(f"{size} bytes: too short for a safetensors file")
    first = read(0, min(size, FIRST_READ))  # most headers fit: one request
    if len(first) < 8:
        raise MalformedWeightsError("the 8-byte header length could not be read")
    (n,) = struct.unpack("<Q", first[:8])
    if n < 2 or n > SAFETENSORS_MAX_HEADER or n > size - 8:
        raise MalformedWeightsError(
            f"header length {n:,} outside the file ({size:,} bytes) or the format's bound"
        )
    data = first[8 : 8 + n] if len(first) >= 8 + n else read(8, n)
    if len(data) != n:
        raise MalformedWeightsError(f"header cut short ({len(data):,} of {n:,} bytes)")
    try:
        header = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise MalformedWeightsError("header is not JSON") from None
    if not isinstance(header, dict):
        raise MalformedWeightsError("header is not a JSON object")
    body = size - 8 - n
    counts: dict[str, int] = {}
    tensors = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(t, dict):
            raise MalformedWeightsError(f"tensor {name[:80]!r} is not an object")
        dtype, shape, offsets = t.get("dtype"), t.get("shape"), t.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPES:
            raise MalformedWeightsError(f"tensor {name[:80]!r}: unknown dtype {str(dtype)[:20]!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise MalformedWeightsError(f"tensor {name[:80]!r}: shape is not a list of sizes")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= body
        ):
            raise MalformedWeightsError(f"tensor {name[:80]!r}: data offsets outside the file")
        numel = 1
        for d in shape:
            numel *= d
        width = SAFETENSORS_DTYPES[dtype]
        expected = numel * width if width > 1 or dtype not in ("F4", "F6_E2M3", "F6_E3M2") else None
        if expected is not None and expected != offsets[1] - offsets[0]:
            raise MalformedWeightsError(
                f"tensor {name[:80]!r}: shape {shape[:8]} needs {expected:,} bytes, its data "
                f"offsets hold {offsets[1] - offsets[0]:,}"
            )
        counts[dtype] = counts.get(dtype, 0) + numel
        tensors += 1
    return SafetensorsHeader(counts, tensors)


def local_safetensors_header(path: Path) -> SafetensorsHeader:
    """`safetensors_header` of a local (verified) file."""
    size = path.stat().st_size
    with path.open("rb") as f:

        def read(offset: int, length: int) -> bytes:
            f.seek(offset)
            return f.read(length)

        return safetensors_header(read, size)


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
