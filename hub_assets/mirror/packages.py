"""Reading a package zip in place: where each stored member's bytes start, and whether the
zip is still the one the registry recorded.

Members are stored uncompressed, so a file of the model is one contiguous byte span of the
zip: a `Range` request on the file is a range of the zip, read where the zip lives (a local
file, sent with `sendfile`, or S3 ranged GETs). Nothing is unpacked.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from hub_assets.errors import PackageIntegrityError

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")  # the 30 bytes before a member's name
_LOCAL_MAGIC = b"PK\x03\x04"
MODEL_PREFIX = "model/"


@dataclass(frozen=True)
class Member:
    """Where one file's bytes lie in the zip."""

    offset: int
    size: int


def member_spans(f: BinaryIO, expected: dict[str, int]) -> dict[str, Member]:
    """The data span of every `model/...` member, checked against the manifest's sizes
    (`expected`: member name -> size). Raises `PackageIntegrityError` for a compressed
    member, a size mismatch, or a file of the manifest missing from the zip."""
    try:
        infos = zipfile.ZipFile(f).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise PackageIntegrityError(f"not a readable zip ({e})") from e
    spans: dict[str, Member] = {}
    for info in infos:
        if info.filename not in expected:
            continue
        if info.compress_type != zipfile.ZIP_STORED:
            raise PackageIntegrityError(f"member {info.filename} is compressed")
        if info.file_size != expected[info.filename]:
            raise PackageIntegrityError(
                f"member {info.filename} holds {info.file_size} bytes, the manifest says "
                f"{expected[info.filename]}"
            )
        f.seek(info.header_offset)
        header = f.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size:
            raise PackageIntegrityError(f"member {info.filename} is cut short")
        magic, *_, name_len, extra_len = _LOCAL_HEADER.unpack(header)
        if magic != _LOCAL_MAGIC:
            raise PackageIntegrityError(f"member {info.filename} has no local header")
        offset = info.header_offset + _LOCAL_HEADER.size + name_len + extra_len
        spans[info.filename] = Member(offset, info.file_size)
    missing = sorted(set(expected) - set(spans))
    if missing:
        raise PackageIntegrityError(f"the zip lacks {', '.join(missing)}")
    return spans
