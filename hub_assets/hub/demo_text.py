"""Deterministic text about a fictional world: the demo datasets and the tokenizer corpus.

Everything here is generated from a seed; nothing is copied from SQuAD, MS MARCO or any
other dataset. The facts are invented, so every answer is checkable against its context.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ren",
    "sa",
    "tor",
    "vel",
    "an",
    "bri",
    "dun",
    "el",
    "fa",
    "gor",
    "hal",
    "is",
    "jor",
    "kel",
    "mar",
    "nor",
    "ost",
    "pra",
    "quin",
    "ros",
    "sil",
    "tam",
    "ul",
    "var",
    "wen",
    "yor",
    "zel",
)
_REGIONS = ("northern", "southern", "eastern", "western", "central", "coastal", "highland")
_PRODUCTS = (
    "woollen blankets",
    "copper bells",
    "glass lanterns",
    "smoked cheese",
    "paper kites",
    "clay pipes",
    "river boats",
    "apple cider",
    "wooden clocks",
    "silk ribbons",
    "salt crackers",
    "iron keys",
    "honey cakes",
    "linen maps",
    "stone bridges",
)
_PROFESSIONS = (
    "miller",
    "sailor",
    "weaver",
    "teacher",
    "blacksmith",
    "merchant",
    "surveyor",
    "beekeeper",
    "printer",
    "potter",
    "carpenter",
    "physician",
)
_FEATURES = (
    "a clock tower",
    "a covered market",
    "a stone harbour",
    "a botanical garden",
    "an observatory",
    "a salt mine",
    "a library with a glass roof",
    "a windmill",
)


def _name(rng: random.Random, parts: int = 2) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


@dataclass(frozen=True)
class Town:
    """One invented town and its facts."""

    name: str
    river: str
    region: str
    year: int
    founder: str
    profession: str
    product: str
    population: int
    feature: str

    def passage(self) -> str:
        return (
            f"{self.name} is a town on the {self.river} river in the {self.region} region. "
            f"It was founded in {self.year} by {self.founder}, a {self.profession}. "
            f"The town is known for its {self.product}, and it has {self.feature}. "
            f"At the last census its population was {self.population}."
        )


def towns(count: int, seed: int) -> list[Town]:
    """`count` towns with distinct names, the same for the same seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[Town] = []
    while len(out) < count:
        name = _name(rng, rng.choice((2, 3)))
        if name in seen:
            continue
        seen.add(name)
        out.append(
            Town(
                name=name,
                river=_name(rng),
                region=rng.choice(_REGIONS),
                year=rng.randint(1200, 1950),
                founder=f"{_name(rng)} {_name(rng, 3)}",
                profession=rng.choice(_PROFESSIONS),
                product=rng.choice(_PRODUCTS),
                population=rng.randint(800, 250_000),
                feature=rng.choice(_FEATURES),
            )
        )
    return out


def qa_items(count: int, seed: int = 7) -> list[dict]:
    """SQuAD-v2-shaped items: id, title, context, question, answers{text, answer_start}.

    About one in five questions has no answer in its context (empty answers), as in SQuAD v2.
    """
    rng = random.Random(seed)
    items: list[dict] = []
    for town in towns(count // 3 + 1, seed):
        ctx = town.passage()
        questions = [
            (f"When was {town.name} founded?", str(town.year)),
            (f"Who founded {town.name}?", town.founder),
            (f"On which river is {town.name}?", town.river),
            (f"What is {town.name} known for?", town.product),
            (f"What was the population of {town.name} at the last census?", str(town.population)),
        ]
        unanswerable = [
            f"Who is the mayor of {town.name}?",
            f"When did {town.name} get its railway station?",
            f"Which football club plays in {town.name}?",
        ]
        picked = rng.sample(questions, 3)
        if rng.random() < 0.6:
            picked[rng.randrange(3)] = (rng.choice(unanswerable), None)
        for question, answer in picked:
            if len(items) >= count:
                break
            if answer is None:
                answers = {"text": [], "answer_start": []}
            else:
                answers = {"text": [answer], "answer_start": [ctx.index(answer)]}
            items.append(
                {
                    "id": f"q{len(items):05d}",
                    "title": town.name,
                    "context": ctx,
                    "question": question,
                    "answers": answers,
                }
            )
    return items


def retrieval_set(passages: int, queries: int, seed: int = 11) -> tuple[list, list, list]:
    """A BEIR-shaped set: corpus [{_id, title, text}], queries [{_id, text}], qrels.

    Each query asks about one town's fact; its relevant passage is that town's passage.
    """
    rng = random.Random(seed)
    all_towns = towns(passages, seed)
    corpus = [
        {"_id": f"doc{i:05d}", "title": t.name, "text": t.passage()}
        for i, t in enumerate(all_towns)
    ]
    picked = rng.sample(range(len(all_towns)), queries)
    qs, qrels = [], []
    for n, i in enumerate(picked):
        t = all_towns[i]
        text = rng.choice(
            (
                f"which town was founded by {t.founder}",
                f"town on the {t.river} river founded in {t.year}",
                f"where did the {t.profession} {t.founder} found a town",
                f"town in the {t.region} region known for {t.product}",
            )
        )
        qs.append({"_id": f"query{n:04d}", "text": text})
        qrels.append({"query-id": f"query{n:04d}", "corpus-id": f"doc{i:05d}", "score": 1})
    return corpus, qs, qrels


def tokenizer_corpus(seed: int = 3) -> list[str]:
    """Sentences to train the demo tokenizers on."""
    lines = [t.passage() for t in towns(400, seed)]
    lines += [i["question"] for i in qa_items(300)]
    lines += [
        "question: context: answer:",
        "The quick brown fox jumps over the lazy dog.",
        "Hello world! This is a tiny model for the hub-assets demo catalog.",
    ]
    return lines
