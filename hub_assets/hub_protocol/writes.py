"""The Hub's write API over a `RepoWriter`: what `create_repo`, `create_commit`,
`upload_file`, `upload_folder`, `delete_repo`, `update_repo_settings`, `create_branch`,
`create_tag` and the card helpers send.

Large files take the Git LFS path: `preupload` says which files are LFS, the batch API
hands out one upload URL per object (basic transfer: one PUT, then a verify call), and the
commit names them by sha256. An uploaded object is hashed as it streams and kept only when
it matches its announced sha256 and size; nothing is committed otherwise. Every write needs
a token with the write role; each commit is authored by the token's user.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from hub_assets.errors import (
    HubError,
    InvalidRepoIdError,
    InvalidRepoPathError,
    UploadRejectedError,
)
from hub_assets.hub_protocol.exchange import ProtocolRequest, ProtocolResponse, json_response
from hub_assets.hub_protocol.repos import Caller, Commit, FileEntry, Repo, is_lfs, lfs_pointer_oid
from hub_assets.ids import validate_repo_id
from hub_assets.ids import validate_repo_path as _validate_path

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


def _path(path: str) -> str:
    try:
        return _validate_path(path)
    except InvalidRepoPathError as e:
        raise HubError(400, "InvalidPath", str(e)) from None


def _json(body: bytes) -> dict:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise HubError(400, None, "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise HubError(400, None, "The body must be a JSON object.")
    return data


class WriteRoutes:
    """The write routes of one request; `answer` is None when the route is not a write."""

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

    def answer(self, store_repo) -> ProtocolResponse | None:  # noqa: ANN001 - store.repo
        """Route a write request, or None when the request is not one."""
        req, path = self.req, self.req.path
        if req.method == "POST" and path == "/api/repos/create":
            return json_response(self._create_repo())
        if req.method == "DELETE" and path == "/api/repos/delete":
            return json_response(self._delete_repo())
        if path.startswith(LFS_PREFIX):
            return self._lfs_object()
        if "/xet-write-token/" in path or "/xet-read-token/" in path:
            raise HubError(
                501,
                None,
                "This Hub stores large files with Git LFS, not Xet: set HF_HUB_DISABLE_XET=1 "
                "on the client to upload them.",
            )
        if req.method == "POST" and path.endswith(".git/info/lfs/objects/batch"):
            return json_response(
                self._batch(), headers={"Content-Type": "application/vnd.git-lfs+json"}
            )
        parts = path.split("/")
        if len(parts) < 5 or parts[1] != "api" or parts[2] not in ("models", "datasets"):
            return None
        repo_type = parts[2][:-1]
        for kw in ("settings", "preupload", "commit", "branch", "tag"):
            if kw in parts[4:6]:
                i = parts.index(kw, 4)
                repo_id = "/".join(parts[3:i])
                rest = "/".join(parts[i + 1 :])
                break
        else:
            return None
        writes = {
            ("PUT", "settings"): self._settings,
            ("POST", "preupload"): self._preupload,
            ("POST", "commit"): self._commit,
            ("POST", "branch"): self._branch,
            ("POST", "tag"): self._tag,
        }
        handler = writes.get((req.method, kw))
        if handler is None:
            return None
        self._author()
        repo = store_repo(repo_type, repo_id)
        if repo is None:
            raise HubError(404, "RepoNotFound", f"Repository not found: {repo_type} {repo_id!r}.")
        return json_response(handler(repo, rest))

    # -- repos ------------------------------------------------------------------------------
    def _repo_id(self, data: dict) -> tuple[str, str]:
        name, org = data.get("name"), data.get("organization")
        repo_type = data.get("type") or "model"
        if repo_type not in ("model", "dataset"):
            raise HubError(400, None, f"The development Hub has no {repo_type} repos.")
        if not isinstance(name, str):
            raise HubError(400, None, "A repo needs a name.")
        repo_id = f"{org}/{name}" if org else (name if "/" in name else f"{self._author()}/{name}")
        try:
            validate_repo_id(repo_id)
        except InvalidRepoIdError as e:
            raise HubError(400, None, str(e)) from None
        return repo_type, repo_id

    def _create_repo(self) -> dict:
        author = self._author()
        data = _json(self.req.body)
        repo_type, repo_id = self._repo_id(data)
        private = bool(data.get("private")) or data.get("visibility") == "private"
        prefix = "" if repo_type == "model" else "datasets/"
        url = f"{self.req.base_url}/{prefix}{repo_id}"
        try:
            self.state.writer.create_repo(repo_type, repo_id, private=private, author=author)
        except ValueError:
            raise HubError(
                409,
                None,
                f"You already created this {repo_type} repo: {repo_id}.",
                extra={"url": url},
            ) from None
        return {"url": url, "name": repo_id}

    def _delete_repo(self) -> dict:
        self._author()
        repo_type, repo_id = self._repo_id(_json(self.req.body))
        if not self.state.writer.delete_repo(repo_type, repo_id):
            raise HubError(404, "RepoNotFound", f"Repository not found: {repo_type} {repo_id!r}.")
        return {}

    def _settings(self, repo: Repo, _: str) -> dict:
        data = _json(self.req.body)
        meta: dict = {}
        if "gated" in data:
            if data["gated"] not in ("auto", "manual", False):
                raise HubError(400, None, "gated must be 'auto', 'manual' or false.")
            meta["gated"] = data["gated"]
        if "visibility" in data or "private" in data:
            meta["private"] = data.get("visibility") == "private" or bool(data.get("private"))
        self.state.writer.update_meta(repo.repo_type, repo.repo_id, **meta)
        return {}

    # -- uploads ---------------------------------------------------------------------------
    def _check_size(self, path: str, size: int) -> None:
        if size > self.state.max_file_bytes:
            raise HubError(
                413,
                None,
                f"{path} is {size:,} bytes, over this Hub's limit of "
                f"{self.state.max_file_bytes:,} bytes per file.",
            )

    def _preupload(self, repo: Repo, revision: str) -> dict:
        commit = repo.resolve(revision) if repo.commits else None
        out = []
        for f in _json(self.req.body).get("files", []):
            path, size = _path(str(f.get("path", ""))), int(f.get("size", 0))
            self._check_size(path, size)
            current = commit.files.get(path) if commit else None
            out.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if is_lfs(path, size) else "regular",
                    "shouldIgnore": False,
                    "oid": current.git_oid if current else None,
                }
            )
        return {"files": out, "commitOid": commit.sha if commit else None}

    def _batch(self) -> dict:
        self._author()
        data = _json(self.req.body)
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
            data = _json(self.req.body)
            stored = self.state.writer.blob_size(oid)
            if stored is None or data.get("oid") != oid or stored != data.get("size"):
                raise HubError(
                    400, "BadUpload", f"Object {oid} is not stored with size {data.get('size')}."
                )
            return json_response({})
        raise HubError(404, None, f"Not found: {self.req.path}")

    # -- commits -----------------------------------------------------------------------------
    def _commit(self, repo: Repo, revision: str) -> dict:
        from urllib.parse import unquote

        author = self._author()
        branch = unquote(revision)
        if self.req.q("create_pr") in ("1", "true"):
            raise HubError(400, None, "The development Hub has no pull requests.")
        if repo.commits and branch not in repo.refs:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {branch} (not a branch)")
        head = repo.resolve(branch) if repo.commits else None
        header: dict = {}
        files: dict[str, bytes | FileEntry] = {}
        delete: list[str] = []
        for line in self.req.body.splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = item["key"], item["value"]
            except (ValueError, KeyError, TypeError):
                raise HubError(400, None, "Malformed commit line: expected {key, value}.") from None
            try:
                if key == "header":
                    header = dict(value)
                else:
                    self._operation(key, value, head, files, delete)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise HubError(400, None, f"Malformed {key!r} commit line.") from None
        parent = header.get("parentCommit")
        if parent and head is not None and parent != head.sha:
            raise HubError(
                412, None, f"A commit has happened since {parent}: {branch} is at {head.sha}."
            )
        commit = self.state.writer.commit(
            repo.repo_type,
            repo.repo_id,
            files,
            authors=[author],
            title=str(header.get("summary") or "Upload"),
            message=str(header.get("description") or ""),
            delete=delete,
            branch=branch,
        )
        prefix = "" if repo.repo_type == "model" else "datasets/"
        return {
            "commitUrl": f"{self.req.base_url}/{prefix}{repo.repo_id}/commit/{commit.sha}",
            "commitOid": commit.sha,
            "pullRequestUrl": None,
        }

    def _operation(
        self,
        key: str,
        value: dict,
        head: Commit | None,
        files: dict[str, bytes | FileEntry],
        delete: list[str],
    ) -> None:
        """Apply one commit line (not the header) to `files` / `delete`."""
        if key == "file":
            path = _path(value["path"])
            content = base64.b64decode(value["content"], validate=True)
            self._check_size(path, len(content))
            files[path] = content
        elif key == "lfsFile":
            path, oid = _path(value["path"]), str(value["oid"])
            stored = self.state.writer.blob_size(oid)
            if stored is None or ("size" in value and value["size"] != stored):
                raise HubError(
                    400,
                    "BadUpload",
                    f"LFS object {oid} for {path} was not uploaded (or not verified): "
                    "nothing was committed.",
                )
            files[path] = FileEntry(path, stored, oid, lfs_pointer_oid(oid, stored), True)
        elif key == "deletedFile":
            path = _path(value["path"])
            if head is None or path not in head.files:
                raise HubError(404, "EntryNotFound", f"Cannot delete {path}: no such file.")
            delete.append(path)
        elif key == "deletedFolder":
            prefix = _path(str(value["path"]).rstrip("/")) + "/"
            delete += [p for p in (head.files if head else {}) if p.startswith(prefix)]
        else:
            raise HubError(400, None, f"Unknown commit operation {key!r}.")

    def _branch(self, repo: Repo, name: str) -> dict:
        from urllib.parse import unquote

        start = _json(self.req.body).get("startingPoint") or "main"
        try:
            self.state.writer.create_branch(repo.repo_type, repo.repo_id, unquote(name), start)
        except ValueError as e:
            raise HubError(409, None, str(e)) from None
        return {}

    def _tag(self, repo: Repo, revision: str) -> dict:
        from urllib.parse import unquote

        data = _json(self.req.body)
        tag = data.get("tag")
        if not isinstance(tag, str) or not tag:
            raise HubError(400, None, "A tag needs a name.")
        if tag in repo.tags:
            raise HubError(409, None, f"Tag {tag} already exists.")
        if repo.resolve(unquote(revision)) is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {unquote(revision)}")
        self.state.writer.tag(repo.repo_type, repo.repo_id, tag, unquote(revision))
        return {}
