"""Was the model trained on what it is evaluated on? Declared and measured overlap.

For each (model, evaluation set) one flag:

- `declared_overlap`: the evaluation set, or a dataset its card names as its source
  (`source_datasets`), is among the training data the model's card declares (`datasets`)
  or that of any ancestor up its `base_model` tree (a fine-tune inherits its base's data,
  as MTEB counts it);
- `measured_overlap`: nothing declared, but the evaluation items' word n-grams are found in
  a declared training dataset the pipeline could read (`ngram_overlap`);
- `zero_shot`: neither.

Ids are compared normalised: lower case, without a Hub URL prefix, and the legacy
canonical names (`squad`, `ms_marco`, ...) mapped to the ids those datasets now have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hub_assets.evaluation.datasets import CachedDataset

ZERO_SHOT, DECLARED_OVERLAP, MEASURED_OVERLAP = "zero_shot", "declared_overlap", "measured_overlap"
FLAGS = (ZERO_SHOT, DECLARED_OVERLAP, MEASURED_OVERLAP)
# The canonical datasets that moved under an organisation, by their old names (the cards
# of older models, all-MiniLM-L6-v2's among them, still use these).
LEGACY_IDS = {
    "squad": "rajpurkar/squad",
    "squad_v2": "rajpurkar/squad_v2",
    "ms_marco": "microsoft/ms_marco",
    "natural_questions": "google-research-datasets/natural_questions",
    "trivia_qa": "mandarjoshi/trivia_qa",
    "snli": "stanfordnlp/snli",
    "multi_nli": "nyu-mll/multi_nli",
    "gooaq": "allenai/gooaq",
    "yahoo_answers_topics": "community-datasets/yahoo_answers_topics",
    "code_search_net": "code-search-net/code_search_net",
    "eli5": "sentence-transformers/eli5",
    "search_qa": "kyunghyuncho/search_qa",
}
_URL_PREFIX = re.compile(r"^(?:https?://[^/]+/)?(?:datasets/)?", re.I)
# n-gram overlap: an evaluation item is found in the training data when at least this share
# of its word n-grams occur there; a set is flagged when at least FLAG_SHARE of its items are.
NGRAM = 13  # as in the GPT-3 paper's contamination analysis
ITEM_SHARE = 0.5
FLAG_SHARE = 0.02
# A card is hostile until read: at most this many declared datasets per card are read, and
# at most MAX_MEASURED of them are streamed for the overlap check (the rest are listed as
# skipped)
MAX_DECLARED = 500
MAX_MEASURED = 32
# The check's method: a verdict recorded under another one is judged again
CHECK_VERSION = f"declared+{NGRAM}-grams@{ITEM_SHARE}/{FLAG_SHARE}"


def dataset_id(raw: object) -> str | None:
    """A declared dataset as a comparable id (None: not a dataset name)."""
    text = _URL_PREFIX.sub("", str(raw or "").strip()).strip("/").lower()
    if not text or len(text) > 200 or not re.fullmatch(r"[\w.\-]+(?:/[\w.\-]+)?", text):
        return None
    return LEGACY_IDS.get(text, text)


def declared_ids(values: object) -> list[str]:
    """A card's `datasets` (or `source_datasets`) field as normalised ids, in order."""
    items = values if isinstance(values, list) else [values] if values else []
    out: list[str] = []
    for item in items[:MAX_DECLARED]:
        got = dataset_id(item)
        if got and got not in out:
            out.append(got)
    return out


@dataclass(frozen=True)
class TrainingData:
    """One declared training dataset and who declares it (the model, or an ancestor)."""

    dataset: str
    declared_by: str
    depth: int  # 0: the model's own card; 1: its base; ...


def training_data_through_tree(
    model_id: str, own: Iterable[str], ancestors: Iterable[tuple[str, int, Iterable[str]]]
) -> list[TrainingData]:
    """The model's declared training datasets and its ancestors' ((model, depth, datasets)
    nearest first), each dataset once, attributed to the nearest that declares it."""
    seen: dict[str, TrainingData] = {}
    for who, depth, datasets in [(model_id, 0, own), *sorted(ancestors, key=lambda a: a[1])]:
        for d in declared_ids(list(datasets)):
            seen.setdefault(d, TrainingData(d, who, depth))
    return list(seen.values())


