"""The demo catalog's tiny models as data: one declaration per case the gate must tell apart.

Each `DemoCase` says what the repo holds (architecture, seed, weights, card) and what it
shows (`shows`); `demo_catalog.py` builds every case the same way. docs/hub-server.md lists
the cases for users.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ORG = "hub-assets-demo"
QA_DATASET = f"{ORG}/fictional-towns-qa"
# no demo model declares it as training data: evaluations on it are zero-shot
HELD_OUT_QA_DATASET = f"{ORG}/held-out-towns-qa"
RETRIEVAL_DATASET = f"{ORG}/everyday-retrieval"
QA_MODEL = f"{ORG}/tiny-bert-qa"
OVERCLAIMER = f"{ORG}/tiny-bert-qa-overclaimed"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
OVERSIZED_BYTES = 2_400_000_000  # 600M float32 parameters: too big for edge devices

# What each architecture is for: (pipeline task, claimed results on the card).
GENERATION_CLAIMS = (
    {"dataset": QA_DATASET, "metric": "exact_match", "value": 0.12},
    {"dataset": QA_DATASET, "metric": "f1", "value": 0.21},
)
EMBEDDING_CLAIMS = ({"dataset": RETRIEVAL_DATASET, "metric": "ndcg_at_10", "value": 0.18},)
TASKS = {
    "gpt2": ("text-generation", GENERATION_CLAIMS),
    "t5": ("text2text-generation", GENERATION_CLAIMS),
    "bert": ("feature-extraction", EMBEDDING_CLAIMS),
    "llama": ("text-generation", GENERATION_CLAIMS),
}


@dataclass(frozen=True)
class Retrain:
    """A later commit that replaces the weights (new seed), tagged."""

    seed: int
    authors: tuple[str, ...]
    date: str
    title: str
    tag: str


@dataclass(frozen=True)
class DemoCase:
    """One tiny model repo of the demo catalog."""

    name: str  # repo name under ORG
    shows: str  # what the case exercises
    arch: str  # gpt2, t5, bert or llama
    seed: int
    intro: str  # the card's first paragraph (the whole text of a short card)
    authors: tuple[str, ...]
    date: str
    downloads: int
    likes: int
    card: str = "complete"  # "complete" or "short"
    card_meta: dict = field(default_factory=dict)  # overrides of the card's YAML
    repo_meta: dict = field(default_factory=dict)  # e.g. trendingScore, gated
    history: tuple[tuple[str, str, str], ...] = ()  # (author, date, title) follow-ups
    # safetensors, pickle_only, malicious_pickle, oversized, scanner_bypass, remote_code
    weights: str = "safetensors"
    tokenizer: bool = True
    base_model: str | None = None  # written as config.json's _name_or_path
    first_tag: str | None = None
    retrain: Retrain | None = None

    @property
    def repo_id(self) -> str:
        return f"{ORG}/{self.name}"

    @property
    def task(self) -> str:
        return TASKS[self.arch][0]


_TEAM = ("ada", "grace", "linus", "margaret", "alan", "barbara", "ken")
_BASE = f"{ORG}/tiny-gpt2-complete"
NC_BASE = f"{ORG}/tiny-gpt2-noncommercial"
NC_FINETUNE = f"{ORG}/tiny-gpt2-nc-finetune"

# fmt: off
DEMO_CASES: tuple[DemoCase, ...] = (
    DemoCase(
        "tiny-gpt2-complete", "complete card, several authors, recent", "gpt2", 1,
        "A tiny GPT-2 with a complete model card.", ("ada",), "2025-11-03T10:00:00Z",
        48_210, 312, repo_meta={"trendingScore": 18},
        history=(
            ("grace", "2026-02-11T10:00:00Z", "Add evaluation results"),
            ("linus", "2026-08-19T10:00:00Z", "Clarify intended uses"),
            ("ada", "2026-10-30T10:00:00Z", "Fix usage snippet"),
        ),
    ),
    DemoCase(
        "tiny-t5-qa", "text2text, complete card", "t5", 2,
        "A tiny T5 for extractive-style question answering.", ("grace",),
        "2025-12-01T10:00:00Z", 21_004, 140,
        card_meta={"license": "mit", "tags": ["t5", "tiny", "demo", "question-answering"]},
        history=(
            ("ada", "2026-05-02T10:00:00Z", "Add model-index"),
            ("grace", "2026-09-14T10:00:00Z", "Update card"),
        ),
    ),
    DemoCase(
        "tiny-bert-embedder", "an encoder for embeddings (random: near chance)", "bert", 3,
        "A tiny BERT encoder for sentence embeddings.", ("linus",), "2026-01-20T10:00:00Z",
        9_870, 64, card_meta={"tags": ["bert", "tiny", "demo", "sentence-similarity"]},
        history=(("ada", "2026-07-07T10:00:00Z", "Add usage code"),),
    ),
    DemoCase(
        "tiny-gpt2-no-license", "no license: refused", "gpt2", 4,
        "A tiny GPT-2. No license was chosen for it.", ("mallory",), "2026-04-01T10:00:00Z",
        3_402, 9, card="short", card_meta={"license": None},
    ),
    DemoCase(
        "tiny-gpt2-gpl", "GPL-3.0: outside the license allowlist", "gpt2", 5,
        "A tiny GPT-2 released under the GPL-3.0.", ("richard",), "2026-03-15T10:00:00Z",
        5_120, 33, card_meta={"license": "gpl-3.0"},
    ),
    DemoCase(
        "tiny-gpt2-gated", "gated: needs a token with access", "gpt2", 6,
        "A tiny GPT-2 behind a gate: ask for access.", ("ada",), "2026-06-01T10:00:00Z",
        7_777, 51, card_meta={"extra_gated_prompt": "Agree to the terms to access."},
        repo_meta={"gated": "manual"},
    ),
    DemoCase(
        "tiny-gpt2-pickle-only", "weights only as a (safe) pickle", "gpt2", 7,
        "A tiny GPT-2 whose weights exist only as `pytorch_model.bin` (pickle).", ("bob",),
        "2026-02-20T10:00:00Z", 2_210, 4, card="short", weights="pickle_only",
    ),
    DemoCase(
        "tiny-gpt2-malicious-pickle", "a pickle that would run a command if loaded", "gpt2", 8,
        "Totally normal weights. Please load them.", ("eve",), "2026-09-09T10:00:00Z",
        1_337, 2, card="short", weights="malicious_pickle",
    ),
    DemoCase(
        "gpt2-oversized", "weights far too big for the target device (sparse file)", "gpt2", 9,
        "A GPT-2 sized far beyond what edge devices can hold.", ("ada", "grace"),
        "2026-05-05T10:00:00Z", 15_000, 88, weights="oversized",
        # too big to load on the development Hub too: its inference routes answer with
        # this stand-in, so the demo can evaluate the model through the inference API
        repo_meta={"inference": {"stand_in": _BASE}},
    ),
    DemoCase(
        "tiny-gpt2-no-tokenizer", "missing tokenizer: cannot be run", "gpt2", 10,
        "A tiny GPT-2. The tokenizer files were never uploaded.", ("bob",),
        "2026-07-01T10:00:00Z", 4_020, 11, card="short", tokenizer=False,
    ),
    DemoCase(
        "tiny-gpt2-stale", "stale, a single author", "gpt2", 11,
        "A tiny GPT-2 nobody has touched in years.", ("solo-dev",), "2021-02-03T10:00:00Z",
        610, 3, card="short", history=(("solo-dev", "2021-02-04T10:00:00Z", "Fix typo"),),
    ),
    DemoCase(
        "tiny-t5-active", "active, many authors", "t5", 12,
        "A tiny T5 maintained by a busy team.", ("ada",), "2026-06-01T10:00:00Z",
        33_000, 210, card_meta={"license": "apache-2.0", "tags": ["t5", "tiny", "demo"]},
        repo_meta={"trendingScore": 35},
        history=tuple(
            (
                _TEAM[k % len(_TEAM)],
                f"2026-{6 + k // 3:02d}-{1 + 9 * (k % 3):02d}T10:00:00Z",
                f"Improve card section {k + 1}",
            )
            for k in range(14)
        ),
    ),
    DemoCase(
        "tiny-gpt2-finetuned", "a fine-tune: lineage to its base", "gpt2", 13,
        f"A fine-tune of [{_BASE}](https://huggingface.co/{_BASE}) on the QA set.",
        ("grace",), "2026-10-01T10:00:00Z", 2_900, 21,
        card_meta={"base_model": _BASE, "tags": ["gpt2", "tiny", "demo", "finetune"]},
        base_model=_BASE,
    ),
    DemoCase(
        "tiny-bert-two-revisions", "two revisions: v1.0, then retrained weights v2.0", "bert",
        14, "A tiny BERT encoder with two released revisions.", ("margaret",),
        "2026-04-10T10:00:00Z", 6_500, 40, card_meta={"tags": ["bert", "tiny", "demo"]},
        first_tag="v1.0",
        retrain=Retrain(
            140, ("margaret", "alan"), "2026-10-20T10:00:00Z", "Retrain: new weights (v2)",
            "v2.0",
        ),
    ),
    DemoCase(
        "tiny-gpt2-noncommercial", "a base released for non-commercial use only", "gpt2", 15,
        "A tiny GPT-2 base released under CC-BY-NC-4.0: no commercial use.", ("nora",),
        "2026-03-01T10:00:00Z", 1_200, 14, card="short",
        card_meta={"license": "cc-by-nc-4.0"},
    ),
    DemoCase(
        "tiny-gpt2-nc-finetune",
        "apache-2.0 declared over a non-commercial base: fails on inherited obligations",
        "gpt2", 16,
        f"A fine-tune of [{NC_BASE}](https://huggingface.co/{NC_BASE}), released under "
        "Apache-2.0.", ("mallory",), "2026-09-20T10:00:00Z", 2_500, 30,
        card_meta={"base_model": NC_BASE, "license": "apache-2.0",
                   "tags": ["gpt2", "tiny", "demo", "finetune"]},
        base_model=NC_BASE,
    ),
    DemoCase(
        "tiny-gpt2-scanner-bypass",
        "a pickled training_args.bin that picklescan rates merely suspicious, fickling malicious",
        "gpt2", 17, "A tiny GPT-2. Its training arguments are pickled.", ("eve",),
        "2026-09-30T10:00:00Z", 1_900, 6, card="short", weights="scanner_bypass",
    ),
    DemoCase(
        "tiny-gpt2-remote-code", "auto_map: loading it with trust_remote_code runs repo code",
        "gpt2", 18, "A tiny GPT-2 with custom modeling code (`trust_remote_code=True`).",
        ("ivan",), "2026-10-12T10:00:00Z", 2_200, 8, card="short", weights="remote_code",
    ),
    DemoCase(
        "tiny-llama", "a Llama base (grouped-query attention) for the GGUF family", "llama", 22,
        "A tiny Llama: 2 layers, 4 query heads sharing 2 key/value heads.",
        ("ada", "ken"), "2026-06-01T10:00:00Z", 15_300, 120,
        card_meta={"tags": ["llama", "tiny", "demo"]},
        history=(("ken", "2026-10-01T10:00:00Z", "Add usage code"),),
    ),
)
# fmt: on

# The GGUF family of tiny-llama (docs/hub-server.md): a conversion, a quantisation, a LoRA
# adapter, and a GGUF file whose header lies.
LLAMA_BASE = f"{ORG}/tiny-llama"
LLAMA_GGUF = f"{ORG}/tiny-llama-GGUF"  # F16; relation inferred from the GGUF file
LLAMA_Q8 = f"{ORG}/tiny-llama-Q8_0-GGUF"  # Q8_0; base_model_relation: quantized declared
LLAMA_LORA = f"{ORG}/tiny-llama-lora"  # PEFT LoRA; relation inferred from adapter_config
LLAMA_MALFORMED = f"{ORG}/tiny-llama-malformed-GGUF"  # header claims 2^40 tensors
