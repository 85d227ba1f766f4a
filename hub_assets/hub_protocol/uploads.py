"""Uploads to the Hub's write API: the store interface writes go to (`RepoWriter`), the
one-time upload tickets, and the Git LFS routes (the batch API hands out one upload URL
per object, basic transfer: one PUT, then a verify call). An uploaded object is hashed as
it streams and kept only when it matches its announced sha256 and size."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from hub_assets.errors import HubError, UploadRejectedError
from hub_assets.hub_protocol.exchange import ProtocolRequest, ProtocolResponse, json_response
from hub_assets.hub_protocol.repos import Caller, Commit, FileEntry, Repo

LFS_PREFIX = "/_lfs/"
TICKET_TTL_S = 3600.0
GITATTRIBUTES = b"""*.7z filter=lfs diff=lfs merge=lfs -text
*.bin filter=lfs diff=lfs merge=lfs -text
*.ckpt filter=lfs diff=lfs merge=lfs -text
*.gguf filter=lfs diff=lfs merge=lfs -text
*.h5 filter=lfs diff=lfs merge=lfs -text
*.msgpack filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
*.ot filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.pth filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.zip filter=lfs diff=lfs merge=lfs -text
"""


class RepoWriter(Protocol):
    """What the write API needs from a store that accepts writes (the catalog folder)."""

    def create_repo(self, repo_type: str, repo_id: str, *, private: bool, author: str) -> Repo:
        """A new repo with its first commit (`.gitattributes`); ValueError if it exists."""
        ...

    def delete_repo(self, repo_type: str, repo_id: str) -> bool:
        """Remove a repo; False when there was none."""
        ...

    def update_meta(self, repo_type: str, repo_id: str, **meta: object) -> Repo:
        """Change a repo's settings (private, gated) without a commit."""
        ...

    def blob_size(self, sha256: str) -> int | None:
        """The size of a stored object, or None when it is not stored."""
        ...

    def receive_blob(self, stream: BinaryIO, sha256: str, size: int) -> None:
        """Store an object read from `stream`, hashed as it streams; `UploadRejectedError`
        (and nothing kept) when its sha256 or size differ."""
        ...

    def commit(
        self,
        repo_type: str,
        repo_id: str,
        files: Mapping[str, bytes | FileEntry],
        *,
        authors: list[str],
        title: str,
        message: str = "",
        delete: list[str] = (),  # type: ignore[assignment]
        branch: str = "main",
    ) -> Commit:
        """A new commit on `branch`: files added or replaced, paths deleted."""
        ...

    def create_branch(self, repo_type: str, repo_id: str, branch: str, start: str) -> None:
        """A branch at the commit `start` names; ValueError if it exists."""
        ...

    def tag(self, repo_type: str, repo_id: str, tag: str, revision: str = "main") -> None:
        """A tag at the commit `revision` names."""
        ...


@dataclass
class WriteState:
    """The store that accepts writes, its size limit, and the open upload tickets."""

    writer: RepoWriter
    max_file_bytes: int = 50 * 1024**3
    tickets: dict[str, tuple[str, int, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ticket(self, oid: str, size: int) -> str:
        """A one-time permission to PUT one object (the PUT carries no token)."""
        t = secrets.token_urlsafe(24)
        with self.lock:
            now = time.monotonic()
            self.tickets = {k: v for k, v in self.tickets.items() if v[2] > now}
            self.tickets[t] = (oid, size, now + TICKET_TTL_S)
        return t

    def redeem(self, ticket: str, oid: str) -> int:
        """The size announced for `oid` under `ticket` (used once)."""
        with self.lock:
            found = self.tickets.pop(ticket, None)
        if found is None or found[0] != oid or found[2] < time.monotonic():
            raise HubError(403, None, "Unknown or expired upload ticket: ask the batch API again.")
        return found[1]


def json_body(body: bytes) -> dict:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise HubError(400, None, "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise HubError(400, None, "The body must be a JSON object.")
    return data


class UploadRoutes:
    """The upload routes of one request (the LFS batch API and its objects), and who is
    writing; `writes.WriteRoutes` adds the repo, commit, branch and tag routes."""

    def __init__(self, state: WriteState, req: ProtocolRequest, caller: Caller | None) -> None:
        self.state, self.req, self.caller = state, req, caller

    def _author(self) -> str:
        if self.caller is None or self.caller.role == "none":
            raise HubError(
                401, None, "Writing needs a token: pass one with the write role (HF_TOKEN)."
            )
        if self.caller.role != "write":
            raise HubError(
                403,
                None,
                f"The token of {self.caller.name} is read-only: writing needs the write role.",
            )
        return self.caller.name

    def _check_size(self, path: str, size: int) -> None:
        if size > self.state.max_file_bytes:
            raise HubError(
                413,
                None,
                f"{path} is {size:,} bytes, over this Hub's limit of "
                f"{self.state.max_file_bytes:,} bytes per file.",
            )

    def _batch(self) -> dict:
        self._author()
        data = json_body(self.req.body)
        if data.get("operation") != "upload":
            raise HubError(400, None, "Only the upload operation is served.")
        objects = []
        for obj in data.get("objects", []):
            oid, size = str(obj.get("oid", "")), int(obj.get("size", 0))
            entry: dict = {"oid": oid, "size": size, "authenticated": True}
            if len(oid) != 64 or any(c not in "0123456789abcdef" for c in oid):
                entry["error"] = {"code": 422, "message": f"Invalid sha256 oid {oid!r}"}
            elif size > self.state.max_file_bytes:
                entry["error"] = {
                    "code": 413,
                    "message": f"{size:,} bytes is over this Hub's limit of "
                    f"{self.state.max_file_bytes:,} bytes per file.",
                }
            elif self.state.writer.blob_size(oid) != size:
                ticket = self.state.ticket(oid, size)
                base = f"{self.req.base_url}{LFS_PREFIX}{oid}"
                entry["actions"] = {
                    "upload": {"href": f"{base}?ticket={ticket}", "header": {}},
                    "verify": {"href": f"{base}/verify", "header": {}},
                }
            objects.append(entry)
        return {"transfer": "basic", "objects": objects}

    def _lfs_object(self) -> ProtocolResponse:
        oid, _, tail = self.req.path[len(LFS_PREFIX) :].partition("/")
        if self.req.method == "PUT" and not tail:
            size = self.state.redeem(self.req.q("ticket") or "", oid)
            stream = self.req.stream
            if stream is None:
                raise HubError(400, None, "An upload needs a body.")
            try:
                self.state.writer.receive_blob(stream, oid, size)
            except UploadRejectedError as e:
                raise HubError(400, "BadUpload", str(e)) from None
            return json_response({})
        if self.req.method == "POST" and tail == "verify":
            self._author()
            data = json_body(self.req.body)
            stored = self.state.writer.blob_size(oid)
            if stored is None or data.get("oid") != oid or stored != data.get("size"):
                raise HubError(
                    400, "BadUpload", f"Object {oid} is not stored with size {data.get('size')}."
                )
            return json_response({})
        raise HubError(404, None, f"Not found: {self.req.path}")
