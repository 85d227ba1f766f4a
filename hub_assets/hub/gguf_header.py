"""A GGUF file's header, read with bounds: what the file says it holds, never trusted blindly.

A GGUF file starts with its metadata (key/value pairs) and the list of its tensors (name,
shape, type, offset); the tensor data follows. This reader walks that header through a
`read_at(offset, length)` callable, so a remote file is read with a few HTTP range requests
and never downloaded whole. Type sizes and quantisation block sizes come from the `gguf`
package (llama.cpp's own Python package).

Every count, length and offset is checked before it is used: a header that claims more
tensors, keys, array items or bytes than the limits below, a string running past the end, a
tensor whose data lies outside the file, an unknown type: each is a `MalformedGgufError`
naming what is wrong, for the security metric to report as a finding.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, LlamaFileType

from hub_assets.errors import MalformedGgufError

MAGIC = b"GGUF"
MAX_TENSORS = 100_000  # the largest mixture-of-experts files hold a few thousand
MAX_KEYS = 10_000
MAX_ARRAY_ITEMS = 8_000_000  # vocabularies reach ~260k tokens; merges a few hundred k
MAX_STRING_BYTES = 4 * 1024**2  # chat templates are tens of kB
MAX_HEADER_BYTES = 64 * 1024**2  # the largest vocabularies' headers take ~10 MB
MAX_DIMS = 4  # GGML_MAX_DIMS
READ_BLOCK = 1024**2  # bytes of the first range request; each next one twice as many
MAX_READ_BLOCK = 16 * 1024**2

_SCALARS = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}


@dataclass(frozen=True)
class GgufTensor:
    """One tensor as the header lists it."""

    name: str
    shape: tuple[int, ...]
    type_name: str
    offset: int
    n_elements: int
    n_bytes: int


@dataclass
class GgufHeader:
    """What a GGUF file's header says: scalar metadata (arrays as their item counts) and
    the tensors."""

    version: int
    metadata: dict[str, object]
    tensors: list[GgufTensor]
    data_offset: int
    file_size: int
    array_counts: dict[str, int] = field(default_factory=dict)

    @property
    def architecture(self) -> str | None:
        arch = self.metadata.get("general.architecture")
        return str(arch) if arch is not None else None

    def arch_value(self, key: str) -> object | None:
        """`{architecture}.{key}`, e.g. `block_count`, `attention.head_count_kv`."""
        return self.metadata.get(f"{self.architecture}.{key}")

    @property
    def parameters(self) -> int:
        return sum(t.n_elements for t in self.tensors)

    def parameters_by_type(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.type_name] = out.get(t.type_name, 0) + t.n_elements
        return dict(sorted(out.items()))

    @property
    def tensor_bytes(self) -> int:
        return sum(t.n_bytes for t in self.tensors)

    @property
    def file_type(self) -> str | None:
        """The quantisation the file declares (`general.file_type`), e.g. MOSTLY_Q8_0."""
        ft = self.metadata.get("general.file_type")
        try:
            return LlamaFileType(int(ft)).name if ft is not None else None
        except (ValueError, TypeError):
            return f"unknown ({ft})"

    @property
    def quantization(self) -> str:
        """The tensor type holding most of the bytes (F16, Q8_0, Q4_K...)."""
        by_bytes: dict[str, int] = {}
        for t in self.tensors:
            by_bytes[t.type_name] = by_bytes.get(t.type_name, 0) + t.n_bytes
        return max(by_bytes, key=by_bytes.get) if by_bytes else "none"


class _Cursor:
    """Sequential reads over `read_at`, a block at a time, bounded by the file size."""

    def __init__(self, read_at: Callable[[int, int], bytes], size: int) -> None:
        self.read_at = read_at
        self.size = size
        self.pos = 0
        self._block_start = 0
        self._block = b""
        self._next_block = READ_BLOCK

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise MalformedGgufError(
                f"{what} at byte {self.pos} needs {n} bytes, past the end of the "
                f"{self.size}-byte file"
            )
        if self.pos + n > MAX_HEADER_BYTES:
            raise MalformedGgufError(
                f"the header runs past {MAX_HEADER_BYTES // 1024**2} MiB ({what} at byte "
                f"{self.pos})"
            )
        out = bytearray()
        while len(out) < n:
            at = self.pos + len(out)
            end = self._block_start + len(self._block)
            if not self._block_start <= at < end:
                length = min(max(self._next_block, n - len(out)), self.size - at)
                self._next_block = min(self._next_block * 2, MAX_READ_BLOCK)
                self._block = self.read_at(at, length)
                self._block_start = at
                if not self._block:
                    raise MalformedGgufError(f"the file ended early while reading {what}")
                end = at + len(self._block)
            out += self._block[at - self._block_start : min(end, at + n - len(out))]
        self.pos += n
        return bytes(out)

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise MalformedGgufError(f"{what} at byte {self.pos} runs past the end of the file")
        self.pos += n

    def scalar(self, fmt: str, what: str) -> int | float | bool:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.scalar("<Q", f"length of {what}")
        if n > MAX_STRING_BYTES:
            raise MalformedGgufError(f"{what} claims {n:,} bytes (limit {MAX_STRING_BYTES:,})")
        return self.take(n, what).decode("utf-8", errors="replace")


def _value_type(raw: int, what: str) -> GGUFValueType:
    try:
        return GGUFValueType(raw)
    except ValueError:
        raise MalformedGgufError(f"{what} has unknown value type {raw}") from None


def _read_value(cur: _Cursor, vtype: GGUFValueType, key: str, counts: dict[str, int]) -> object:
    if vtype in _SCALARS:
        return cur.scalar(_SCALARS[vtype], f"value of {key!r}")
    if vtype == GGUFValueType.STRING:
        return cur.string(f"value of {key!r}")
    if vtype != GGUFValueType.ARRAY:
        raise MalformedGgufError(f"{key!r} has unsupported value type {vtype}")
    item = _value_type(cur.scalar("<I", f"item type of {key!r}"), f"array {key!r}")
    n = cur.scalar("<Q", f"length of {key!r}")
    if n > MAX_ARRAY_ITEMS:
        raise MalformedGgufError(f"array {key!r} claims {n:,} items (limit {MAX_ARRAY_ITEMS:,})")
    counts[key] = n
    if item in _SCALARS:
        cur.skip(n * struct.calcsize(_SCALARS[item]), f"array {key!r}")
    elif item == GGUFValueType.STRING:
        for i in range(n):
            length = cur.scalar("<Q", f"length of {key!r}[{i}]")
            if length > MAX_STRING_BYTES:
                raise MalformedGgufError(f"{key!r}[{i}] claims {length:,} bytes")
            cur.skip(length, f"{key!r}[{i}]")
    else:
        raise MalformedGgufError(f"array {key!r} of {item.name} is not supported")
    return None


def read_gguf_header(read_at: Callable[[int, int], bytes], size: int) -> GgufHeader:
    """The header of a GGUF file of `size` bytes read through `read_at(offset, length)`;
    `MalformedGgufError` for anything out of format or out of bounds (see module)."""
    cur = _Cursor(read_at, size)
    if cur.take(4, "magic") != MAGIC:
        raise MalformedGgufError("not a GGUF file (the first four bytes are not 'GGUF')")
    version = cur.scalar("<I", "version")
    if version not in (2, 3):
        raise MalformedGgufError(f"GGUF version {version} is not supported (2 or 3)")
    n_tensors = cur.scalar("<Q", "tensor count")
    n_kv = cur.scalar("<Q", "metadata count")
    if n_tensors > MAX_TENSORS:
        raise MalformedGgufError(f"claims {n_tensors:,} tensors (limit {MAX_TENSORS:,})")
    if n_kv > MAX_KEYS:
        raise MalformedGgufError(f"claims {n_kv:,} metadata keys (limit {MAX_KEYS:,})")
    metadata: dict[str, object] = {}
    counts: dict[str, int] = {}
    for i in range(n_kv):
        key = cur.string(f"metadata key {i}")
        vtype = _value_type(cur.scalar("<I", f"type of {key!r}"), repr(key))
        value = _read_value(cur, vtype, key, counts)
        if value is not None:
            metadata[key] = value
    raw_tensors = []
    for i in range(n_tensors):
        name = cur.string(f"tensor name {i}")
        n_dims = cur.scalar("<I", f"dimensions of {name!r}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise MalformedGgufError(f"tensor {name!r} claims {n_dims} dimensions (1 to 4)")
        shape = tuple(cur.scalar("<Q", f"shape of {name!r}") for _ in range(n_dims))
        raw_type = cur.scalar("<I", f"type of {name!r}")
        offset = cur.scalar("<Q", f"offset of {name!r}")
        raw_tensors.append((name, shape, raw_type, offset))
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise MalformedGgufError(f"general.alignment {alignment!r} is not a power of two")
    data_offset = -(-cur.pos // alignment) * alignment
    data_size = size - data_offset
    tensors = []
    for name, shape, raw_type, offset in raw_tensors:
        try:
            qtype = GGMLQuantizationType(raw_type)
            block, type_size = GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            raise MalformedGgufError(f"tensor {name!r} has unknown type {raw_type}") from None
        n_elements = 1
        for d in shape:
            n_elements *= d
        if n_elements > 2**48 or shape[0] % block:
            raise MalformedGgufError(
                f"tensor {name!r} has shape {shape}, impossible for {qtype.name}"
            )
        n_bytes = n_elements // block * type_size
        if offset % alignment or offset + n_bytes > data_size:
            raise MalformedGgufError(
                f"tensor {name!r} lies at bytes {offset:,}+{n_bytes:,} of the data section, "
                f"outside the file's {max(data_size, 0):,} data bytes"
            )
        tensors.append(GgufTensor(name, shape, qtype.name, offset, n_elements, n_bytes))
    return GgufHeader(version, metadata, tensors, data_offset, size, counts)


def read_local_gguf_header(path: Path) -> GgufHeader:
    """The header of a GGUF file on disk (see `read_gguf_header`)."""
    size = path.stat().st_size
    with path.open("rb") as f:

        def read_at(offset: int, length: int) -> bytes:
            f.seek(offset)
            return f.read(length)

        return read_gguf_header(read_at, size)


def gguf_summary(header: GgufHeader) -> dict:
    """What the footprint keeps of a `GgufHeader` (JSON-ready, cached with the metadata)."""
    get = header.arch_value

    def num(key: str) -> int | None:
        v = get(key)
        return int(v) if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None

    heads = num("attention.head_count")
    hidden = num("embedding_length")
    head_dim = num("attention.key_length") or num("rope.dimension_count")
    return {
        "architecture": header.architecture,
        "parameters": header.parameters,
        "parameters_by_type": header.parameters_by_type(),
        "tensor_bytes": header.tensor_bytes,
        "quantization": header.quantization,
        "file_type": header.file_type,
        "tensors": len(header.tensors),
        "arch": {
            "layers": num("block_count"),
            "hidden_size": hidden,
            "heads": heads,
            "kv_heads": num("attention.head_count_kv") or heads,
            "head_dim": head_dim or (hidden // heads if hidden and heads else None),
            "context_length": num("context_length"),
            "decoder": True,
        },
    }
