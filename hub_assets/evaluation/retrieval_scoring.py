"""Retrieval scores, 0–1 each: nDCG@10, MRR@10, Recall@1/5/10 (BEIR definitions).

`ranked` is a query's document ids, best first; `relevant` maps relevant document ids to
their graded relevance (qrels score > 0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """DCG of the top k (gain = relevance, discount log2(rank + 1)) over the ideal DCG."""
    dcg = sum(relevant.get(d, 0.0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """1 / rank of the first relevant document in the top k, else 0."""
    for i, d in enumerate(ranked[:k]):
        if relevant.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def recall_at_k(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant documents found in the top k."""
    rel = {d for d, g in relevant.items() if g > 0}
    return len(rel & set(ranked[:k])) / len(rel) if rel else 0.0


def retrieval_scores(
    rankings: Sequence[Sequence[str]], qrels: Sequence[Mapping[str, float]]
) -> dict:
    """Means over queries, and per-query lists under `per_sample`."""
    per = {
        "ndcg_at_10": [ndcg_at_k(r, q) for r, q in zip(rankings, qrels, strict=True)],
        "mrr_at_10": [mrr_at_k(r, q) for r, q in zip(rankings, qrels, strict=True)],
        "recall_at_1": [recall_at_k(r, q, 1) for r, q in zip(rankings, qrels, strict=True)],
        "recall_at_5": [recall_at_k(r, q, 5) for r, q in zip(rankings, qrels, strict=True)],
        "recall_at_10": [recall_at_k(r, q, 10) for r, q in zip(rankings, qrels, strict=True)],
    }
    n = max(len(rankings), 1)
    return {**{k: sum(v) / n for k, v in per.items()}, "per_sample": per}
