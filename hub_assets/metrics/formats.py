"""What a repo file really is, by its content, not its name.

A pickle renamed `weights.safetensors.bak`, `optimizer.PT` or `model.joblib` runs code when
loaded just the same. Each file of a verified snapshot is classified from its first bytes
(and, for archives, its members): pickle protocol headers, zip archives holding pickles
(torch checkpoints), NumPy `.npy` with object arrays (a pickle after the header) and `.npz`
archives of them, compressed streams (joblib's zlib/gzip/lz4/xz pickles, which no scanner
reads inside), HDF5 (Keras, whose Lambda layers carry code), safetensors and GGUF.
Nothing here unpickles, decompresses or loads anything: headers and member names only.
"""

from __future__ import annotations

import ast
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from hub_assets.hub.inspection import is_pickle_name

PICKLE_MAGIC = {bytes([0x80, p]) for p in range(1, 6)}  # PROTO opcode, protocols 1-5
NUMPY_MAGIC = b"\x93NUMPY"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
GGUF_MAGIC = b"GGUF"
COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x78\x01": "zlib",
    b"\x78\x5e": "zlib",
    b"\x78\x9c": "zlib",
    b"\x78\xda": "zlib",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x04\x22\x4d\x18": "lz4",
    b"\x28\xb5\x2f\xfd": "zstd",
}
MAX_ZIP_MEMBERS = 100_000
MAX_NUMPY_HEADER = 65_536

# Kinds whose bytes may run code when loaded: each is read by every pickle engine.
PICKLE_KINDS = ("pickle", "zip-pickle", "numpy-object", "npz-object")


@dataclass
class FileKind:
    """A file's format as its content shows it."""

    kind: str  # pickle, zip-pickle, numpy, numpy-object, npz, npz-object, compressed,
    #            hdf5, safetensors, gguf, zip, text, other
    detail: str = ""
    pickle_offset: int = 0  # where the pickle stream starts (after a NumPy header)
    members: list[str] = field(default_factory=list)  # archive members holding pickles

    @property
    def may_run_code(self) -> bool:
        """Whether loading these bytes could run code (a pickle in any wrapper)."""
        return self.kind in PICKLE_KINDS


def numpy_header(head: bytes) -> tuple[dict, int] | None:
    """The header dict of a `.npy` file and where its data starts; None if malformed."""
    if not head.startswith(NUMPY_MAGIC) or len(head) < 10:
        return None
    major = head[6]
    if major == 1:
        (n,), start = struct.unpack("<H", head[8:10]), 10
    elif major in (2, 3) and len(head) >= 12:
        (n,), start = struct.unpack("<I", head[8:12]), 12
    else:
        return None
    if n > MAX_NUMPY_HEADER or len(head) < start + n:
        return None
    try:
        header = ast.literal_eval(head[start : start + n].decode("latin-1").strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return (header, start + n) if isinstance(header, dict) else None


def _numpy_kind(head: bytes) -> FileKind:
    parsed = numpy_header(head)
    if parsed is None:
        return FileKind("numpy-object", "NumPy header not readable: treated as a pickle", 0)
    header, data_at = parsed
    descr = str(header.get("descr"))
    if "O" in descr:
        return FileKind("numpy-object", f"object array ({descr[:40]}): a pickle", data_at)
    return FileKind("numpy", f"dtype {descr[:40]}")


def _zip_kind(path: Path) -> FileKind:
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            if len(infos) > MAX_ZIP_MEMBERS:
                return FileKind("zip-pickle", f"{len(infos):,} members: too many to vouch for")
            pickles, objects, npys = [], [], 0
            for info in infos:
                name = info.filename
                if info.is_dir():
                    continue
                with z.open(info) as m:
                    head = m.read(MAX_NUMPY_HEADER + 16 if name.lower().endswith(".npy") else 2)
                if head[:2] in PICKLE_MAGIC or name.lower().endswith((".pkl", ".pickle")):
                    pickles.append(name)
                elif head.startswith(NUMPY_MAGIC):
                    npys += 1
                    if _numpy_kind(head).kind == "numpy-object":
                        objects.append(name)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
        return FileKind("zip-pickle", f"archive not readable ({type(e).__name__}): refused")
    if objects:
        return FileKind("npz-object", f"object arrays in {', '.join(objects[:5])}", 0, objects)
    if pickles:
        return FileKind("zip-pickle", f"pickles in {', '.join(pickles[:5])}", 0, pickles)
    if npys:
        return FileKind("npz", f"{npys} NumPy array(s)")
    return FileKind("zip", f"{len(infos)} member(s), no pickle")


def classify(path: Path, rel: str = "") -> FileKind:
    """The format of a local file from its content (see module docstring)."""
    with path.open("rb") as f:
        head = f.read(MAX_NUMPY_HEADER + 16)
    name = (rel or path.name).lower()
    if head[:2] in PICKLE_MAGIC:
        return FileKind("pickle", f"pickle protocol {head[1]}")
    if head.startswith(NUMPY_MAGIC):
        return _numpy_kind(head)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(path)
    if head.startswith(GGUF_MAGIC):
        return FileKind("gguf")
    if head.startswith(HDF5_MAGIC):
        return FileKind("hdf5", "HDF5 (a Keras file may hold Lambda-layer code)")
    for magic, codec in COMPRESSED_MAGIC.items():
        if head.startswith(magic) and (is_pickle_name(name) or name.endswith(".joblib")):
            return FileKind("compressed", f"{codec}-compressed (a joblib pickle?)")
    if name.endswith(".safetensors"):
        return FileKind("safetensors")
    if is_pickle_name(name):
        # named like a pickle but without a protocol header: protocol 0 pickles are text,
        # so every engine still reads it, and one that cannot fails it
        return FileKind("pickle", "pickle by name (no protocol header)")
    if b"\x00" not in head[:8192]:
        return FileKind("text")
    return FileKind("other", "binary, no pickle header")
