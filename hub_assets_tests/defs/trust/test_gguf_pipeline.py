"""GGUF and a PEFT adapter through the whole pipeline: discovered when configured, shadow-
evaluated and run from their verified bytes, fit estimated from the GGUF header, judged,
packaged with their files, served by the mirror and locked like any other model."""

import hashlib
import json
import zipfile
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import dagster as dg
import pytest
import yaml
from huggingface_hub import hf_hub_download

from hub_assets.defs.discovery.assets import model_metadata
from hub_assets.defs.evaluation.assets import eval_datasets, shadow_eval_scores
from hub_assets.defs.ingest.assets import ingested_package
from hub_assets.defs.trust.assets import quality_gate, trust_metrics
from hub_assets.defs.trust.security import security_scan
from hub_assets.devhub.demo_cases import LLAMA_BASE, LLAMA_LORA, LLAMA_MALFORMED, LLAMA_Q8
from hub_assets.mirror.lockfile import fetch_locked, make_lock
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.discover import candidate_filter_from, discover
from hub_assets.proof.verify import verify_package
from hub_assets.registry import hardware as reg_hardware
from hub_assets_tests.mirror.conftest import serving
from hub_assets_tests.pipeline_resource import pipeline_resources

GGUF_FILE = "tiny-llama-q8_0.gguf"


def _resources(url, registry, tmp_path, gate_config):
    return pipeline_resources(
        url, registry, tmp_path, gate_config=str(gate_config), eval_sample_limit=40
    )


