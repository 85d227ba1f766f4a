"""Everyday passages and paraphrased queries for the demo retrieval set, written for it.

`demo_everyday.txt` holds the text: for each topic, hand-written facts, each a passage and
a query that asks for it in other words (synonyms, paraphrase, another angle), so a lexical
match alone does not find it; and background templates that fill the corpus with passages
on the same topics that answer nothing. Nothing is copied from MS MARCO, BEIR or any other
dataset. Licence: CC-BY-4.0.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_SOURCE = Path(__file__).with_name("demo_everyday.txt")


@cache
def everyday_text() -> tuple[tuple[tuple[str, tuple[tuple[str, str], ...]], ...], tuple[str, ...]]:
    """(topics, background): topics as (name, ((passage, query), ...)), in file order."""
    topics: list[tuple[str, list[tuple[str, str]]]] = []
    background: list[str] = []
    passage = None
    for n, line in enumerate(_SOURCE.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        kind, _, text = line.partition(" ")
        if kind == "==":
            topics.append((text, []))
        elif kind == "P:":
            passage = text
        elif kind == "Q:" and passage and topics:
            topics[-1][1].append((passage, text))
            passage = None
        elif kind == "B:":
            background.append(text)
        else:
            raise ValueError(f"{_SOURCE.name}:{n}: unexpected line {line[:40]!r}")
    return tuple((name, tuple(facts)) for name, facts in topics), tuple(background)
