"""What the trust metrics read: a model's stored Hub metadata, with helpers over its card.

`ModelEvidence` is built from a `model_revisions` row (or a fresh `HubClient.model_metadata`
payload): info with file metadata, card YAML and text, commits, config.json.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub_assets.hub.inspection import is_pickle_name

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.S)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".msgpack",
    ".onnx",
    ".gguf",
)
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "merges.txt",
)


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block of the card."""

    language: str
    code: str

    @property
    def is_python(self) -> bool:
        if self.language.lower() in ("python", "py", "python3"):
            return True
        return not self.language and ("import " in self.code or "from_pretrained" in self.code)

    def parses(self) -> bool:
        try:
            ast.parse(self.code)
            return True
        except SyntaxError:
            return False


@dataclass
class ModelEvidence:
    """A model at one revision, as the Hub describes it."""

    model_id: str
    info: dict
    card_data: dict = field(default_factory=dict)
    card_text: str = ""
    commits: list[dict] = field(default_factory=list)
    config: dict | None = None

    @classmethod
    def from_metadata(cls, model_id: str, metadata: dict) -> ModelEvidence:
        """From a `HubClient.model_metadata(...).data` payload or a `model_revisions` row."""
        return cls(
            model_id=model_id,
            info=metadata["info"],
            card_data=metadata.get("card_data") or {},
            card_text=metadata.get("card_text") or "",
            commits=metadata.get("commits") or [],
            config=metadata.get("config"),
        )

    @property
    def sha(self) -> str:
        return self.info["sha"]

    @property
    def files(self) -> dict[str, dict]:
        """Path → {size, blob_id, lfs_sha256}."""
        return {s["path"]: s for s in self.info.get("siblings") or []}

    @property
    def license(self) -> str | None:
        lic = self.card_data.get("license") or self.info.get("license")
        return str(lic).strip().lower() if lic else None

    def weight_files(self) -> dict[str, int]:
        """The weight files a loader would use: safetensors if any, else the other formats."""
        weights = {
            p: f.get("size") or 0 for p, f in self.files.items() if p.endswith(WEIGHT_SUFFIXES)
        }
        safetensors = {p: s for p, s in weights.items() if p.endswith(".safetensors")}
        return safetensors or weights

    def runnable_gguf(self) -> str | None:
        """The GGUF file a run loads when the repo has no safetensors: the smallest (the
        variant most likely to fit; the footprint describes the same one)."""
        if any(p.endswith(".safetensors") for p in self.files):
            return None
        ggufs = {p: f.get("size") or 0 for p, f in self.files.items() if p.endswith(".gguf")}
        return min(ggufs, key=lambda p: (ggufs[p], p)) if ggufs else None

    def adapter_base(self) -> str | None:
        """The base model a PEFT adapter repo loads onto (its tree edge), else None."""
        if "adapter_config.json" not in self.files:
            return None
        return next((p for p, rel, _ in self.tree_edges() if rel == "adapter"), None)

    def pickle_files(self) -> list[str]:
        """Files whose name says pickle, in any case (content is checked in the scan)."""
        return sorted(p for p in self.files if is_pickle_name(p))

    def has_tokenizer(self) -> bool:
        names = {p.rsplit("/", 1)[-1] for p in self.files}
        return any(t in names for t in TOKENIZER_FILES)

    def code_blocks(self) -> list[CodeBlock]:
        return [CodeBlock(m.group(1), m.group(2)) for m in _FENCE.finditer(self.card_text)]

    def python_blocks(self) -> list[CodeBlock]:
        return [b for b in self.code_blocks() if b.is_python]

    def _heading_matches(self) -> list[re.Match]:
        fences = [m.span() for m in _FENCE.finditer(self.card_text)]
        return [
            m
            for m in _HEADING.finditer(self.card_text)
            if not any(a <= m.start() < b for a, b in fences)
        ]

    def headings(self) -> list[str]:
        """Markdown headings of the card (lower case), ignoring `#` lines inside code."""
        return [m.group(2).strip().lower() for m in self._heading_matches()]

    def section(self, *words: str) -> str:
        """Text of the first section whose heading contains one of `words` (lower case)."""
        matches = self._heading_matches()
        for i, m in enumerate(matches):
            title = m.group(2).lower()
            if any(w in title for w in words):
                end = matches[i + 1].start() if i + 1 < len(matches) else len(self.card_text)
                return self.card_text[m.end() : end].strip()
        return ""

    def prose_length(self) -> int:
        """Characters of card text outside code blocks and HTML comments."""
        text = _FENCE.sub("", self.card_text)
        text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
        return len(text.strip())

    def declared_datasets(self) -> list[str]:
        ds = self.card_data.get("datasets") or []
        return [str(d) for d in (ds if isinstance(ds, list) else [ds])]

    def base_models(self) -> list[str]:
        """Lineage parents: card `base_model`, else a config `_name_or_path` that is a repo id."""
        bm = self.card_data.get("base_model") or []
        parents = [str(b) for b in (bm if isinstance(bm, list) else [bm])]
        if not parents and self.config:
            nop = self.config.get("_name_or_path")
            if isinstance(nop, str) and re.fullmatch(r"[\w.-]+/[\w.-]+", nop):
                parents = [nop]
        return [p for p in parents if p != self.model_id]

    def tree_edges(self) -> list[tuple[str, str, str]]:
        """(parent, relation, evidence) per base model: the card's `base_model_relation`
        when declared, else inferred from the files (an adapter config, GGUF weights,
        several bases: a merge), else a fine-tune."""
        parents = self.base_models()
        declared = self.card_data.get("base_model_relation")
        edges = []
        for parent in parents:
            if declared in TREE_RELATIONS:
                edges.append((parent, declared, "card base_model_relation"))
            elif "adapter_config.json" in self.files:
                edges.append((parent, "adapter", "adapter_config.json in the repo"))
            elif any(p.endswith(".gguf") for p in self.files):
                edges.append((parent, "quantized", "GGUF weights in the repo"))
            elif len(parents) > 1:
                edges.append((parent, "merge", f"{len(parents)} base models in the card"))
            elif self.card_data.get("base_model"):
                edges.append((parent, "finetune", "card base_model"))
            else:
                edges.append((parent, "finetune", "config _name_or_path"))
        return edges

    def commit_dates(self) -> list[datetime]:
        out = []
        for c in self.commits:
            if c.get("date"):
                out.append(datetime.fromisoformat(c["date"].replace("Z", "+00:00")))
        return out

    def authors(self) -> set[str]:
        return {a for c in self.commits for a in c.get("authors") or []}


TREE_RELATIONS = ("adapter", "finetune", "quantized", "merge")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StoredMetric:
    """A metric value as the registry holds it."""

    metric: str
    value: float
    latency_ms: float
    inputs_fingerprint: str
    code_version: str
    run_id: str
    details: dict | None
    basis: dict | None = None  # what it rests on (hub_assets.comparability)
