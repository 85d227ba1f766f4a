"""The demo catalog's datasets, written by the project (CC-BY-4.0): fictional-towns QA
(the demo QA model trains on its `train` split), a held-out QA set no demo model trains on,
and everyday retrieval, as Parquet with dataset cards."""

from __future__ import annotations

import io

from hub_assets.devhub.catalog import Catalog
from hub_assets.devhub.demo_cards import short_card
from hub_assets.devhub.demo_cases import HELD_OUT_QA_DATASET, QA_DATASET, RETRIEVAL_DATASET
from hub_assets.devhub.demo_text import held_out_qa, qa_splits, retrieval_set

GITATTRIBUTES = b"""*.bin filter=lfs diff=lfs merge=lfs -text
*.safetensors filter=lfs diff=lfs merge=lfs -text
*.parquet filter=lfs diff=lfs merge=lfs -text
*.pt filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
"""


def commit_datasets(catalog: Catalog) -> None:
    """The QA sets and the retrieval set, each one commit of Parquet files and a card."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet(rows: list[dict]) -> bytes:
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buf, compression="zstd")
        return buf.getvalue()

    splits = qa_splits()
    counts = {
        name: (len(items), sum(1 for i in items if not i["answers"]["text"]))
        for name, items in splits.items()
    }
    meta = {
        "license": "cc-by-4.0",
        "language": ["en"],
        "task_categories": ["question-answering"],
        "pretty_name": "Fictional towns QA",
        "size_categories": ["1K<n<10K"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": name, "path": f"data/{name}-00000-of-00001.parquet"}
                    for name in splits
                ],
            }
        ],
    }
    card = short_card(
        QA_DATASET,
        meta,
        """
A SQuAD-v2-shaped extractive QA set about invented towns, written by the hub-assets project
(no text from SQuAD or any other dataset). Passages state a town's facts in varied wording
and order; some leave a fact out.

| split | questions | unanswerable |
|---|---:|---:|
"""
        + "".join(f"| {n} | {c} | {u} |\n" for n, (c, u) in counts.items())
        + """
Unanswerable questions have empty `answers`, as in SQuAD v2: either they ask for a fact no
passage states (a mayor, a railway station) or for one this passage leaves out. The two
splits use different towns.

Fields: `id`, `title`, `context`, `question`, `answers` (`text`, `answer_start`).

License: CC-BY-4.0.
""",
    )
    catalog.commit(
        "dataset",
        QA_DATASET,
        {
            "README.md": card.encode(),
            ".gitattributes": GITATTRIBUTES,
            **{
                f"data/{name}-00000-of-00001.parquet": parquet(items)
                for name, items in splits.items()
            },
        },
        authors=["hub-assets"],
        title="Add fictional towns QA set",
        date="2026-03-02T10:00:00Z",
        meta={"downloads": 1520, "likes": 12},
    )
    held_out = held_out_qa()
    unanswerable = sum(1 for i in held_out if not i["answers"]["text"])
    meta = {
        "license": "cc-by-4.0",
        "language": ["en"],
        "task_categories": ["question-answering"],
        "pretty_name": "Held-out towns QA",
        "size_categories": ["n<1K"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": "validation", "path": "data/validation-00000-of-00001.parquet"}
                ],
            }
        ],
    }
    card = short_card(
        HELD_OUT_QA_DATASET,
        meta,
        f"""
A held-out extractive QA set: {len(held_out)} SQuAD-v2-shaped questions ({unanswerable}
unanswerable) about invented towns, written by the hub-assets demo build with the same
generator as [{QA_DATASET}](../{QA_DATASET}) but on towns that neither of that set's splits
uses. No text comes from SQuAD or any other dataset.

Why it exists: the demo QA model is trained on `{QA_DATASET}`'s `train` split, and its card
says so, so an evaluation on that dataset is flagged `declared_overlap`. No demo model
declares this set as training data, so an evaluation on it is zero-shot: the evidence the
quality gate accepts by default (docs/evaluation.md).

Fields: `id`, `title`, `context`, `question`, `answers` (`text`, `answer_start`).

License: CC-BY-4.0.
""",
    )
    catalog.commit(
        "dataset",
        HELD_OUT_QA_DATASET,
        {
            "README.md": card.encode(),
            ".gitattributes": GITATTRIBUTES,
            "data/validation-00000-of-00001.parquet": parquet(held_out),
        },
        authors=["hub-assets"],
        title="Add held-out towns QA set",
        date="2026-03-03T10:00:00Z",
        meta={"downloads": 310, "likes": 3},
    )
    corpus, queries, qrels = retrieval_set()
    meta = {
        "license": "cc-by-4.0",
        "language": ["en"],
        "task_categories": ["text-retrieval"],
        "pretty_name": "Everyday retrieval",
        "size_categories": ["1K<n<10K"],
        "configs": [
            {
                "config_name": "corpus",
                "data_files": [{"split": "corpus", "path": "corpus/corpus.parquet"}],
            },
            {
                "config_name": "queries",
                "data_files": [{"split": "queries", "path": "queries/queries.parquet"}],
            },
            {
                "config_name": "qrels",
                "data_files": [
                    {"split": split, "path": f"qrels/{split}.parquet"} for split in qrels
                ],
            },
        ],
    }
    card = short_card(
        RETRIEVAL_DATASET,
        meta,
        f"""
A BEIR-shaped retrieval set on {len(corpus) // 8} everyday topics (kitchens, gardens, health,
money, travel, pets, computers...), written by the hub-assets project in plain English (no
text from MS MARCO, BEIR or any other dataset).

- `corpus`: {len(corpus)} passages (`_id`, `title`, `text`): two hand-written facts per
  topic, and six background passages on the topic that answer nothing.
- `queries`: {len(queries)} queries (`_id`, `text`), each asking for one fact in other
  words (synonyms, paraphrase), so word overlap alone does not find it.
- `qrels`: graded judgements (`query-id`, `corpus-id`, `score`): 2 for the passage that
  answers, 1 for the other fact of the same topic. Split once and for all: `test`
  ({len({r["query-id"] for r in qrels["test"]})} queries) is held out for evaluation, `dev`
  ({len({r["query-id"] for r in qrels["dev"]})} queries) is for tuning.

License: CC-BY-4.0.
""",
    )
    catalog.commit(
        "dataset",
        RETRIEVAL_DATASET,
        {
            "README.md": card.encode(),
            ".gitattributes": GITATTRIBUTES,
            "corpus/corpus.parquet": parquet(corpus),
            "queries/queries.parquet": parquet(queries),
            **{f"qrels/{split}.parquet": parquet(rows) for split, rows in qrels.items()},
        },
        authors=["hub-assets"],
        title="Add everyday retrieval set",
        date="2026-03-04T10:00:00Z",
        meta={"downloads": 870, "likes": 7},
    )
