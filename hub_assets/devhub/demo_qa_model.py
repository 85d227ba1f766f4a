"""Trains the demo catalog's real extractive QA model: a tiny BERT, from scratch, on CPU.

Deterministic: a fixed seed, one thread, no dropout randomness beyond the seeded generator,
so the same inputs give byte-identical weights (and the same commit sha). It trains on the
QA set's `train` split and reports its own score on `validation`, measured by the same
extractive backend the shadow evaluation uses.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

MAX_LENGTH = 128


def _features(tokenizer, items: Sequence[dict]) -> dict:  # noqa: ANN001
    """Token ids with the answer's start/end token (0 = [CLS] for no answer)."""
    enc = tokenizer(
        [i["question"] for i in items],
        [i["context"] for i in items],
        truncation="only_second",
        max_length=MAX_LENGTH,
        padding="max_length",
        return_offsets_mapping=True,
    )
    starts, ends = [], []
    for n, item in enumerate(items):
        s_tok = e_tok = 0
        if item["answers"]["text"]:
            a0 = item["answers"]["answer_start"][0]
            a1 = a0 + len(item["answers"]["text"][0])
            seq = enc.sequence_ids(n)
            for t, (o0, o1) in enumerate(enc["offset_mapping"][n]):
                if seq[t] != 1:
                    continue
                if o0 <= a0 < o1 and s_tok == 0:
                    s_tok = t
                if o0 < a1 <= o1:
                    e_tok = t
            if not (s_tok and e_tok):  # the answer was cut off: treat as no answer
                s_tok = e_tok = 0
        starts.append(s_tok)
        ends.append(e_tok)
    return {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "token_type_ids": enc["token_type_ids"],
        "start_positions": starts,
        "end_positions": ends,
    }


def train_extractive_qa(
    train: Sequence[dict],
    tokenizer_dir: Path,
    out: Path,
    *,
    seed: int = 20,
    epochs: int = 6,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    weights_from_training: bool = True,
) -> Path:
    """Save a BertForQuestionAnswering (trained, or left at its seeded random init) to `out`."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering, PreTrainedTokenizerFast

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: the same float sums in the same order every run
    try:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
        tokenizer.model_max_length = MAX_LENGTH
        torch.manual_seed(seed)
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=128,
            max_position_embeddings=MAX_LENGTH,
            hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = BertForQuestionAnswering(config)
        if weights_from_training:
            feats = {k: torch.tensor(v) for k, v in _features(tokenizer, train).items()}
            n = len(train)
            gen = torch.Generator().manual_seed(seed)
            opt = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
            steps = epochs * ((n + batch_size - 1) // batch_size)
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=learning_rate, total_steps=steps, pct_start=0.1
            )
            model.train()
            for _ in range(epochs):
                order = torch.randperm(n, generator=gen)
                for b in range(0, n, batch_size):
                    idx = order[b : b + batch_size]
                    loss = model(**{k: v[idx] for k, v in feats.items()}).loss
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    opt.step()
                    sched.step()
            model.eval()
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        cfg = json.loads((out / "tokenizer_config.json").read_text())
        cfg["model_max_length"] = MAX_LENGTH
        (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    finally:
        torch.set_num_threads(threads)
    return out


def validation_scores(model_dir: Path, items: Sequence[dict]) -> dict[str, float]:
    """EM and F1 of the saved model on `items`, through the shadow-evaluation backend."""
    from hub_assets.evaluation.backends import ExtractiveQABackend, GenerationConfig
    from hub_assets.evaluation.qa_scoring import qa_scores
    from hub_assets.hub.clearance import CLEARANCE, mark_cleared

    # the development Hub's own freshly trained model: vouched for here, then the mark is
    # removed again so it never reaches the catalog
    mark_cleared(model_dir, "local", "trained by the development Hub", "")
    try:
        backend = ExtractiveQABackend(model_dir, GenerationConfig(batch_size=64))
    finally:
        shutil.rmtree(model_dir / CLEARANCE.parts[0], ignore_errors=True)
    out = backend.answer([i["question"] for i in items], [i["context"] for i in items])
    scores = qa_scores(out.predictions, [list(i["answers"]["text"]) for i in items])
    return {"exact_match": scores["exact_match"], "f1": scores["f1"]}
