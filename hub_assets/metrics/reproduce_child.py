"""Child process of the reproducibility metric: load a snapshot and run its task once.

Run as `python -m hub_assets.metrics.reproduce_child SNAPSHOT_DIR TASK`; prints one JSON
line: {"status": "documented" | "fallback" | "failed", "reason": ..., "output": ...}.
Loads with `trust_remote_code=False` and safetensors only; the parent sets the memory cap,
the timeout and HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import json
import sys
import traceback

FIXED_TEXT = "The town of Kalo was founded by"
FIXED_QUESTION = ("Who founded Kalo?", "Kalo lies on the Mira river. It was founded by Ada Lo.")


def _check_tokenizer(tok: object) -> None:
    # transformers builds an empty tokenizer when the repo has none: that is no tokenizer
    size = len(tok) if tok is not None else 0
    if size < 10:
        raise ValueError(f"no usable tokenizer in the repo (vocabulary of {size} tokens)")


def _documented(path: str, task: str) -> str:
    import torch
    from transformers import AutoModel, AutoTokenizer, pipeline

    torch.manual_seed(0)
    kw = {"trust_remote_code": False, "model_kwargs": {"use_safetensors": True}}
    if task == "text-generation":
        pipe = pipeline("text-generation", model=path, **kw)
        _check_tokenizer(pipe.tokenizer)
        out = pipe(FIXED_TEXT, max_new_tokens=5, do_sample=False)
        return repr(out[0]["generated_text"])[:200]
    if task == "text2text-generation":
        out = pipeline("text2text-generation", model=path, **kw)(FIXED_TEXT, max_new_tokens=5)
        return repr(out)[:200]
    if task in ("feature-extraction", "sentence-similarity"):
        tok = AutoTokenizer.from_pretrained(path)
        _check_tokenizer(tok)
        model = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=False)
        batch = tok([FIXED_TEXT], return_tensors="pt", padding=True)
        with torch.no_grad():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        emb = (hidden * mask).sum(1) / mask.sum(1)
        return f"embedding dim {emb.shape[-1]}"
    if task == "question-answering":
        from pathlib import Path

        from hub_assets.evaluation.backends import ExtractiveQABackend, GenerationConfig

        backend = ExtractiveQABackend(Path(path), GenerationConfig(batch_size=1))
        _check_tokenizer(backend.tokenizer)
        out = backend.answer([FIXED_QUESTION[0]], [FIXED_QUESTION[1]])
        if out.errors[0]:
            raise RuntimeError(out.errors[0])
        return repr(out.predictions[0])[:200]
    raise ValueError(f"no documented runner for task {task!r}")


def _fallback(path: str, task: str) -> str:
    """Whatever runs: the model's own class on fixed token ids, no tokenizer, no pipeline."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    cfg = AutoConfig.from_pretrained(path, trust_remote_code=False)
    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        if task == "text-generation":
            model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True)
            out = model.generate(ids, max_new_tokens=3, do_sample=False)
            return f"generated {out.shape[1] - ids.shape[1]} tokens from fixed ids"
        if task == "text2text-generation" or cfg.is_encoder_decoder:
            model = AutoModelForSeq2SeqLM.from_pretrained(path, use_safetensors=True)
            out = model.generate(ids, max_new_tokens=3, do_sample=False)
            return f"generated {out.shape[1]} tokens from fixed ids"
        model = AutoModel.from_pretrained(path, use_safetensors=True)
        out = model(input_ids=ids)
        return f"forward pass, output {tuple(out[0].shape)}"


def main(path: str, task: str) -> dict:
    try:
        return {
            "status": "documented",
            "reason": f"{task} runs as documented",
            "output": _documented(path, task),
        }
    except Exception as e:  # noqa: BLE001 - any failure is a finding, reported below
        first = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
    try:
        out = _fallback(path, task)
        return {
            "status": "fallback",
            "reason": f"documented path failed ({first}); ran the model class on fixed token ids",
            "output": out,
        }
    except Exception as e:  # noqa: BLE001
        second = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        return {
            "status": "failed",
            "reason": f"cannot run: {first}; fallback: {second}",
            "trace": traceback.format_exc()[-1500:],
        }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
