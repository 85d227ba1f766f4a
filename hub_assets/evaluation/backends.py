"""Local transformers inference for shadow evaluations: batched, greedy, deterministic.

Four backends: causal LMs answer a QA prompt (text-generation), seq2seq models answer it
(text2text-generation), extractive QA models pick a span of the context or no answer
(question-answering), encoders embed queries and passages (feature-extraction,
sentence-similarity: mean pooling, cosine similarity). CPU by default, CUDA when present.
A sample that fails records its error and the run goes on; a model that cannot load fails
with `BackendLoadError` and the reason.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hub_assets.errors import BackendLoadError
from hub_assets.evaluation.loader import from_pretrained, load_failure_words

GENERATION_TASKS = ("text-generation", "text2text-generation")
EXTRACTIVE_TASKS = ("question-answering",)
EMBEDDING_TASKS = ("feature-extraction", "sentence-similarity")


@dataclass(frozen=True)
class GenerationConfig:
    """Everything that shapes a generation: part of the evaluation cache key."""

    max_new_tokens: int = 16
    max_answer_tokens: int = 15
    doc_stride: int = 64
    batch_size: int = 16
    max_input_tokens: int = 384
    seed: int = 0
    prompt_template: str = "Context: {context}\nQuestion: {question}\nAnswer:"
    t2t_template: str = "question: {question} context: {context}"

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass
class Outputs:
    """Per-sample predictions (or errors), in input order.

    `unanswered`: samples that got no answer at all (an API miss or bypass). They are left
    out of the scores and count against coverage; a local sample that fails is answered
    wrong instead.
    """

    predictions: list = field(default_factory=list)
    errors: list[str | None] = field(default_factory=list)
    unanswered: set[int] = field(default_factory=set)


def input_limit(model, tokenizer, config: GenerationConfig) -> int:  # noqa: ANN001
    """Longest input the model accepts: the config's cap, the positions it has, the tokenizer's."""
    limits = [config.max_input_tokens]
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    if 0 < getattr(tokenizer, "model_max_length", 0) < 1_000_000:
        limits.append(tokenizer.model_max_length)
    return min(limits)


def qa_prompt(task: str, config: GenerationConfig, context: str, question: str) -> str:
    """The QA prompt a generator of `task` answers: the seq2seq template for
    text2text-generation, the causal one otherwise (the same text locally and over an API)."""
    template = config.t2t_template if task == "text2text-generation" else config.prompt_template
    return template.format(context=context, question=question)


def first_line(text: str) -> str:
    """A generated answer cut at its first line (generators run on past the answer)."""
    return text.strip().split("\n")[0].strip()


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_causal_lm(
    path: Path, gguf_file: str | None = None, base: Path | None = None
) -> tuple[object, object]:
    """A causal LM and its tokenizer from a verified snapshot folder: its GGUF file through
    transformers' GGUF support, a PEFT adapter on its base's snapshot, or its safetensors
    (never remote code, never pickles)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if gguf_file:
        model = from_pretrained(AutoModelForCausalLM, path, gguf_file=gguf_file)
        return model, from_pretrained(AutoTokenizer, path, gguf_file=gguf_file)
    if base is not None:
        from peft import PeftModel

        model = from_pretrained(AutoModelForCausalLM, base, use_safetensors=True)
        with warnings.catch_warnings():  # peft 0.21 calls an attribute transformers 5 renamed
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            model = from_pretrained(PeftModel, path, model)
        own = any((Path(path) / f).exists() for f in ("tokenizer.json", "tokenizer_config.json"))
        return model, from_pretrained(AutoTokenizer, path if own else base)
    model = from_pretrained(AutoModelForCausalLM, path, use_safetensors=True)
    return model, from_pretrained(AutoTokenizer, path)


