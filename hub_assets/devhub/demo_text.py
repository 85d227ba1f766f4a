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

    def sentences(self, rng: random.Random, omit: frozenset[str] = frozenset()) -> str:
        """The facts in varied wording and order (the name first), leaving out `omit`."""
        first = rng.choice(
            (
                f"{self.name} is a town in the {self.region} region.",
                f"{self.name} lies in the {self.region} region.",
            )
        )
        facts = {
            "river": rng.choice(
                (
                    f"The town stands on the {self.river} river.",
                    f"The {self.river} river flows through the town.",
                    f"It was built on the banks of the {self.river} river.",
                )
            ),
            "year": rng.choice(
                (
                    f"It was founded in {self.year}.",
                    f"The first houses were built there in {self.year}.",
                    f"Records show the town was established in {self.year}.",
                )
            ),
            "founder": rng.choice(
                (
                    f"Its founder was {self.founder}, a {self.profession}.",
                    f"{self.founder}, a {self.profession}, founded the settlement.",
                    f"The settlement was started by {self.founder}, who worked as a "
                    f"{self.profession}.",
                )
            ),
            "product": rng.choice(
                (
                    f"The town is known for its {self.product}.",
                    f"Visitors come for its {self.product}.",
                    f"Local workshops make {self.product}.",
                )
            ),
            "feature": rng.choice(
                (f"It has {self.feature}.", f"At its centre there is {self.feature}.")
            ),
            "population": rng.choice(
                (
                    f"At the last census its population was {self.population}.",
                    f"About {self.population} people live there.",
                )
            ),
        }
        order = [k for k in facts if k not in omit]
        rng.shuffle(order)
        return " ".join([first, *(facts[k] for k in order)])


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


_QUESTIONS = {
    "year": (
        "When was {n} founded?",
        "In what year was {n} established?",
        "What year did {n} begin?",
    ),
    "founder": ("Who founded {n}?", "Who established {n}?", "Which person started {n}?"),
    "river": ("On which river is {n}?", "What river flows through {n}?", "Which river is {n} on?"),
    "product": ("What is {n} known for?", "What is {n} famous for?", "What do people in {n} make?"),
    "feature": ("What landmark does {n} have?", "What is at the centre of {n}?"),
    "population": (
        "What was the population of {n} at the last census?",
        "How many people live in {n}?",
    ),
    "profession": (
        "What was the trade of the founder of {n}?",
        "What job did the founder of {n} do?",
    ),
}
_NEVER_STATED = (
    "Who is the mayor of {n}?",
    "When did {n} get its railway station?",
    "Which football club plays in {n}?",
    "What is the name of the airport near {n}?",
    "How tall is the highest building in {n}?",
)


def _answer(town: Town, fact: str) -> str:
    return {
        "year": str(town.year),
        "founder": town.founder,
        "river": town.river,
        "product": town.product,
        "feature": town.feature,
        "population": str(town.population),
        "profession": town.profession,
    }[fact]