def _gate_config(tmp_path: Path) -> Path:
    """The shipped gate config, with a reviewed override for the GGUF model (random weights
    cannot meet its card's claims; the card names no training data)."""
    shipped = Path(__file__).parents[3] / "hub_assets" / "gate" / "quality_gate.yaml"
    config = yaml.safe_load(shipped.read_text())
    config["overrides"] = {
        LLAMA_Q8: {
            "thresholds": {"performance_claims": 0.0, "dataset_quality": 0.0},
            "reviewer": "ada@example.com",
            "reason": "a demo quantisation, shipped for the hardware-fit tests",
        }
    }
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_gguf_and_an_adapter_go_through_the_whole_pipeline(
    hub_server, hub_client, registry, tmp_path
):
    configured = candidate_filter_from(
        libraries=("transformers", "sentence-transformers", "gguf", "peft"),
        weight_formats=("safetensors", "gguf"),
    )
    found = discover(hub_client, registry, run_id="d", candidate_filter=configured)
    assert {LLAMA_Q8, LLAMA_LORA, LLAMA_MALFORMED} <= set(found.candidates)
    listed = found.result.models[LLAMA_Q8].record
    assert candidate_filter_from().reasons(listed) == [  # the default stays as it was
        "library gguf not in transformers, sentence-transformers",
        "no safetensors weights",
    ]
    res = _resources(hub_server.url, registry, tmp_path, _gate_config(tmp_path))
    chain = [model_metadata, security_scan, shadow_eval_scores, trust_metrics, quality_gate]
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(
            "hf_models", [LLAMA_BASE, LLAMA_Q8, LLAMA_LORA, LLAMA_MALFORMED]
        )
        assert dg.materialize([eval_datasets], instance=instance, resources=res).success
        runs = {
            m: dg.materialize(
                chain, partition_key=m, instance=instance, resources=res, raise_on_error=False
            )
            for m in (LLAMA_BASE, LLAMA_Q8, LLAMA_LORA, LLAMA_MALFORMED)
        }
        q8 = runs[LLAMA_Q8]
        shadow = q8.asset_materializations_for_node("shadow_eval_scores")[0].metadata
        assert shadow["outcome"].value == "evaluated", shadow["outcome"].value
        assert shadow["backend"].value == "local" and "f1" in shadow
        trust = q8.asset_materializations_for_node("trust_metrics")[0].metadata
        assert trust["reproducibility"].value == 1.0 and trust["security"].value == 1.0
        assert "Q8_0" in trust["hardware_fit"].value and "llama.cpp" in trust["hardware_fit"].value
        gate = q8.asset_materializations_for_node("quality_gate")[0].metadata
        assert gate["passed"].value is True, gate["message"].value
        logs = [e.user_message for e in instance.all_logs(q8.run_id)]
        lines = [m for m in logs if m.startswith(f"download {LLAMA_Q8}@")]
        assert any(m.endswith(f"/{GGUF_FILE}: 76,864/76,864 bytes (100%)") for m in lines), lines

        lora = runs[LLAMA_LORA]
        assert (
            lora.asset_materializations_for_node("shadow_eval_scores")[0].metadata["outcome"].value
            == "evaluated"
        )  # run on its base
        assert (
            lora.asset_materializations_for_node("trust_metrics")[0]
            .metadata["reproducibility"]
            .value
            == 1.0
        )

        bad = runs[LLAMA_MALFORMED]
        metrics = bad.asset_materializations_for_node("trust_metrics")[0].metadata
        assert metrics["security"].value == 0.0 and metrics["reproducibility"].value == 0.0
        message = bad.asset_materializations_for_node("quality_gate")[0].metadata["message"].value
        assert f"{GGUF_FILE}: malformed GGUF header (claims 1,099,511,627,776 tensors" in message

        packaged = dg.materialize(
            [ingested_package], partition_key=LLAMA_Q8, instance=instance, resources=res
        )
        meta = packaged.asset_materializations_for_node("ingested_package")[0].metadata
        assert meta["outcome"].value == "ingested"
        assert meta["uri"].value.startswith("file:///")  # a URI, as the UI links it
        zip_path = url2pathname(urlparse(meta["uri"].value).path)

    with registry.read() as con:
        sha = con.execute("SELECT sha FROM models WHERE model_id = ?", [LLAMA_Q8]).fetchone()[0]
        fit = reg_hardware.revision_fit(con, LLAMA_Q8, sha)
        tree = con.execute(
            "SELECT details->>'$.reason' FROM metric_values WHERE model_id = ? "
            "AND metric = 'tree_score'",
            [LLAMA_Q8],
        ).fetchone()[0]
        claims = json.loads(
            con.execute(
                "SELECT details FROM metric_values WHERE model_id = ? AND metric = "
                "'performance_claims'",
                [LLAMA_LORA],
            ).fetchone()[0]
        )
    assert fit["gguf_file"] == GGUF_FILE and fit["quantization"] == "Q8_0"
    assert fit["parameters"] == 56_992 and fit["runtime"] == "llama.cpp"
    assert fit["peak_rss_bytes"] > 0 and abs(fit["estimate_error"]) <= 0.35
    assert tree == f"mean net score of {LLAMA_BASE} (quantized)"
    assert claims["eval_run_id"]  # the adapter's claims were judged on a measurement

    store = PackageStore(str(tmp_path / "packages"))
    verify_package(zip_path, store, allow_unsigned=True)  # raises on any failure
    with zipfile.ZipFile(zip_path) as z:
        assert (
            z.read(f"model/{GGUF_FILE}")
            == Path(hf_hub_download(LLAMA_Q8, GGUF_FILE, cache_dir=tmp_path / "up")).read_bytes()
        )
    upstream = Path(hf_hub_download(LLAMA_Q8, GGUF_FILE, cache_dir=tmp_path / "up"))
    with serving(registry, store) as mirror:
        lock = make_lock(registry, [LLAMA_Q8], require_promoted=False, store=store)
        files = {f["path"]: f for f in lock["models"][LLAMA_Q8]["files"]}
        assert files[GGUF_FILE]["sha256"] == hashlib.sha256(upstream.read_bytes()).hexdigest()
        got = fetch_locked(
            lock, tmp_path / "fetched", endpoint=mirror.url, token=None, echo=lambda _: None
        )
        fetched = next(p for p in got if p.name == GGUF_FILE)
        assert fetched.read_bytes() == upstream.read_bytes()
        via_hub = hf_hub_download(
            LLAMA_Q8, GGUF_FILE, endpoint=mirror.url, cache_dir=tmp_path / "mirror-cache"
        )
        assert Path(via_hub).read_bytes() == upstream.read_bytes()