def judge(
    eval_set: str,
    eval_sources: Sequence[str],
    training: Sequence[TrainingData],
    measured: Sequence[Mapping] = (),
) -> dict:
    """The flag of one (model, evaluation set), with what it rests on: the declared
    datasets that match the set or its sources, and the measured overlaps."""
    names = {dataset_id(eval_set), *declared_ids(list(eval_sources))} - {None}
    matches = [
        {"dataset": t.dataset, "declared_by": t.declared_by, "depth": t.depth}
        for t in training
        if t.dataset in names
    ]
    found = [m for m in measured if m.get("flagged_share", 0.0) >= FLAG_SHARE]
    flag = DECLARED_OVERLAP if matches else MEASURED_OVERLAP if found else ZERO_SHOT
    return {
        "flag": flag,
        "version": CHECK_VERSION,
        "eval_set": eval_set,
        "eval_sources": sorted(names - {dataset_id(eval_set)}),
        "matches": matches,
        "measured": [dict(m) for m in measured],
        "training_data": [t.dataset for t in training],
    }


def describe(contamination: Mapping | None) -> str:
    """`declared_overlap: microsoft/ms_marco, declared by sentence-transformers/x` (one
    line), or the bare flag."""
    if not contamination:
        return "not checked"
    flag = contamination.get("flag", "")
    if flag == DECLARED_OVERLAP:
        ms = contamination.get("matches") or []
        return f"{flag}: " + "; ".join(
            f"{m['dataset']} is training data of {m['declared_by']}" for m in ms
        )
    if flag == MEASURED_OVERLAP:
        ms = [m for m in contamination.get("measured") or [] if m["flagged_share"] >= FLAG_SHARE]
        return f"{flag}: " + "; ".join(
            f"{m['flagged']} of {m['items']} items ({m['flagged_share']:.1%}) found in "
            f"{m['dataset']}"
            for m in ms
        )
    return flag


# -- measured overlap -----------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


class NgramIndex:
    """The word n-grams of a training set, as sorted 64-bit hashes (bounded memory: 8 bytes
    per n-gram), to look evaluation items up in. Items shorter than n words are indexed
    whole. Texts are hashed in batches, all n-grams of a batch at once."""

    BATCH = 5_000  # texts hashed together

    def __init__(self, n: int = NGRAM) -> None:
        self.n = n
        self._chunks: list = []
        self.items = 0
        self._sorted = None

    def _grams(self, texts: Sequence[str]):
        """Every n-gram hash of `texts`, and the index of the text each belongs to."""
        import numpy as np

        n = self.n
        words = [_words(t) for t in texts]
        # a short item is one gram of its words padded with "" (whose hash is 0)
        padded = [w + [""] * (n - len(w)) if 0 < len(w) < n else w for w in words]
        lengths = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
        # a word's id is Python's string hash (fixed within the process that builds the
        # index and looks items up in it; only counts outlive it)
        ids = np.fromiter(
            map(hash, chain.from_iterable(padded)), dtype=np.int64, count=int(lengths.sum())
        ).astype(np.uint64)
        counts = np.where(lengths >= n, lengths - n + 1, 0)
        if not counts.sum():
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        grams = np.zeros(ids.size - n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):  # wrapping multiplication is the hash
            for k in range(n):
                grams = grams * np.uint64(1_000_003) + ids[k : ids.size - n + 1 + k]
        # keep the n-grams that lie inside one text
        starts = np.cumsum(lengths) - lengths
        first = np.cumsum(counts) - counts
        owner = np.repeat(np.arange(len(texts)), counts)
        at = np.repeat(starts, counts) + np.arange(int(counts.sum())) - np.repeat(first, counts)
        return grams[at], owner

    def add_many(self, texts: Sequence[str]) -> None:
        """Index training items."""
        for i in range(0, len(texts), self.BATCH):
            batch = list(texts[i : i + self.BATCH])
            self._chunks.append(self._grams(batch)[0])
            self.items += len(batch)
        self._sorted = None

    def add(self, text: str) -> None:
        """Index one training item."""
        self.add_many([text])

    def _table(self):
        import numpy as np

        if self._sorted is None:
            self._sorted = np.unique(np.concatenate(self._chunks or [np.zeros(0, np.uint64)]))
            self._chunks = [self._sorted]
        return self._sorted

    def shares_found(self, texts: Sequence[str]) -> list[float]:
        """For each text, the share of its n-grams found in the index (0 for an empty one)."""
        import numpy as np

        table, out = self._table(), []
        for i in range(0, len(texts), self.BATCH):
            batch = list(texts[i : i + self.BATCH])
            grams, owner = self._grams(batch)
            if table.size == 0 or grams.size == 0:
                out += [0.0] * len(batch)
                continue
            at = np.minimum(np.searchsorted(table, grams), table.size - 1)
            found = np.bincount(owner, weights=table[at] == grams, minlength=len(batch))
            total = np.bincount(owner, minlength=len(batch))
            out += [float(f / t) if t else 0.0 for f, t in zip(found, total, strict=True)]
        return out

    def share_found(self, text: str) -> float:
        """The share of an item's n-grams found in the index (0 for an empty item)."""
        return self.shares_found([text])[0]


