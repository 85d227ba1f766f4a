"""A revision's contents as the Hub pages them: the tree (with each file's last commit when
expanded), the commit history and paths-info; `routing._Exchange` extends these routes."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlencode

from hub_assets.errors import HubError
from hub_assets.hub_protocol.exchange import ProtocolRequest, ProtocolResponse, json_response
from hub_assets.hub_protocol.repos import Commit, Repo
from hub_assets.hub_protocol.shapes import (
    BlobFacts,
    as_list,
    commit_json,
    entry_json,
    file_security,
    tree_entries,
    truthy,
)

TREE_PAGE_SIZE = 1000
TREE_EXPAND_PAGE_SIZE = 50
COMMITS_PAGE_SIZE = 50


class RevisionRoutes:
    """Tree, commits and paths-info of one request; the subclass resolves revisions."""

    req: ProtocolRequest
    facts: BlobFacts

    def _commit(self, repo: Repo, revision: str | None) -> Commit:
        raise NotImplementedError

    def _link(self, key: str, value: str) -> dict:
        params = [(k, v) for k, vs in self.req.query.items() if k != key for v in vs]
        params.append((key, value))
        url = f"{self.req.base_url}{self.req.path}?{urlencode(params)}"
        return {"Link": f'<{url}>; rel="next"'}

    def _with_last_commit(self, repo: Repo, commit: Commit, entries: list[dict]) -> None:
        history = repo.history(commit)
        for e in entries:
            if e["type"] != "file":
                continue
            last = commit
            for older in history[1:]:
                prev = older.files.get(e["path"])
                if prev is None or prev.sha256 != commit.files[e["path"]].sha256:
                    break
                last = older
            e["lastCommit"] = {"id": last.sha, "title": last.title, "date": last.date}
            e["securityFileStatus"] = file_security(self.facts, commit.files[e["path"]])

    def _tree(self, repo: Repo, revision: str, path: str) -> ProtocolResponse:
        commit = self._commit(repo, revision)
        recursive = truthy(self.req.q("recursive"))
        expand = truthy(self.req.q("expand"))
        entries = tree_entries(commit, path, recursive)
        try:
            start = int(self.req.q("cursor") or 0)
        except ValueError:
            raise HubError(400, None, "Invalid cursor") from None
        size = TREE_EXPAND_PAGE_SIZE if expand else TREE_PAGE_SIZE
        page = entries[start : start + size]
        if expand:
            self._with_last_commit(repo, commit, page)
        nxt = start + size
        headers = self._link("cursor", str(nxt)) if nxt < len(entries) else {}
        return json_response(page, headers=headers)

    def _commits(self, repo: Repo, revision: str) -> ProtocolResponse:
        commit = self._commit(repo, revision)
        history = repo.history(commit)
        try:
            page_no = int(self.req.q("p") or 0)
        except ValueError:
            raise HubError(400, None, "Invalid page") from None
        start = page_no * COMMITS_PAGE_SIZE
        page = history[start : start + COMMITS_PAGE_SIZE]
        headers = {}
        if start + COMMITS_PAGE_SIZE < len(history):
            headers = self._link("p", str(page_no + 1))
        return json_response([commit_json(c) for c in page], headers=headers)

    def _paths_info(self, repo: Repo, revision: str) -> ProtocolResponse:
        commit = self._commit(repo, revision)
        body = self.req.body
        if "json" in self.req.headers.get("content-type", ""):
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                raise HubError(400, None, "The body is not JSON.") from None
            paths, expand = as_list(data.get("paths")), bool(data.get("expand"))
        else:
            form = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = truthy((form.get("expand") or ["false"])[-1])
        out = []
        for p in paths:
            p = str(p).strip("/")
            if p in commit.files:
                out.append(entry_json(commit.files[p]))
            elif any(f.startswith(p + "/") for f in commit.files):
                out.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": p})
        if expand:
            self._with_last_commit(repo, commit, out)
        return json_response(out)
