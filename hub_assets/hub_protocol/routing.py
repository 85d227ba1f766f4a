"""The Hub's HTTP API over a `RepoStore`, independent of the HTTP server that carries it.

What `huggingface_hub`, `datasets`, `transformers`, `sentence-transformers` and `hf` call:
listing, repo info, tree, paths-info, commits, refs, `auth-check`, `whoami-v2` and `resolve`
downloads (HEAD, ranges, `X-Repo-Commit`, `X-Linked-Etag`). `answer` turns one request into
one `ProtocolResponse`; `http.py` (threaded, `sendfile`) and `asgi.py` (mounted in the
registry service) write it out.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import get_args
from urllib.parse import unquote

import yaml
from huggingface_hub.hf_api import ExpandDatasetProperty_T, ExpandModelProperty_T

from hub_assets.errors import HubError
from hub_assets.hub_protocol.exchange import (
    API_KEYWORDS,
    AccessLog,
    AccessRecord,
    ExtraRoutes,
    FaultSource,
    ProtocolRequest,
    ProtocolResponse,
    Served,
    error_response,
    json_response,
    route_name,
)
from hub_assets.hub_protocol.files import file_answer
from hub_assets.hub_protocol.listing import list_page
from hub_assets.hub_protocol.repos import (
    CURRENT_CALLER,
    Access,
    Caller,
    Commit,
    ListingExtension,
    Repo,
    RepoStore,
    StaticTokens,
)
from hub_assets.hub_protocol.revision_routes import RevisionRoutes
from hub_assets.hub_protocol.shapes import (
    BlobFacts,
    refs_json,
    repo_json,
    truthy,
)
from hub_assets.hub_protocol.uploads import WriteState
from hub_assets.hub_protocol.writes import WriteRoutes

ADMIN_PREFIX = "/_hub_assets/"
# The `expand` keys the Hub accepts, as huggingface_hub knows them; any other is a 400.
EXPAND_KEYS = {
    "model": frozenset(get_args(ExpandModelProperty_T)),
    "dataset": frozenset(get_args(ExpandDatasetProperty_T)),
}
INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
log = logging.getLogger("hub_assets.hub_protocol")


@dataclass
class ProtocolState:
    """What every request shares: the store, who may read, faults and request counts."""

    store: RepoStore
    extension: ListingExtension | None = None
    access: Access = field(default_factory=StaticTokens)
    writes: WriteState | None = None  # the write API, for a store that accepts writes
    extra: ExtraRoutes | None = None  # routes beyond the Hub API (the dev Hub's inference)
    faults: FaultSource | None = None
    access_log: AccessLog | None = None  # one record per answered request
    # the largest request body read into memory (commits carry small files inline,
    # base64); a read-only Hub such as the mirror takes far less
    max_body: int = 256 * 1024 * 1024
    requests: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    facts: BlobFacts = field(init=False)

    def __post_init__(self) -> None:
        self.facts = BlobFacts(self.store)


class HubProtocol:
    """Answers the Hub's HTTP API from `state.store`; safe to call from many threads."""

    def __init__(self, state: ProtocolState) -> None:
        self.state = state

    def count(self, req: ProtocolRequest) -> None:
        """Count the request by route, by range, and by repo file."""
        with self.state.lock:
            requests = self.state.requests
            requests[f"{req.method} {route_name(req.path)}"] += 1
            requests["total"] += 1
            if req.headers.get("range"):
                requests[f"{req.method} range"] += 1
            file_path = req.file_path()
            if file_path is not None:  # per repo file: "GET file org/name:path"
                repo = unquote(req.path).partition("/resolve/")[0].strip("/")
                # a closed range (bytes=a-b) reads part of a file, e.g. its header; a whole
                # file or an open-ended resume (bytes=a-) is a file transfer
                rng = req.headers.get("range") or ""
                kind = "range" if re.fullmatch(r"bytes=\d+-\d+", rng.strip()) else "file"
                requests[f"{req.method} {kind} {repo}:{file_path}"] += 1

    def answer(self, req: ProtocolRequest) -> ProtocolResponse:
        """The response to one request (errors answered as the Hub answers them)."""
        served = Served()
        try:
            response = _Exchange(self.state, req, served).route()
        except HubError as e:
            response = error_response(e)
        except Exception:  # a bug, not the caller's fault: say so, keep the connection
            log.exception("Error answering %s %s", req.method, req.path)
            response = error_response(
                HubError(500, None, "Internal error; the server log says why.")
            )
        response.served = served
        return response

    def log_access(
        self, req: ProtocolRequest, response: ProtocolResponse, sent: int, client: str | None
    ) -> None:
        """Hand the answered request to the state's access log, if it keeps one."""
        access_log = self.state.access_log
        if access_log is None:
            return
        served = response.served
        refusal = response.refusal
        if refusal is None and response.status >= 400:
            refusal = "bad_range" if response.status == 416 else f"http_{response.status}"
        access_log.record(
            AccessRecord(
                at=time.time(),
                caller=served.caller,
                method=req.method,
                route=route_name(req.path),
                repo_id=served.repo_id,
                revision=served.revision,
                sha=served.sha,
                path=req.file_path(),
                status=response.status,
                bytes=sent,
                refusal=refusal,
                client=client,
            )
        )