def ngram_overlap(
    eval_items: Mapping[str, str], index: NgramIndex, dataset: str, revision: str
) -> dict:
    """How many evaluation items (id → text) the training index contains (at least
    `ITEM_SHARE` of their n-grams), with the first few ids as examples."""
    shares = index.shares_found(list(eval_items.values()))
    flagged = [i for i, share in zip(eval_items, shares, strict=True) if share >= ITEM_SHARE]
    n = len(eval_items)
    return {
        "dataset": dataset,
        "revision": revision,
        "method": f"word {index.n}-grams, item found at >= {ITEM_SHARE:.0%} of its n-grams",
        "items": n,
        "training_items": index.items,
        "flagged": len(flagged),
        "flagged_share": round(len(flagged) / n, 4) if n else 0.0,
        "examples": flagged[:5],
    }


@dataclass(frozen=True)
class OverlapBudget:
    """How much of each declared training dataset the overlap check may read: rows, and
    seconds (HUB_ASSETS_OVERLAP_MAX_ROWS, HUB_ASSETS_OVERLAP_BUDGET_S)."""

    max_rows: int
    seconds: float


def evaluation_items(data: CachedDataset) -> dict[str, str]:
    """The text of each item of a pinned evaluation set, as a model trained on it would
    have seen it: a QA item's question and context; a retrieval query with the passages
    judged most relevant to it."""
    from hub_assets.evaluation.measurement import QA_TASK

    if data.pin.task == QA_TASK:
        frame = data.frame(*data.pin.splits[0])
        return {
            str(i): f"{q} {c}"
            for i, q, c in zip(frame["id"], frame["question"], frame["context"], strict=True)
        }
    corpus = data.frame("corpus", "corpus")
    columns = (corpus["_id"], corpus["title"], corpus["text"])
    text = {str(i): f"{t}. {x}" for i, t, x in zip(*columns, strict=True)}
    split = next(s for c, s in data.pin.splits if c == "qrels")
    best: dict[str, tuple[float, list[str]]] = {}
    for q, d, grade in data.frame("qrels", split).itertuples(index=False):
        top, docs = best.get(str(q), (float("-inf"), []))
        if grade > top:
            best[str(q)] = (float(grade), [str(d)])
        elif grade == top:
            docs.append(str(d))
    queries = data.frame("queries", "queries")
    return {
        str(q): " ".join([t, *[text.get(d, "") for d in best[str(q)][1]]])
        for q, t in zip(queries["_id"], queries["text"], strict=True)
        if str(q) in best
    }
