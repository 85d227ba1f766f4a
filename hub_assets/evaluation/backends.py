"""Local transformers inference for shadow evaluations: batched, greedy, deterministic.

Three backends: causal LMs answer a QA prompt (text-generation), seq2seq models answer it
(text2text-generation), encoders embed queries and passages (feature-extraction,
sentence-similarity: mean pooling, cosine similarity). CPU by default, CUDA when present.
A sample that fails records its error and the run goes on; a model that cannot load fails
with `BackendLoadError` and the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

GENERATION_TASKS = ("text-generation", "text2text-generation")
EMBEDDING_TASKS = ("feature-extraction", "sentence-similarity")


class BackendLoadError(RuntimeError):
    """The model could not be loaded for evaluation; the message says why."""


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that shapes a generation: part of the evaluation cache key."""

    max_new_tokens: int = 16
    batch_size: int = 16
    max_input_tokens: int = 384
    seed: int = 0
    prompt_template: str = "Context: {context}\nQuestion: {question}\nAnswer:"
    t2t_template: str = "question: {question} context: {context}"

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass
class Outputs:
    """Per-sample predictions (or errors), in input order."""

    predictions: list = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class QABackend:
    """Answers questions from their context with a causal or seq2seq model."""

    def __init__(self, path: Path, task: str, config: GenerationConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        self.task, self.config, self.device = task, config, _device()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            if len(self.tokenizer) < 10:
                raise ValueError("no usable tokenizer in the repo")
            cls = (
                AutoModelForSeq2SeqLM if task == "text2text-generation" else (AutoModelForCausalLM)
            )
            self.model = (
                cls.from_pretrained(path, use_safetensors=True, trust_remote_code=False)
                .to(self.device)
                .eval()
            )
        except Exception as e:  # noqa: BLE001 - every load failure is reported the same way
            raise BackendLoadError(
                f"cannot load {path.name} for {task}: {type(e).__name__}: {e}"
            ) from e
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left" if task == "text-generation" else "right"
        torch.manual_seed(config.seed)

    def prompt(self, context: str, question: str) -> str:
        template = (
            self.config.t2t_template
            if self.task == "text2text-generation"
            else self.config.prompt_template
        )
        return template.format(context=context, question=question)

    def _generate(self, prompts: Sequence[str]) -> list[str]:
        import torch

        batch = self.tokenizer(
            list(prompts),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.config.max_input_tokens,
        )
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.no_grad():
            out = self.model.generate(
                **batch,
                max_new_tokens=self.config.max_new_tokens,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        if self.task == "text-generation":
            out = out[:, batch["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip().split("\n")[0].strip() for t in texts]

    def answer(self, prompts: Sequence[str]) -> Outputs:
        """Answers for every prompt; a failing batch is retried sample by sample."""
        result = Outputs()
        size = self.config.batch_size
        for start in range(0, len(prompts), size):
            chunk = prompts[start : start + size]
            try:
                answers, errors = self._generate(chunk), [None] * len(chunk)
            except Exception:  # noqa: BLE001 - isolate the failing samples
                answers, errors = [], []
                for p in chunk:
                    try:
                        answers.append(self._generate([p])[0])
                        errors.append(None)
                    except Exception as e:  # noqa: BLE001
                        answers.append("")
                        errors.append(f"{type(e).__name__}: {e}"[:300])
            result.predictions.extend(answers)
            result.errors.extend(errors)
        return result


class EmbeddingBackend:
    """Mean-pooled, L2-normalised sentence embeddings from an encoder."""

    def __init__(self, path: Path, config: GenerationConfig) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.config, self.device = config, _device()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            if len(self.tokenizer) < 10:
                raise ValueError("no usable tokenizer in the repo")
            self.model = (
                AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=False)
                .to(self.device)
                .eval()
            )
        except Exception as e:  # noqa: BLE001
            raise BackendLoadError(
                f"cannot load {path.name} for embeddings: {type(e).__name__}: {e}"
            ) from e

    def embed(self, texts: Sequence[str]):  # noqa: ANN201 - a torch tensor
        """One row per text, in input order (batched by length to waste little padding)."""
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        texts = [texts[i] for i in order]
        chunks = []
        for start in range(0, len(texts), self.config.batch_size * 2):
            batch = self.tokenizer(
                list(texts[start : start + self.config.batch_size * 2]),
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.config.max_input_tokens,
            )
            batch = {k: v.to(self.device) for k, v in batch.items()}
            with torch.no_grad():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            chunks.append(torch.nn.functional.normalize(pooled, dim=-1).cpu())
        by_length = torch.cat(chunks)
        out = torch.empty_like(by_length)
        out[torch.tensor(order)] = by_length
        return out

    def rank(
        self, queries: Sequence[str], corpus_ids: Sequence[str], corpus: Sequence[str], k: int = 10
    ) -> list[list[str]]:
        """The top-k corpus ids for each query by cosine similarity."""
        import torch

        docs = self.embed(corpus)
        qs = self.embed(queries)
        top = torch.topk(qs @ docs.T, k=min(k, len(corpus)), dim=1).indices.tolist()
        return [[corpus_ids[i] for i in row] for row in top]
