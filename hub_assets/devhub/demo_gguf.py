"""The demo's GGUF family: tiny-llama as GGUF files (F16, and Q8_0 declared quantized), a
LoRA adapter of it, and a GGUF whose header claims 2^40 tensors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub_assets.devhub.demo_cards import GGUF_USAGE, LORA_USAGE, complete_card, short_card
from hub_assets.devhub.demo_cases import (
    DEMO_CASES,
    GENERATION_CLAIMS,
    LLAMA_BASE,
    LLAMA_GGUF,
    LLAMA_LORA,
    LLAMA_MALFORMED,
    LLAMA_Q8,
)
from hub_assets.devhub.demo_datasets import GITATTRIBUTES
from hub_assets.devhub.demo_weights import lora_adapter, malformed_gguf, write_gguf

if TYPE_CHECKING:
    from hub_assets.devhub.demo_catalog import _Builder


def commit_gguf_family(builder: _Builder) -> None:
    """tiny-llama as GGUF (F16, and Q8_0 declared quantized), a LoRA adapter of it, and
    a GGUF whose header claims 2^40 tensors."""
    base = next(c for c in DEMO_CASES if c.repo_id == LLAMA_BASE)
    folder = builder.weights.model_folder("llama", base.seed)
    out = builder.tmp / "gguf"
    out.mkdir()
    write_gguf(folder, out / "tiny-llama-f16.gguf", "F16")
    write_gguf(folder, out / "tiny-llama-q8_0.gguf", "Q8_0")
    gguf_meta = {"library_name": "gguf", "pipeline_tag": "text-generation"}
    card_meta = {
        "language": ["en"],
        "license": "apache-2.0",
        "library_name": "gguf",
        "pipeline_tag": "text-generation",
        "base_model": LLAMA_BASE,
        "tags": ["llama", "gguf", "tiny", "demo"],
    }
    repos = (
        (LLAMA_GGUF, "tiny-llama-f16.gguf", {}, "F16", 6_100),
        (LLAMA_Q8, "tiny-llama-q8_0.gguf", {"base_model_relation": "quantized"}, "Q8_0", 2_900),
    )
    for repo, file, extra_meta, quant, downloads in repos:
        usage = GGUF_USAGE.format(repo=repo, file=file)
        builder.catalog.commit(
            "model",
            repo,
            {
                file: out / file,
                "README.md": complete_card(
                    repo,
                    {**card_meta, **extra_meta},
                    "text-generation",
                    usage,
                    GENERATION_CLAIMS,
                    f"[{LLAMA_BASE}](https://huggingface.co/{LLAMA_BASE}) as a {quant} "
                    "GGUF file, for llama.cpp and transformers' GGUF loader.",
                ).encode(),
                ".gitattributes": GITATTRIBUTES,
            },
            authors=["ken", "ada"] if quant == "F16" else ["ken"],
            title=f"Add {quant} GGUF",
            date="2026-10-20T10:00:00Z",
            meta={**gguf_meta, "downloads": downloads, "likes": 21},
        )
    adapter = lora_adapter(folder, builder.tmp / "lora", LLAMA_BASE, seed=23)
    builder.commit_folder(
        LLAMA_LORA,
        adapter,
        complete_card(
            LLAMA_LORA,
            {**card_meta, "library_name": "peft", "tags": ["llama", "lora", "demo"]},
            "text-generation",
            LORA_USAGE.format(repo=LLAMA_LORA, base=LLAMA_BASE),
            GENERATION_CLAIMS,
            f"A rank-4 LoRA adapter for [{LLAMA_BASE}](https://huggingface.co/{LLAMA_BASE}).",
        ),
        authors=["grace", "ken"],
        date="2026-10-25T10:00:00Z",
        title="Upload LoRA adapter",
        meta={
            "library_name": "peft",
            "pipeline_tag": "text-generation",
            "downloads": 800,
            "likes": 5,
        },
    )
    builder.catalog.commit(
        "model",
        LLAMA_MALFORMED,
        {
            "tiny-llama-q8_0.gguf": malformed_gguf((out / "tiny-llama-q8_0.gguf").read_bytes()),
            "README.md": short_card(
                LLAMA_MALFORMED,
                {**card_meta, "base_model_relation": "quantized"},
                "A tiny Llama GGUF. (Its header claims 2^40 tensors.)",
            ).encode(),
            ".gitattributes": GITATTRIBUTES,
        },
        authors=["mallory"],
        title="Add GGUF",
        date="2026-10-28T10:00:00Z",
        meta={**gguf_meta, "downloads": 1_300, "likes": 2},
    )
