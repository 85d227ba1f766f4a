"""The inference routes of the development Hub, answered with hf-inference payloads.

`InferenceClient(model="<dev Hub>/models/<id>")` (an endpoint URL) and the router route the
client builds for the hf-inference provider (`<base>/hf-inference/models/<id>`, with
`/pipeline/feature-extraction` for encoders) both reach the catalog's models, run here with
the product's own local backends:

- feature-extraction / sentence-similarity: `inputs` a string or a list (one batch),
  answered with mean-pooled, normalised embeddings (a row per input);
- question-answering: `inputs` {question, context} or a list of them, answered with
  {answer, score, start, end} (SQuAD v2 decoding when `handle_impossible_answer`);
- text-generation and text2text-generation: greedy, `max_new_tokens`, answered with
  [{generated_text}].

A repo whose weights are too large to load here (`inference.stand_in` in its metadata)
is served by the named stand-in repo; the demo's gpt2-oversized is. The server's faults
(latency, 429 with Retry-After, 503) apply to these routes like to any other.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from hub_assets.errors import BackendLoadError, HubError
from hub_assets.evaluation.backends import (
    EMBEDDING_TASKS,
    EXTRACTIVE_TASKS,
    GENERATION_TASKS,
    EmbeddingBackend,
    ExtractiveQABackend,
    GenerationConfig,
    QABackend,
)
from hub_assets.hub.clearance import mark_cleared
from hub_assets.hub_protocol.exchange import ProtocolRequest, ProtocolResponse, json_response
from hub_assets.hub_protocol.repos import Commit, Repo

PROVIDER = "hf-inference"
ROUTE = re.compile(r"^/(?:(?P<provider>[a-z0-9-]+)/)?models/(?P<rest>.+?)/?$")
LOADABLE = re.compile(r"(\.json|\.txt|\.model|\.safetensors)$")
SERVED_TASKS = EMBEDDING_TASKS + EXTRACTIVE_TASKS + GENERATION_TASKS
DEFAULT_MAX_WEIGHT_BYTES = 1_000_000_000


class InferenceRoutes:
    """Answers POSTs to the inference routes; other requests are left to the Hub protocol.

    Models load on first use and stay loaded (the four most recent); one model runs at a
    time.
    """

    def __init__(
        self,
        store: Any,  # noqa: ANN401 - the catalog (repo, blob_path)
        *,
        max_weight_bytes: int = DEFAULT_MAX_WEIGHT_BYTES,
        keep: int = 4,
    ) -> None:
        self.store, self.max_weight_bytes, self.keep = store, max_weight_bytes, keep
        self._loaded: OrderedDict[tuple, Any] = OrderedDict()
        self._run = threading.Lock()
        self._folders = tempfile.TemporaryDirectory(prefix="hub-assets-inference-")

    def answer(
        self, req: ProtocolRequest, readable: Callable[[str, str], Repo]
    ) -> ProtocolResponse | None:
        """The answer to an inference POST, or None when the path is not an inference route.
        `readable(type, id)` is the repo as this caller may see it (404/401/403 otherwise)."""
        m = ROUTE.match(req.path)
        if req.method != "POST" or m is None or req.path.startswith("/api/"):
            return None
        provider = m.group("provider")
        if provider not in (None, PROVIDER):
            raise HubError(404, None, f"Provider {provider!r} is not served here; use {PROVIDER}.")
        repo_id, _, task = unquote(m.group("rest")).partition("/pipeline/")
        repo = readable("model", repo_id)
        head = repo.resolve("main")
        if head is None:
            raise HubError(404, "RevisionNotFound", f"{repo_id} has no main revision.")
        task = task or _pipeline_tag(repo)
        if task not in SERVED_TASKS:
            raise HubError(
                400, None, f"Model {repo_id} has task {task!r}; served: {', '.join(SERVED_TASKS)}."
            )
        payload = _payload(req.body)
        served = self._served_commit(repo, head)
        with self._run:
            return json_response(self._infer(repo_id, served, task, payload))

    def _served_commit(self, repo: Repo, head: Commit) -> Commit:
        stand_in = (repo.meta.get("inference") or {}).get("stand_in")
        if not stand_in:
            return head
        other = self.store.repo("model", stand_in)
        commit = other.resolve("main") if other is not None else None
        if commit is None:
            raise HubError(503, None, f"The stand-in model {stand_in} of {repo.repo_id} is gone.")
        return commit

    def _infer(self, repo_id: str, commit: Commit, task: str, payload: dict) -> Any:  # noqa: ANN401
        inputs, params = payload.get("inputs"), payload.get("parameters") or {}
        if not isinstance(params, dict):
            raise HubError(400, None, "`parameters` must be an object.")
        if task in EMBEDDING_TASKS:
            texts = _texts(inputs)
            backend = self._backend(commit, task, GenerationConfig())
            rows = backend.embed(texts).tolist()
            return rows
        if task in EXTRACTIVE_TASKS:
            pairs = inputs if isinstance(inputs, list) else [inputs]
            if not pairs or not all(
                isinstance(p, dict)
                and isinstance(p.get("question"), str)
                and isinstance(p.get("context"), str)
                for p in pairs
            ):
                raise HubError(400, None, "`inputs` must be {question, context} or a list of them.")
            config = replace(
                GenerationConfig(),
                max_answer_tokens=_int(params, "max_answer_len", 15),
                doc_stride=_int(params, "doc_stride", 64),
                max_input_tokens=_int(params, "max_seq_len", 384),
            )
            backend = self._backend(commit, task, config)
            spans = backend.spans([p["question"] for p in pairs], [p["context"] for p in pairs])
            impossible = bool(params.get("handle_impossible_answer", False))
            out = [
                {"answer": "", "score": s.null_score, "start": 0, "end": 0}
                if impossible and s.answer == ""
                else {
                    "answer": s.text.strip(),
                    "score": s.span_score,
                    "start": s.start,
                    "end": s.end,
                }
                for s in spans
            ]
            return out if isinstance(inputs, list) else out[0]
        if payload.get("stream"):
            raise HubError(400, None, "Streaming is not served by the development Hub.")
        prompts = _texts(inputs)
        config = replace(GenerationConfig(), max_new_tokens=_int(params, "max_new_tokens", 16))
        backend = self._backend(commit, task, config)
        texts = backend.generate(prompts)
        if params.get("return_full_text"):
            texts = [p + t for p, t in zip(prompts, texts, strict=True)]
        out = [{"generated_text": t} for t in texts]
        return out if isinstance(inputs, list) else out[:1]

    def _backend(self, commit: Commit, task: str, config: GenerationConfig) -> Any:  # noqa: ANN401
        kind = "feature-extraction" if task in EMBEDDING_TASKS else task
        key = (commit.sha, kind, config)
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        weights = sum(e.size for p, e in commit.files.items() if p.endswith(".safetensors"))
        if weights > self.max_weight_bytes:
            raise HubError(
                400,
                None,
                f"The model is too large to be loaded here ({weights / 1e9:.1f} GB of weights; "
                f"the limit is {self.max_weight_bytes / 1e9:.1f} GB).",
            )
        folder = self._folder(commit)
        try:
            if task in EMBEDDING_TASKS:
                backend: Any = EmbeddingBackend(folder, config)
            elif task in EXTRACTIVE_TASKS:
                backend = ExtractiveQABackend(folder, config)
            else:
                backend = QABackend(folder, task, config)
        except BackendLoadError as e:
            raise HubError(500, None, str(e).splitlines()[0]) from None
        self._loaded[key] = backend
        while len(self._loaded) > self.keep:
            self._loaded.popitem(last=False)
        return backend

    def _folder(self, commit: Commit) -> Path:
        """The commit's loadable files as links to the catalog's blobs."""
        folder = Path(self._folders.name) / commit.sha
        if not folder.is_dir():
            for path, entry in commit.files.items():
                if not LOADABLE.search(path):
                    continue
                target = folder / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(Path(self.store.blob_path(entry.sha256)).resolve())
            # the development Hub's own catalog, served by its own inference API
            mark_cleared(folder, commit.sha, "the development Hub's own catalog", "")
        return folder


def _pipeline_tag(repo: Repo) -> str | None:
    return repo.meta.get("pipeline_tag")


def _payload(body: bytes) -> dict:
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise HubError(400, None, "The body is not JSON.") from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        raise HubError(400, None, "Expected a JSON object with `inputs`.")
    return payload


def _texts(inputs: object) -> list[str]:
    texts = inputs if isinstance(inputs, list) else [inputs]
    if not texts or not all(isinstance(t, str) for t in texts):
        raise HubError(400, None, "`inputs` must be a string or a list of strings.")
    return texts


def _int(params: dict, name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 4096:
        raise HubError(400, None, f"`{name}` must be an integer from 1 to 4096.")
    return value
