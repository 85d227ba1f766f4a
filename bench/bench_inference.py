"""Batched inference vs a per-sample loop, same models, same data.

Models, all from the demo Hub: the tiny causal LM `hub-assets-demo/tiny-gpt2-complete`
answering QA prompts (baseline: a `transformers.pipeline("text-generation")` loop), the
trained extractive QA model `hub-assets-demo/tiny-bert-qa` (baseline: one question per
call, which is what the `question-answering` pipeline did; transformers 5 no longer ships
it, so the loop runs the same decoder with batches of one), and the real all-MiniLM-L6-v2
embedding retrieval passages (baseline: a `feature-extraction` pipeline loop).
Prints samples per second for each and `speedup_vs_pipeline_loop=` (geometric mean of the
three speed-ups; target ≥ 3). Then the inference API backend against the local batched one
on the same extractive-QA samples: `api_overhead_ratio=` (API wall time / local wall time)
with the API's p50 and p95 latency and no faults.

    .venv/bin/python bench/bench_inference.py [--samples 160]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hub_assets.devhub.demo_catalog import MINILM, ORG, QA_MODEL, build_demo  # noqa: E402
from hub_assets.devhub.demo_text import qa_items, retrieval_set  # noqa: E402
from hub_assets.devhub.server import HubServer  # noqa: E402
from hub_assets.evaluation.backends import (  # noqa: E402
    EmbeddingBackend,
    ExtractiveQABackend,
    GenerationConfig,
    QABackend,
)
from hub_assets.hub.client import HubClient, HubSettings  # noqa: E402
from hub_assets.metrics.scoring import cleared_snapshot  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=160)
    parser.add_argument(
        "--tiny", action="store_true", help="seconds-long sizes: the test suite runs this"
    )
    args = parser.parse_args()
    if args.tiny:
        args.samples = 8
    import torch
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.manual_seed(0)
    config = GenerationConfig(batch_size=32)
    with tempfile.TemporaryDirectory() as tmp, HubServer(build_demo(ROOT / "data/demo_hub")) as s:
        client = HubClient(
            # our own Hub: no quota to respect
            HubSettings(endpoint=s.url, cache_dir=Path(tmp) / "cache", requests_per_second=0)
        )

        def snapshot(model_id: str) -> Path:
            return cleared_snapshot(client, model_id, Path(tmp))

        gpt2, minilm = snapshot(f"{ORG}/tiny-gpt2-complete"), snapshot(MINILM)
        extractive_dir = snapshot(QA_MODEL)
        items = qa_items(args.samples)
        qa = QABackend(gpt2, "text-generation", config)
        # the same text for both: prompts cut (from the left) to fit the model's positions
        prompts = [
            qa.tokenizer.decode(
                qa.tokenizer(
                    qa.prompt(i["context"], i["question"]),
                    truncation=True,
                    max_length=qa.max_length,
                )["input_ids"]
            )
            for i in items
        ]
        t = time.perf_counter()
        qa.answer(prompts)
        ours_qa = len(prompts) / (time.perf_counter() - t)
        gen = pipeline("text-generation", model=str(gpt2))
        t = time.perf_counter()
        for p in prompts:
            gen(p, max_new_tokens=config.max_new_tokens, do_sample=False)
        loop_qa = len(prompts) / (time.perf_counter() - t)

        questions = [i["question"] for i in items]
        contexts = [i["context"] for i in items]
        extractive = ExtractiveQABackend(extractive_dir, config)
        t = time.perf_counter()
        batched = extractive.answer(questions, contexts).predictions
        ours_ex = len(questions) / (time.perf_counter() - t)
        one = ExtractiveQABackend(extractive_dir, GenerationConfig(batch_size=1))
        t = time.perf_counter()
        looped = [
            one.answer([q], [c]).predictions[0] for q, c in zip(questions, contexts, strict=True)
        ]
        loop_ex = len(questions) / (time.perf_counter() - t)
        agree = sum(a == b for a, b in zip(batched, looped, strict=True)) / len(questions)
        api_report = api_vs_local(items, extractive_dir, config)

        corpus, _, _ = retrieval_set()
        texts = [f"{d['title']}. {d['text']}" for d in corpus][: args.samples * 2]
        emb = EmbeddingBackend(minilm, config)
        t = time.perf_counter()
        emb.embed(texts)
        ours_emb = len(texts) / (time.perf_counter() - t)
        fx = pipeline("feature-extraction", model=str(minilm))
        t = time.perf_counter()
        for text in texts:
            torch.tensor(fx(text)[0]).mean(0)
        loop_emb = len(texts) / (time.perf_counter() - t)

    qa_speedup, emb_speedup = ours_qa / loop_qa, ours_emb / loop_emb
    ex_speedup = ours_ex / loop_ex
    print(
        f"qa_samples={len(prompts)} batched_per_s={ours_qa:.1f} pipeline_loop_per_s={loop_qa:.1f} "
        f"speedup={qa_speedup:.2f}"
    )
    print(
        f"embedding_texts={len(texts)} batched_per_s={ours_emb:.1f} "
        f"pipeline_loop_per_s={loop_emb:.1f} speedup={emb_speedup:.2f}"
    )
    print(
        f"extractive_qa_samples={len(questions)} batched_per_s={ours_ex:.1f} "
        f"per_sample_loop_per_s={loop_ex:.1f} same_answers={agree:.3f} speedup={ex_speedup:.2f}"
    )
    geo = (qa_speedup * emb_speedup * ex_speedup) ** (1 / 3)
    print(f"speedup_vs_pipeline_loop={geo:.2f}")
    print(api_report)


def api_vs_local(items: list[dict], extractive_dir: Path, config: GenerationConfig) -> str:
    """The inference API backend (InferenceClient against the development Hub in a process
    of its own, one question a request, no faults) against the local batched backend on the
    same samples: `api_overhead_ratio` = API wall time / local wall time, and the API's
    p50 / p95 latency against the 500 / 800 ms budget."""
    from dataclasses import replace

    from hub_assets.devhub.process import served_catalog
    from hub_assets.evaluation.api_budget import ApiSession
    from hub_assets.evaluation.inference_api import InferenceApiBackend
    from hub_assets.pipeline.context import Pipeline
    from hub_assets.settings import load_settings

    questions = [i["question"] for i in items]
    contexts = [i["context"] for i in items]
    local = ExtractiveQABackend(extractive_dir, config)
    t = time.perf_counter()
    local_answers = local.answer(questions, contexts).predictions
    local_s = time.perf_counter() - t
    settings = load_settings({"inference_api_per_minute": 0, "inference_api_per_hour": 0})
    defaults = Pipeline.from_settings(settings).inference_api()  # the local Hub has no quota
    budget = defaults.budget
    with served_catalog(ROOT / "data/demo_hub") as url:
        api_config = replace(defaults, base_url=url)
        session = ApiSession(budget)
        backend = InferenceApiBackend(QA_MODEL, "question-answering", api_config, session)
        backend.answer_extractive(questions[:1], contexts[:1], config)  # warm-up: loads the model
        session = backend.session = ApiSession(budget)
        t = time.perf_counter()
        out = backend.answer_extractive(questions, contexts, config)
        api_s = time.perf_counter() - t
    figures = session.summary()
    agree = sum(a == b for a, b in zip(out.predictions, local_answers, strict=True)) / len(items)
    return (
        f"api_samples={len(items)} api_per_s={len(items) / api_s:.1f} "
        f"local_batched_per_s={len(items) / local_s:.1f} same_answers={agree:.3f} "
        f"misses={figures['misses']} p50_ms={figures['p50_ms']} p95_ms={figures['p95_ms']} "
        f"within_budget={figures['within_budget']}\n"
        f"api_overhead_ratio={api_s / local_s:.2f}"
    )


if __name__ == "__main__":
    main()
