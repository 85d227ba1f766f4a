"""The model tree's two views over the registry: a model's ancestors, a base's descendants
by relation; edges read from cards and inferred from files, with their evidence."""

from hub_assets.devhub.demo_cases import (
    LLAMA_BASE,
    LLAMA_GGUF,
    LLAMA_LORA,
    LLAMA_MALFORMED,
    LLAMA_Q8,
    ORG,
)
from hub_assets.registry.models import save_revision
from hub_assets.registry.tree import ancestry, descendants, parents, record_edges


def _saved(hub_client, registry, *model_ids):
    registry.ensure_schema()
    with registry.write() as con:
        for m in model_ids:
            fetched = hub_client.model_metadata(m)
            save_revision(
                con, m, fetched.data, from_cache=False, fetched_at=fetched.fetched_at, run_id="r"
            )
    return registry


def test_relations_read_from_cards_and_inferred_from_files(hub_client, registry):
    reg = _saved(
        hub_client,
        registry,
        LLAMA_BASE,
        LLAMA_GGUF,
        LLAMA_Q8,
        LLAMA_LORA,
        LLAMA_MALFORMED,
        f"{ORG}/tiny-gpt2-finetuned",
    )
    with reg.read() as con:
        down = descendants(con, LLAMA_BASE)
        assert [(d["model_id"], d["relation"], d["evidence"]) for d in down] == [
            (LLAMA_LORA, "adapter", "adapter_config.json in the repo"),
            (LLAMA_GGUF, "quantized", "GGUF weights in the repo"),
            (LLAMA_Q8, "quantized", "card base_model_relation"),
            (LLAMA_MALFORMED, "quantized", "card base_model_relation"),
        ]
        assert [d["model_id"] for d in descendants(con, LLAMA_BASE, ["adapter"])] == [LLAMA_LORA]
        assert parents(con, LLAMA_LORA) == [(LLAMA_BASE, "adapter")]
        [up] = ancestry(con, LLAMA_Q8)
        assert (up["model_id"], up["relation"], up["license"]) == (
            LLAMA_BASE,
            "quantized",
            "apache-2.0",
        )
        assert descendants(con, f"{ORG}/tiny-gpt2-complete")[0]["relation"] == "finetune"


def test_views_walk_depth_and_survive_cycles(registry):
    registry.ensure_schema()
    with registry.write() as con:
        record_edges(con, "a/merged", "1" * 40, [("a/ft", "merge", "e"), ("b/other", "merge", "e")])
        record_edges(con, "a/ft", "2" * 40, [("a/base", "finetune", "e")])
        record_edges(con, "a/ft-adapter", "3" * 40, [("a/ft", "adapter", "e")])
        record_edges(con, "a/base", "4" * 40, [("a/merged", "finetune", "a cycle")])
    with registry.read() as con:
        down = descendants(con, "a/base")
        assert [(d["model_id"], d["depth"]) for d in down] == [
            ("a/ft", 1),
            ("a/ft-adapter", 2),
            ("a/merged", 2),
        ]  # a/merged → a/base closes a cycle: a model is never its own descendant
        assert [d["model_id"] for d in descendants(con, "a/base", ["adapter", "finetune"])] == [
            "a/ft",
            "a/ft-adapter",
        ]
        up = ancestry(con, "a/ft-adapter")
        assert [(a["model_id"], a["depth"]) for a in up][:2] == [("a/ft", 1), ("a/base", 2)]
        assert len(up) < 10  # the cycle is cut
