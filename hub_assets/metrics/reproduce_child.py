"""Child process of the reproducibility metric: load a snapshot and run its task once.

Run as `python -m hub_assets.metrics.reproduce_child SNAPSHOT_DIR TASK [--gguf FILE]
[--base BASE_DIR]`; prints one JSON line: {"status": "documented" | "fallback" | "failed",
"reason": ..., "output": ..., "measurement": {peak_rss_bytes, baseline_rss_bytes, load_s,
first_output_s, context_tokens}}. Loads with `trust_remote_code=False` and safetensors only
(a GGUF file through transformers' GGUF support; a PEFT adapter on its base's snapshot),
through `evaluation.loader` only, and nothing at all unless the snapshot bears its passing
security verdict; the parent closes stdin (no prompt can be answered) and sets the memory
cap, the timeout, the scratch folder as HOME and cwd, and HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
import traceback
from pathlib import Path

from hub_assets.box.warm import rss_offset, status_bytes
from hub_assets.errors import NotClearedError
from hub_assets.evaluation.loader import from_pretrained, load_failure_words
from hub_assets.hub.clearance import require_cleared

FIXED_TEXT = "The town of Kalo was founded by"
FIXED_QUESTION = ("Who founded Kalo?", "Kalo lies on the Mira river. It was founded by Ada Lo.")
NEW_TOKENS = 5


def peak_rss() -> int:
    """This process's peak resident memory in bytes: VmHWM of /proc/self/status, which
    starts afresh at exec (getrusage's ru_maxrss keeps the forked parent's high-water
    mark across exec, so a child of a large process would read the parent's size); in a
    child of the warm box, what a cold process would have read (`box.warm.rss_offset`)."""
    peak = status_bytes("VmHWM")
    if not peak:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return peak + rss_offset()


class Clock:
    """When loading started and ended and the first output came, for the measurement."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self.context_tokens = 0

    def mark(self, name: str) -> None:
        self.marks[name] = time.perf_counter()

    def measurement(self, baseline_rss: int) -> dict:
        m = self.marks
        return {
            "peak_rss_bytes": peak_rss(),
            "baseline_rss_bytes": baseline_rss,
            "load_s": round(m["loaded"] - m["load"], 4) if "loaded" in m else None,
            "first_output_s": round(m["output"] - m["loaded"], 4) if "output" in m else None,
            "context_tokens": self.context_tokens or None,
        }


def _check_tokenizer(tok: object) -> None:
    # transformers builds an empty tokenizer when the repo has none: that is no tokenizer
    size = len(tok) if tok is not None else 0
    if size < 10:
        raise ValueError(f"no usable tokenizer in the repo (vocabulary of {size} tokens)")


def _tokens(tok: object, text: str) -> int:
    try:
        return len(tok(text)["input_ids"])
    except Exception:  # noqa: BLE001 - only for the context count
        return 8


def _documented(path: str, task: str, clock: Clock, gguf: str | None, base: str | None) -> str:
    import torch
    from transformers import AutoModel, AutoTokenizer, pipeline

    torch.manual_seed(0)
    if task == "text-generation" or gguf or base:
        clock.mark("load")
        from hub_assets.evaluation.backends import load_causal_lm

        model, tok = load_causal_lm(Path(path), gguf, Path(base) if base else None)
        _check_tokenizer(tok)
        pipe = pipeline("text-generation", model=model, tokenizer=tok)
        clock.mark("loaded")
        out = pipe(FIXED_TEXT, max_new_tokens=NEW_TOKENS, do_sample=False)
        clock.mark("output")
        clock.context_tokens = _tokens(tok, FIXED_TEXT) + NEW_TOKENS
        return repr(out[0]["generated_text"])[:200]
    if task == "text2text-generation":
        from transformers import AutoModelForSeq2SeqLM

        clock.mark("load")
        tok = from_pretrained(AutoTokenizer, path)
        model = from_pretrained(AutoModelForSeq2SeqLM, path, use_safetensors=True)
        pipe = pipeline("text2text-generation", model=model, tokenizer=tok)
        clock.mark("loaded")
        out = pipe(FIXED_TEXT, max_new_tokens=NEW_TOKENS)
        clock.mark("output")
        clock.context_tokens = _tokens(pipe.tokenizer, FIXED_TEXT) + NEW_TOKENS
        return repr(out)[:200]
    if task in ("feature-extraction", "sentence-similarity"):
        clock.mark("load")
        tok = from_pretrained(AutoTokenizer, path)
        _check_tokenizer(tok)
        model = from_pretrained(AutoModel, path, use_safetensors=True)
        clock.mark("loaded")
        batch = tok([FIXED_TEXT], return_tensors="pt", padding=True)
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        emb = (hidden * mask).sum(1) / mask.sum(1)
        clock.mark("output")
        clock.context_tokens = int(batch["input_ids"].shape[1])
        return f"embedding dim {emb.shape[-1]}"
    if task == "question-answering":
        from hub_assets.evaluation.backends import ExtractiveQABackend, GenerationConfig

        clock.mark("load")
        backend = ExtractiveQABackend(Path(path), GenerationConfig(batch_size=1))
        _check_tokenizer(backend.tokenizer)
        clock.mark("loaded")
        out = backend.answer([FIXED_QUESTION[0]], [FIXED_QUESTION[1]])
        clock.mark("output")
        clock.context_tokens = _tokens(backend.tokenizer, " ".join(FIXED_QUESTION))
        if out.errors[0]:
            raise RuntimeError(out.errors[0])
        return repr(out.predictions[0])[:200]
    raise ValueError(f"no documented runner for task {task!r}")


def _fallback(path: str, task: str, clock: Clock) -> str:
    """Whatever runs: the model's own class on fixed token ids, no tokenizer, no pipeline."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    cfg = from_pretrained(AutoConfig, path)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    clock.context_tokens = 5 + 3
    with torch.no_grad():
        clock.mark("load")
        if task == "text-generation":
            model = from_pretrained(AutoModelForCausalLM, path, use_safetensors=True)
            clock.mark("loaded")
            out = model.generate(ids, max_new_tokens=3, do_sample=False)
            clock.mark("output")
            return f"generated {out.shape[1] - ids.shape[1]} tokens from fixed ids"
        if task == "text2text-generation" or cfg.is_encoder_decoder:
            model = from_pretrained(AutoModelForSeq2SeqLM, path, use_safetensors=True)
            clock.mark("loaded")
            out = model.generate(ids, max_new_tokens=3, do_sample=False)
            clock.mark("output")
            return f"generated {out.shape[1]} tokens from fixed ids"
        model = from_pretrained(AutoModel, path, use_safetensors=True)
        clock.mark("loaded")
        out = model(input_ids=ids)
        clock.mark("output")
        clock.context_tokens = 5
        return f"forward pass, output {tuple(out[0].shape)}"


def _error_words(e: BaseException) -> str:
    return load_failure_words(e)


def preload() -> None:
    """Import what every run needs (the warm box server calls this once, before forking
    the children that run models): torch, transformers' pipelines and model classes."""
    import torch  # noqa: F401
    from transformers import (  # noqa: F401
        AutoConfig,
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
        pipeline,
    )

    import hub_assets.evaluation.backends  # noqa: F401


def main(path: str, task: str, gguf: str | None = None, base: str | None = None) -> dict:
    """Run the task as documented, else the fallback; the outcome with its measurement."""
    import torch  # noqa: F401 - the runtime's own memory is the baseline
    import transformers  # noqa: F401

    try:  # the security verdict's mark, before a single byte is loaded
        require_cleared(Path(path))
        if base:
            require_cleared(Path(base))
    except NotClearedError as e:
        return {"status": "failed", "reason": f"not run: {e}"}
    baseline = peak_rss()
    clock = Clock()
    try:
        out = _documented(path, task, clock, gguf, base)
        return {
            "status": "documented",
            "reason": f"{task} runs as documented"
            + (f" (GGUF {gguf})" if gguf else " (adapter on its base)" if base else ""),
            "output": out,
            "measurement": clock.measurement(baseline),
        }
    except Exception as e:  # noqa: BLE001 - any failure is a finding, reported below
        first = _error_words(e)
    if gguf or base:  # the fallback loads safetensors of the repo itself: nothing to run
        return {"status": "failed", "reason": f"cannot run: {first}"}
    clock = Clock()
    try:
        out = _fallback(path, task, clock)
        return {
            "status": "fallback",
            "reason": f"documented path failed ({first}); ran the model class on fixed token ids",
            "output": out,
            "measurement": clock.measurement(baseline),
        }
    except Exception as e:  # noqa: BLE001
        return {
            "status": "failed",
            "reason": f"cannot run: {first}; fallback: {_error_words(e)}",
            "trace": traceback.format_exc()[-1500:],
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("snapshot")
    parser.add_argument("task")
    parser.add_argument("--gguf")
    parser.add_argument("--base")
    args = parser.parse_args()
    print(json.dumps(main(args.snapshot, args.task, args.gguf, args.base)), flush=True)
