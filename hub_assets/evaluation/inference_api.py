"""Shadow evaluation through an inference API, for models too large to run here.

huggingface_hub's `InferenceClient` calls the hf-inference routes of a router: the URL is
the one its hf-inference helper builds for a model id (`{router}/hf-inference/models/{id}`,
with `/pipeline/feature-extraction` for encoders), under a configurable base URL, so the
same code reaches router.huggingface.co or a Hub that serves those routes itself (the
development Hub does). The token is the usual Hub token. Every call goes through an
`ApiSession` (latency budget, client-side quota, circuit breaker): a sample whose call
misses the budget or is bypassed is *unanswered*, never a wrong answer, and coverage says
how many were answered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hub_assets.evaluation.api_budget import ApiBudget, ApiSession, Attempt
from hub_assets.evaluation.backends import EMBEDDING_TASKS, GenerationConfig, Outputs, first_line

T = TypeVar("T")
HUGGINGFACE_CO = "https://huggingface.co"
ROUTER = "https://router.huggingface.co"
BACKEND = "inference_api"


def router_for(hub_endpoint: str) -> str:
    """The inference router that goes with a Hub: router.huggingface.co for huggingface.co;
    any other Hub (the development Hub, a private one) is asked to serve the routes itself."""
    endpoint = hub_endpoint.rstrip("/")
    return ROUTER if endpoint == HUGGINGFACE_CO else endpoint


def model_url(base_url: str, provider: str, model_id: str, task: str) -> str:
    """The URL huggingface_hub's hf-inference helper builds for `model_id`, under
    `base_url` instead of router.huggingface.co."""
    url = f"{base_url.rstrip('/')}/{provider}/models/{model_id}"
    return f"{url}/pipeline/feature-extraction" if task in EMBEDDING_TASKS else url


@dataclass(frozen=True)
class InferenceApiConfig:
    """Where the API is, how it may be used, and which models use it: settings, whose
    defaults are written in `settings.py` only (`Pipeline.inference_api` builds this)."""

    base_url: str
    provider: str
    budget: ApiBudget
    batch_size: int  # texts per feature-extraction request
    samples: int | None  # the first N samples of the pinned set (None: all)
    mode: str  # auto: models over the local limit; off: never
    models: tuple[str, ...] = ()  # always evaluated through the API
    token: str | None = field(default=None, repr=False)

    def chosen_for(self, model_id: str, over_local_limit: bool) -> bool:
        """Whether `model_id` is evaluated through the API."""
        if self.mode == "off":
            return False
        listed = model_id.lower() in {m.lower() for m in self.models}
        return listed or over_local_limit

    def key(self) -> dict:
        """What of this config changes the answers (part of the evaluation cache key)."""
        return {"backend": BACKEND, "provider": self.provider, "samples": self.samples}


class InferenceApiBackend:
    """One model's task over the API, every call within the session's budget."""

    def __init__(
        self, model_id: str, task: str, config: InferenceApiConfig, session: ApiSession
    ) -> None:
        from huggingface_hub import InferenceClient

        self.url = model_url(config.base_url, config.provider, model_id, task)
        self.config, self.session = config, session
        token = config.token
        self.client = InferenceClient(model=self.url, token=token, timeout=session.budget.timeout_s)
        self.warm_client = InferenceClient(
            model=self.url, token=token, timeout=session.budget.warmup_s
        )
        self._warmed = False

    def _call(self, fn: Callable[[Any], T]) -> Attempt[T]:
        """One request; the first has the warm-up timeout (it may wake the model)."""
        if not self._warmed:
            self._warmed = True
            return self.session.call(lambda: fn(self.warm_client), warmup=True)
        return self.session.call(lambda: fn(self.client))

    def _each(self, items: Sequence, fn: Callable[[Any, Any], str]) -> Outputs:
        out = Outputs()
        for i, item in enumerate(items):
            attempt = self._call(lambda c, item=item: fn(c, item))
            out.predictions.append(attempt.value if attempt.ok else "")
            out.errors.append(attempt.problem)
            if not attempt.ok:
                out.unanswered.add(i)
        return out

    def answer_extractive(
        self, questions: Sequence[str], contexts: Sequence[str], config: GenerationConfig
    ) -> Outputs:
        """A span of each context, or "" (the API's no-answer), one request per question."""

        def ask(client: Any, pair: tuple[str, str]) -> str:  # noqa: ANN401
            got = client.question_answering(
                question=pair[0],
                context=pair[1],
                handle_impossible_answer=True,
                max_answer_len=config.max_answer_tokens,
                doc_stride=config.doc_stride,
                max_seq_len=config.max_input_tokens,
            )
            got = got[0] if isinstance(got, list) else got
            return (got.answer or "").strip()

        return self._each(list(zip(questions, contexts, strict=True)), ask)

    def answer_generation(self, prompts: Sequence[str], config: GenerationConfig) -> Outputs:
        """A greedy generation for each prompt, cut at its first line as locally."""

        def generate(client: Any, prompt: str) -> str:  # noqa: ANN401
            text = client.text_generation(
                prompt,
                max_new_tokens=config.max_new_tokens,
                do_sample=False,
                return_full_text=False,
            )
            return first_line(text)

        return self._each(prompts, generate)

    def embed(self, texts: Sequence[str]) -> tuple[list, set[int], list[str | None]]:
        """Normalised embeddings in requests of `batch_size` texts: (rows, the indices with no
        row, the problem of each text's request)."""
        import numpy as np

        rows: list = [None] * len(texts)
        problems: list[str | None] = [None] * len(texts)
        size = self.config.batch_size

        def request(client: Any, batch: list[str]):  # noqa: ANN202, ANN401
            got = np.asarray(client.feature_extraction(batch), dtype="float32")
            if got.ndim == 3:  # token embeddings: mean over tokens
                got = got.mean(axis=1)
            if got.ndim != 2 or got.shape[0] != len(batch):
                raise ValueError(
                    f"expected {len(batch)} embeddings, got an array of shape {got.shape}"
                )
            norms = np.linalg.norm(got, axis=1, keepdims=True)
            return got / np.clip(norms, 1e-9, None)

        for start in range(0, len(texts), size):
            batch = list(texts[start : start + size])
            attempt = self._call(lambda c, b=batch: request(c, b))
            for j in range(len(batch)):
                if attempt.ok:
                    rows[start + j] = attempt.value[j]
                else:
                    problems[start + j] = attempt.problem
        missing = {i for i, r in enumerate(rows) if r is None}
        return rows, missing, problems