def qa_items(
    count: int, seed: int = 7, *, split: str = "validation", avoid: frozenset[str] = frozenset()
) -> list[dict]:
    """SQuAD-v2-shaped items: id, title, context, question, answers{text, answer_start}.

    Contexts vary in wording and order. About one question in four has no answer in its
    context (empty answers, as in SQuAD v2): either a fact no passage states, or a fact
    this passage leaves out. `split` names the ids; towns named in `avoid` (another split's)
    are skipped, so no town appears in two splits.
    """
    rng = random.Random(seed)
    items: list[dict] = []
    for town in towns(count // 3 + 1 + len(avoid), seed):
        if town.name in avoid:
            continue
        omitted = frozenset(
            rng.sample(("year", "river", "product", "population"), rng.choice((0, 1)))
        )
        ctx = town.sentences(rng, omitted)
        stated = [
            f
            for f in _QUESTIONS
            if f not in omitted and (f != "profession" or "founder" not in omitted)
        ]
        picked: list[tuple[str, str | None]] = [
            (rng.choice(_QUESTIONS[f]).format(n=town.name), _answer(town, f))
            for f in rng.sample(stated, 3)
        ]
        if rng.random() < 0.75:
            if omitted:
                gone = next(iter(omitted))
                question = rng.choice(_QUESTIONS[gone]).format(n=town.name)
            else:
                question = rng.choice(_NEVER_STATED).format(n=town.name)
            picked[rng.randrange(3)] = (question, None)
        for question, answer in picked:
            if len(items) >= count:
                break
            if answer is None:
                answers = {"text": [], "answer_start": []}
            else:
                answers = {"text": [answer], "answer_start": [ctx.index(answer)]}
            items.append(
                {
                    "id": f"{split[:5]}-{len(items):05d}",
                    "title": town.name,
                    "context": ctx,
                    "question": question,
                    "answers": answers,
                }
            )
    return items


def retrieval_set(test_queries: int = 200, seed: int = 11) -> tuple[list, list, dict]:
    """A BEIR-shaped set over everyday topics: corpus, queries and qrels by split.

    Each topic has two hand-written passages, each with a paraphrased query (relevance 2),
    the other passage of its topic counting as related (relevance 1), and six background
    passages on the topic that answer nothing. The queries are split once, by a seeded
    shuffle: `test_queries` of them are the held-out `test` split, the rest `dev`.
    """
    from hub_assets.devhub.demo_everyday import everyday_text

    topics, background = everyday_text()

    rng = random.Random(seed)
    corpus, queries, judged = [], [], []
    for ti, (topic, facts) in enumerate(topics):
        ids = [f"doc-{ti:03d}-{k}" for k in range(len(facts))]
        for doc_id, (passage, _) in zip(ids, facts, strict=True):
            corpus.append({"_id": doc_id, "title": topic, "text": passage})
        for k, template in enumerate(rng.sample(background, 6)):
            corpus.append(
                {"_id": f"doc-{ti:03d}-b{k}", "title": topic, "text": template.format(t=topic)}
            )
        for k, (_, query) in enumerate(facts):
            qid = f"query-{ti:03d}-{k}"
            queries.append({"_id": qid, "text": query})
            judged.append(
                [{"query-id": qid, "corpus-id": ids[k], "score": 2}]
                + [{"query-id": qid, "corpus-id": d, "score": 1} for d in ids if d != ids[k]]
            )
    order = list(range(len(queries)))
    rng.shuffle(order)
    test = sorted(order[:test_queries])
    dev = sorted(order[test_queries:])
    rng.shuffle(corpus)
    qrels = {
        "test": [row for i in test for row in judged[i]],
        "dev": [row for i in dev for row in judged[i]],
    }
    return corpus, queries, qrels


def tokenizer_corpus(seed: int = 3) -> list[str]:
    """Sentences to train the demo tokenizers on."""
    rng = random.Random(seed)
    lines = [t.passage() for t in towns(400, seed)]
    lines += [t.sentences(rng) for t in towns(200, seed + 1)]
    lines += [i["question"] for i in qa_items(300)]
    lines += [
        "question: context: answer:",
        "The quick brown fox jumps over the lazy dog.",
        "Hello world! This is a tiny model for the hub-assets demo catalog.",
    ]
    return lines


def held_out_qa(count: int = 200) -> list[dict]:
    """The held-out QA set: the same kind of questions on towns neither split of
    `qa_splits` uses, published as a dataset of its own that no demo model trains on."""
    splits = qa_splits()
    used = frozenset(i["title"] for items in splits.values() for i in items)
    return qa_items(count, 23, split="heldout", avoid=used)


def qa_splits(train: int = 3000, validation: int = 300) -> dict[str, list[dict]]:
    """The QA set's two splits, on disjoint towns: `train` for the demo QA model, `validation`
    for shadow evaluation."""
    held_out = qa_items(validation, 7, split="validation")
    names = frozenset(i["title"] for i in held_out)
    return {"train": qa_items(train, 101, split="train", avoid=names), "validation": held_out}