class _Exchange(RevisionRoutes):
    """One request being answered."""

    def __init__(self, state: ProtocolState, req: ProtocolRequest, served: Served) -> None:
        self.state, self.req, self.facts, self.served = state, req, state.facts, served
        self.method = "GET" if req.method == "HEAD" else req.method  # HEAD: GET sans body
        auth = req.headers.get("authorization", "")
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        CURRENT_CALLER.set(None)
        self.caller: Caller | None = state.access.caller(token) if token else None
        if self.caller is not None and self.caller.role != "none":
            served.caller = self.caller.name
            CURRENT_CALLER.set(self.caller)

    def route(self) -> ProtocolResponse:
        path, method = self.req.path, self.method
        if path == "/api/whoami-v2" and method == "GET":
            return self._whoami()
        if path == "/api/validate-yaml" and method == "POST":
            return self._validate_yaml()
        if not self.state.access.public and (self.caller is None or self.caller.role == "none"):
            raise HubError(401, "GatedRepo", self.state.access.login_hint)
        if self.state.writes is not None:
            written = WriteRoutes(self.state.writes, self.req, self.caller).answer(self._writable)
            if written is not None:
                return written
        if self.state.extra is not None:
            extra = self.state.extra.answer(self.req, self._readable)
            if extra is not None:
                return extra
        if path in ("/api/models", "/api/datasets") and method == "GET":
            return self._list(path.rsplit("/", 1)[1][:-1])
        m = re.match(r"^/api/(models|datasets)/(.+)$", path)
        if m:
            return self._api_repo(m.group(1)[:-1], m.group(2))
        if "/resolve/" in path and method == "GET":
            return self._resolve()
        raise HubError(404, None, f"Not found: {path}")

    # -- who --------------------------------------------------------------------------------
    def _whoami(self) -> ProtocolResponse:
        if self.caller is None or self.caller.role == "none":
            raise HubError(401, None, INVALID_CREDENTIALS)
        name = self.caller.name
        return json_response(
            {
                "type": "user",
                "id": name,
                "name": name,
                "fullname": name,
                "email": None,
                "emailVerified": False,
                "isPro": False,
                "canPay": False,
                "orgs": [],
                "auth": {
                    "type": "access_token",
                    "accessToken": {"displayName": name, "role": self.caller.role},
                },
            }
        )

    def _validate_yaml(self) -> ProtocolResponse:
        """A card's YAML header checked as `RepoCard.validate` asks: 400 with the reason."""
        try:
            data = json.loads(self.req.body or b"{}")
            content = data.get("content", "")
        except (ValueError, AttributeError):
            raise HubError(400, None, "The body is not JSON with a `content`.") from None
        if isinstance(content, str) and content.startswith("---"):
            end = content.find("\n---", 3)
            try:
                meta = yaml.safe_load(content[3:end] if end != -1 else "")
            except yaml.YAMLError as e:
                raise HubError(400, None, f"Invalid YAML metadata: {e}") from None
            if end == -1 or not isinstance(meta, dict | None):
                raise HubError(400, None, "The YAML metadata must be a mapping between --- lines.")
        return json_response({"errors": [], "warnings": []})

    # -- listing -----------------------------------------------------------------------------
    def _list(self, repo_type: str) -> ProtocolResponse:
        self._check_expand(repo_type)
        out, cursor = list_page(self.state, repo_type, self.req.query, self._signed_in())
        headers = self._link("cursor", cursor) if cursor is not None else {}
        return json_response(out, headers=headers)

    def _expand(self) -> list[str]:
        return list(self.req.query.get("expand", [])) + list(self.req.query.get("expand[]", []))

    def _check_expand(self, repo_type: str) -> None:
        known = EXPAND_KEYS[repo_type]
        for i, key in enumerate(self._expand()):
            if key not in known:
                raise HubError(
                    400,
                    None,
                    f'"expand[{i}]" must be one of [{", ".join(sorted(known))}]; got {key!r}.',
                )

    # -- one repo ----------------------------------------------------------------------------
    def _find_repo(self, repo_type: str, parts: list[str]) -> tuple[Repo | dict, list[str]]:
        """Split the path after /api/{type}s/ into a repo and what follows its id."""
        store = self.state.store
        candidates = []
        if len(parts) >= 2:
            candidates.append(("/".join(parts[:2]), parts[2:]))
        candidates.append((parts[0], parts[1:]))
        shown = "/".join(parts[:2]) if len(parts) > 1 and parts[1] not in API_KEYWORDS else parts[0]
        self._asked(repo_type, unquote(shown))
        for repo_id, rest in candidates:
            repo = self._visible(store.repo(repo_type, unquote(repo_id)))
            if repo is not None:
                self._asked(repo_type, repo.repo_id)
                return repo, rest
            extension = self.state.extension
            if repo_type == "model" and extension is not None and extension.count:
                i = extension.index_of(unquote(repo_id))
                if i is not None:
                    return extension.info(i), rest
        raise HubError(
            404,
            "RepoNotFound",
            f"Repository not found: {repo_type} {unquote(shown)!r} is not on this Hub.",
        )

    def _asked(self, repo_type: str, repo_id: str) -> None:
        self.served.repo_type, self.served.repo_id = repo_type, repo_id

    def _signed_in(self) -> bool:
        return self.caller is not None and self.caller.role != "none"

    def _visible(self, repo: Repo | None) -> Repo | None:
        """A private repo exists only for callers with a valid token."""
        if repo is not None and repo.meta.get("private") and not self._signed_in():
            return None
        return repo

    def _readable(self, repo_type: str, repo_id: str) -> Repo:
        """The repo, if this caller may read its files (else the Hub's 404/401/403)."""
        repo = self._visible(self.state.store.repo(repo_type, repo_id))
        if repo is None:
            raise HubError(
                404, "RepoNotFound", f"Repository not found: {repo_type} {repo_id!r} is not here."
            )
        self._check_gated_access(repo)
        return repo

    def _writable(self, repo_type: str, repo_id: str) -> Repo | None:
        return self._visible(self.state.store.repo(repo_type, unquote(repo_id)))

    def _commit(self, repo: Repo, revision: str | None) -> Commit:
        rev = unquote(revision) if revision else None
        self.served.revision = rev or "main"
        commit = repo.resolve(rev)
        if commit is None:
            if repo.refuse_revision is not None:
                raise repo.refuse_revision(rev or "main")
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {rev or 'main'}")
        self.served.sha = commit.sha
        return commit

    def _api_repo(self, repo_type: str, rest: str) -> ProtocolResponse:
        parts = rest.split("/")
        repo, tail = self._find_repo(repo_type, parts)
        method = self.method
        if isinstance(repo, dict):  # a listing-only model: metadata only
            if tail and tail[0] not in ("revision",):
                raise HubError(404, "EntryNotFound", "Synthetic models have no files.")
            return json_response(repo)
        kw = tail[0] if tail else None
        if kw is None and method == "GET":
            return self._info(repo, None)
        if kw == "revision" and len(tail) >= 2 and method == "GET":
            return self._info(repo, "/".join(tail[1:]))
        if kw == "tree" and len(tail) >= 2 and method == "GET":
            return self._tree(repo, tail[1], unquote("/".join(tail[2:])))
        if kw == "commits" and len(tail) >= 2 and method == "GET":
            return self._commits(repo, tail[1])
        if kw == "paths-info" and len(tail) >= 2 and method == "POST":
            return self._paths_info(repo, tail[1])
        if kw == "refs" and method == "GET":
            return json_response(refs_json(repo, truthy(self.req.q("include_prs"))))
        if kw == "auth-check" and method == "GET":
            self._check_gated_access(repo)
            return json_response({})
        raise HubError(404, None, f"Not found: {self.req.path}")

    def _info(self, repo: Repo, revision: str | None) -> ProtocolResponse:
        self._check_expand(repo.repo_type)
        commit = self._commit(repo, revision)
        blobs = truthy(self.req.q("blobs"))
        security = truthy(self.req.q("securityStatus"))
        d = repo_json(self.state.facts, repo, commit, blobs=blobs, security=security)
        expand = self._expand()
        if expand:
            d = {k: v for k, v in d.items() if k in set(expand) | {"_id", "id"}}
        return json_response(d)

    # -- files ------------------------------------------------------------------------------
    def _resolve(self) -> ProtocolResponse:
        left, _, rest = self.req.path.partition("/resolve/")
        repo_type = "model"
        if left.startswith("/datasets/"):
            repo_type, left = "dataset", left[len("/datasets") :]
        elif left.startswith("/models/"):
            left = left[len("/models") :]
        repo_id = unquote(left.strip("/"))
        revision, _, path = rest.partition("/")
        self._asked(repo_type, repo_id)
        self.served.revision = unquote(revision)
        repo = self._visible(self.state.store.repo(repo_type, repo_id))
        if repo is None:
            raise HubError(404, "RepoNotFound", f"Repository not found: {repo_type} {repo_id!r}.")
        commit = self._commit(repo, revision)
        path = unquote(path)
        if path not in ("README.md", ".gitattributes"):
            self._check_gated_access(repo)  # the card stays public, as on the Hub
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(
                404, "EntryNotFound", f"Entry not found: {path!r} at revision {commit.sha}."
            )
        answer = file_answer(commit, entry, self.req.headers.get("range"))
        return ProtocolResponse(
            answer.status, answer.headers, entry=entry, start=answer.start, length=answer.length
        )

    def _check_gated_access(self, repo: Repo) -> None:
        if not repo.meta.get("gated"):
            return
        kind = "model" if repo.repo_type == "model" else "dataset"
        if self.caller is None:
            raise HubError(
                401,
                "GatedRepo",
                f"Access to {kind} {repo.repo_id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in.",
            )
        if self.caller.role not in ("read", "write"):
            raise HubError(
                403,
                "GatedRepo",
                f"Access to {kind} {repo.repo_id} is restricted and you are not in the "
                "authorized list. Ask for access on the repo page.",
            )
