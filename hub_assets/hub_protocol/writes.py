"""The Hub's write API over a `RepoWriter`: what `create_repo`, `create_commit`,
`upload_file`, `upload_folder`, `delete_repo`, `update_repo_settings`, `create_branch`,
`create_tag` and the card helpers send.

Large files take the Git LFS path (`hub_protocol/uploads.py`): `preupload` says which files
are LFS, the batch API hands out one upload URL per object, and the commit names them by
sha256; nothing is committed unless each object matched its announced sha256 and size.
Every write needs a token with the write role; each commit is authored by the token's user.
"""

from __future__ import annotations

import base64
import json

from hub_assets.errors import (
    HubError,
    InvalidRepoIdError,
    InvalidRepoPathError,
)
from hub_assets.hub_protocol.exchange import ProtocolResponse, json_response
from hub_assets.hub_protocol.repos import Commit, FileEntry, Repo, is_lfs, lfs_pointer_oid
from hub_assets.hub_protocol.uploads import LFS_PREFIX, UploadRoutes, json_body
from hub_assets.ids import validate_repo_id
from hub_assets.ids import validate_repo_path as _validate_path


def _path(path: str) -> str:
    try:
        return _validate_path(path)
    except InvalidRepoPathError as e:
        raise HubError(400, "InvalidPath", str(e)) from None


class WriteRoutes(UploadRoutes):
    """The write routes of one request; `answer` is None when the route is not a write."""

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
        data = json_body(self.req.body)
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
        repo_type, repo_id = self._repo_id(json_body(self.req.body))
        if not self.state.writer.delete_repo(repo_type, repo_id):
            raise HubError(404, "RepoNotFound", f"Repository not found: {repo_type} {repo_id!r}.")
        return {}

    def _settings(self, repo: Repo, _: str) -> dict:
        data = json_body(self.req.body)
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
    def _preupload(self, repo: Repo, revision: str) -> dict:
        commit = repo.resolve(revision) if repo.commits else None
        out = []
        for f in json_body(self.req.body).get("files", []):
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

        start = json_body(self.req.body).get("startingPoint") or "main"
        try:
            self.state.writer.create_branch(repo.repo_type, repo.repo_id, unquote(name), start)
        except ValueError as e:
            raise HubError(409, None, str(e)) from None
        return {}

    def _tag(self, repo: Repo, revision: str) -> dict:
        from urllib.parse import unquote

        data = json_body(self.req.body)
        tag = data.get("tag")
        if not isinstance(tag, str) or not tag:
            raise HubError(400, None, "A tag needs a name.")
        if tag in repo.tags:
            raise HubError(409, None, f"Tag {tag} already exists.")
        if repo.resolve(unquote(revision)) is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {unquote(revision)}")
        self.state.writer.tag(repo.repo_type, repo.repo_id, tag, unquote(revision))
        return {}