class QABackend:
    """Answers questions from their context with a causal or seq2seq model."""

    def __init__(
        self,
        path: Path,
        task: str,
        config: GenerationConfig,
        gguf_file: str | None = None,
        base: Path | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        self.task, self.config, self.device = task, config, _device()
        try:
            if task == "text2text-generation":
                self.tokenizer = from_pretrained(AutoTokenizer, path)
                model = from_pretrained(AutoModelForSeq2SeqLM, path, use_safetensors=True)
            else:
                model, self.tokenizer = load_causal_lm(path, gguf_file, base)
            if len(self.tokenizer) < 10:
                raise ValueError("no usable tokenizer in the repo")
            self.model = model.to(self.device).eval()
        except Exception as e:  # noqa: BLE001 - every load failure is reported the same way
            raise BackendLoadError(
                f"cannot load {path.name} for {task}: {load_failure_words(e)}"
            ) from e
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        causal = task == "text-generation"
        self.tokenizer.padding_side = "left" if causal else "right"
        # a causal prompt keeps its end (the question and "Answer:") and leaves room for
        # the answer within the model's positions
        self.tokenizer.truncation_side = "left" if causal else "right"
        limit = input_limit(self.model, self.tokenizer, config)
        self.max_length = max(8, limit - config.max_new_tokens) if causal else limit
        torch.manual_seed(config.seed)

    def prompt(self, context: str, question: str) -> str:
        """The prompt this model answers (see `qa_prompt`)."""
        return qa_prompt(self.task, self.config, context, question)

    def _generate(self, prompts: Sequence[str]) -> list[str]:
        return [first_line(t) for t in self.generate(prompts)]

    def generate(self, prompts: Sequence[str]) -> list[str]:
        """The greedy continuation of each prompt (new tokens only), in one batch."""
        import torch

        batch = self.tokenizer(
            list(prompts),
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_length,
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
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)

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


def _load(path: Path, task: str, loader):  # noqa: ANN001, ANN202
    """Tokenizer and model of `path` with `loader`, or BackendLoadError saying why."""
    from transformers import AutoTokenizer

    try:
        tokenizer = from_pretrained(AutoTokenizer, path)
        if len(tokenizer) < 10:
            raise ValueError("no usable tokenizer in the repo")
        model = from_pretrained(loader, path, use_safetensors=True)
    except Exception as e:  # noqa: BLE001 - every load failure is reported the same way
        raise BackendLoadError(
            f"cannot load {path.name} for {task}: {load_failure_words(e)}"
        ) from e
    return tokenizer, model.to(_device()).eval()


@dataclass(frozen=True)
class Span:
    """A context's best answer span, and the score of answering nothing."""

    null_score: float
    span_score: float
    text: str
    start: int  # character offsets in the context
    end: int

    @property
    def answer(self) -> str:
        """The span, or "" when no answer scores higher (SQuAD v2 decoding)."""
        return "" if self.null_score > self.span_score else self.text.strip()


class ExtractiveQABackend:
    """Picks the answer span of the context, or no answer, with a question-answering head.

    The decoding is the one the `question-answering` pipeline of transformers 4 used with
    `handle_impossible_answer=True` (transformers 5 dropped that pipeline): per feature, a
    softmax over the context tokens and [CLS]; a span scores p(start)·p(end) with
    start ≤ end < start + `max_answer_tokens`; the answer is empty when the [CLS] score
    (the smallest over a long context's windows) beats the best span. Features are batched.
    """

    def __init__(self, path: Path, config: GenerationConfig) -> None:
        import torch
        from transformers import AutoModelForQuestionAnswering

        self.config, self.device = config, _device()
        self.tokenizer, self.model = _load(
            path, "question-answering", AutoModelForQuestionAnswering
        )
        if not getattr(self.tokenizer, "is_fast", False):
            raise BackendLoadError(
                f"cannot load {path.name} for question-answering: "
                "extractive QA needs a fast tokenizer (offsets)"
            )
        self.max_length = input_limit(self.model, self.tokenizer, config)
        torch.manual_seed(config.seed)

    def _features(self, questions: Sequence[str], contexts: Sequence[str]) -> dict:
        pad_right = self.tokenizer.padding_side == "right"
        return self.tokenizer(
            list(questions) if pad_right else list(contexts),
            list(contexts) if pad_right else list(questions),
            truncation="only_second" if pad_right else "only_first",
            max_length=self.max_length,
            stride=min(self.config.doc_stride, self.max_length // 4),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding="longest",
        )

    def answer(self, questions: Sequence[str], contexts: Sequence[str]) -> Outputs:
        """The answer text for every (question, context): a span, or "" for no answer."""
        result = Outputs()
        size = self.config.batch_size
        for start in range(0, len(questions), size):
            qs, cs = questions[start : start + size], contexts[start : start + size]
            try:
                answers = [s.answer for s in self.spans(qs, cs)]
                errors: list[str | None] = [None] * len(qs)
            except Exception as e:  # noqa: BLE001 - one failing batch must not end the run
                answers, errors = [""] * len(qs), [f"{type(e).__name__}: {e}"[:300]] * len(qs)
            result.predictions.extend(answers)
            result.errors.extend(errors)
        return result

    def spans(self, questions: Sequence[str], contexts: Sequence[str]) -> list[Span]:
        """The best span of each context and the no-answer score, in one batch."""
        import torch

        enc = self._features(questions, contexts)
        context_side = 1 if self.tokenizer.padding_side == "right" else 0
        owner = enc["overflow_to_sample_mapping"]
        ids = torch.tensor(enc["input_ids"])
        inputs = {
            k: torch.tensor(enc[k], device=self.device)
            for k in ("input_ids", "attention_mask", "token_type_ids")
            if k in enc
        }
        with torch.no_grad():
            out = self.model(**inputs)
        n, length = ids.shape
        context = torch.tensor([[i == context_side for i in enc.sequence_ids(f)] for f in range(n)])
        is_cls = ids == self.tokenizer.cls_token_id
        cls = torch.where(is_cls.any(1), is_cls.float().argmax(1), torch.zeros(n, dtype=torch.long))
        allowed = context.clone()
        allowed[torch.arange(n), cls] = True
        floor = torch.tensor(-10000.0)
        p_start = torch.where(allowed, out.start_logits.float().cpu(), floor).softmax(-1)
        p_end = torch.where(allowed, out.end_logits.float().cpu(), floor).softmax(-1)
        null = p_start[torch.arange(n), cls] * p_end[torch.arange(n), cls]
        band = torch.ones(length, length).triu().tril(self.config.max_answer_tokens - 1)
        spans = p_start[:, :, None] * p_end[:, None, :] * band
        spans = spans * context[:, :, None] * context[:, None, :]
        score, flat = spans.view(n, -1).max(1)
        best: dict[int, Span] = {}
        for f in range(n):
            s, e = divmod(int(flat[f]), length)
            offsets, sample = enc["offset_mapping"][f], owner[f]
            found = score[f] > 0
            begin, end = (offsets[s][0], offsets[e][1]) if found else (0, 0)
            here = Span(float(null[f]), float(score[f]), contexts[sample][begin:end], begin, end)
            prev = best.get(sample)
            if prev is None:
                best[sample] = here
            else:
                keep = here if here.span_score > prev.span_score else prev
                best[sample] = Span(
                    min(here.null_score, prev.null_score),
                    keep.span_score,
                    keep.text,
                    keep.start,
                    keep.end,
                )
        return [best[i] for i in range(len(questions))]


class EmbeddingBackend:
    """Mean-pooled, L2-normalised sentence embeddings from an encoder."""

    def __init__(self, path: Path, config: GenerationConfig) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.config, self.device = config, _device()
        try:
            self.tokenizer = from_pretrained(AutoTokenizer, path)
            if len(self.tokenizer) < 10:
                raise ValueError("no usable tokenizer in the repo")
            self.model = (
                from_pretrained(AutoModel, path, use_safetensors=True).to(self.device).eval()
            )
        except Exception as e:  # noqa: BLE001
            raise BackendLoadError(
                f"cannot load {path.name} for embeddings: {load_failure_words(e)}"
            ) from e
        self.max_length = input_limit(self.model, self.tokenizer, config)

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
                max_length=self.max_length,
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
        return top_ids(self.embed(queries), self.embed(corpus), corpus_ids, k)


def top_ids(queries, docs, ids: Sequence[str], k: int = 10) -> list[list[str]]:  # noqa: ANN001
    """The top-k ids for each query row by cosine similarity (rows L2-normalised)."""
    import torch

    queries, docs = torch.as_tensor(queries), torch.as_tensor(docs)
    top = torch.topk(queries @ docs.T, k=min(k, len(ids)), dim=1).indices.tolist()
    return [[ids[i] for i in row] for row in top]
