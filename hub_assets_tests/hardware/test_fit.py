"""The RAM estimate and device fit: the formula, the device profiles, footprints read from
the Hub's headers (sharded safetensors, GGUF, adapters), and the estimate against what the
reproducibility run measured on the demo models."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import torch
from huggingface_hub import hf_hub_download
from safetensors import safe_open
from transformers import GPT2Config, GPT2LMHeadModel

from hub_assets.devhub.demo_cases import (
    LLAMA_BASE,
    LLAMA_LORA,
    LLAMA_MALFORMED,
    LLAMA_Q8,
    MINILM,
    ORG,
    QA_MODEL,
)
from hub_assets.errors import DeviceConfigError, GateConfigError
from hub_assets.gate.config import load_gate_config
from hub_assets.hardware.fit import (
    ESTIMATE_TOLERANCE,
    device_fit,
    estimate_ram,
    fit_record,
    load_devices,
)
from hub_assets.hardware.footprint import Architecture, Footprint
from hub_assets.hub.gguf_header import read_local_gguf_header
from hub_assets.metrics import trust
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.reproducibility import reproducibility
from hub_assets.metrics.scoring import ScoringContext, footprint, judge_security
from hub_assets.pipeline.context import Pipeline
from hub_assets.settings import load_settings
from hub_assets_tests.setting_defaults import LIMITS

NOW = datetime(2026, 11, 24, tzinfo=UTC)
MIB = 1024**2


def _fp(**kw) -> Footprint:
    arch = Architecture(
        layers=4,
        hidden_size=256,
        heads=8,
        kv_heads=2,
        head_dim=32,
        context_length=2048,
        decoder=True,
    )
    base = dict(
        source="test",
        weight_files=("w",),
        parameters=1_000_000,
        parameters_by_dtype={"F16": 1_000_000},
        stored_bytes=2_000_000,
        quantization="F16",
        architecture=arch,
    )
    return Footprint(**{**base, **kw})


def test_estimate_is_weights_plus_kv_cache_plus_overhead():
    est = estimate_ram(_fp(), 1024, "transformers")
    assert est.weights_bytes == 2_000_000  # stored F16, kept as stored
    assert est.kv_cache_bytes == 2 * 4 * 2 * 32 * 1024 * 2  # K and V, layers, KV heads, dim
    assert est.overhead_bytes == 400 * MIB + 200_000
    assert est.total_bytes == est.weights_bytes + est.kv_cache_bytes + est.overhead_bytes
    gguf = _fp(gguf_file="m.gguf", quantization="Q8_0", stored_bytes=1_062_500)
    on_llama_cpp = estimate_ram(gguf, 1024)
    assert on_llama_cpp.runtime == "llama.cpp" and on_llama_cpp.weights_bytes == 1_062_500
    assert on_llama_cpp.kv_cache_bytes == 2 * 4 * 2 * 32 * 1024 * 2  # f16 cache
    on_transformers = estimate_ram(gguf, 1024, "transformers")
    assert on_transformers.weights_bytes == 4_000_000  # dequantised to float32
    assert "GGUF tensors dequantised to float32" in on_transformers.assumptions
    encoder = _fp(architecture=Architecture(layers=4, kv_heads=2, head_dim=32))
    assert estimate_ram(encoder, 4096).kv_cache_bytes == 0
    long = estimate_ram(_fp(), 8192)
    assert "context 8192 exceeds the model's 2048 tokens" in long.assumptions


def test_device_profiles_default_and_replaced(tmp_path, monkeypatch):
    devices = load_devices()
    assert {d: p.ram_gb for d, p in devices.items()} == {
        "raspberry_pi": 1,
        "jetson_nano": 4,
        "desktop_pc": 16,
        "aws_server": 64,
    }
    assert devices["jetson_nano"].accelerators() == ["cuda"]
    mine = tmp_path / "devices.yaml"
    mine.write_text("devices:\n  m2_air: {ram_gb: 8, metal: true, neural_engine: true}\n")
    monkeypatch.setenv("HUB_ASSETS_DEVICES", str(mine))
    [m2] = Pipeline.from_settings(load_settings()).devices().values()
    assert m2.accelerators() == ["metal", "neural_engine"] and m2.ram_bytes == 8 * 1024**3
    est = estimate_ram(_fp(), 1024)
    assert device_fit(est, m2) == round(1 - est.total_bytes / (8 * 1024**3), 4)
    gate = tmp_path / "gate.yaml"
    gate.write_text('version: "1"\ntarget_device: m2_air\n')
    monkeypatch.setenv("HUB_ASSETS_GATE_CONFIG", str(gate))
    mine_gate = Pipeline.from_settings(load_settings()).gate_config()
    assert mine_gate.target_device == "m2_air"
    with pytest.raises(GateConfigError, match="not one of the device profiles"):
        load_gate_config(gate)  # the built-in profiles have no m2_air
    for text, words in (
        ("devices: {pi: {ram: 1}}", "'pi' needs a numeric ram_gb"),
        ("devices: {pi: {ram_gb: 1, tpu: true}}", "'pi' has unknown keys ['tpu']"),
        ("devices: []", "expected a 'devices:' mapping"),
        ("devices: {pi: {ram_gb: 0}}", "'pi' has ram_gb ≤ 0"),
        (": [", "not valid YAML"),
    ):
        mine.write_text(text)
        with pytest.raises(DeviceConfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load_devices(mine)


def _ev(client, model_id):
    return ModelEvidence.from_metadata(model_id, client.model_metadata(model_id).data)


def test_parameter_counts_match_the_safetensors_and_gguf_files(hub_client, tmp_path):
    ctx = ScoringContext(client=hub_client, work_dir=tmp_path, now=NOW)
    minilm = footprint(_ev(hub_client, MINILM), ctx)
    path = hf_hub_download(MINILM, "model.safetensors", cache_dir=tmp_path / "dl")
    with safe_open(path, "pt") as f:
        counted = sum(f.get_tensor(k).numel() for k in f.keys())  # noqa: SIM118
    assert minilm.source == "safetensors headers" and minilm.parameters == counted == 22_713_728
    # position_ids is an int64 buffer of 512 entries
    assert minilm.parameters_by_dtype == {"F32": counted - 512, "I64": 512}
    assert minilm.stored_bytes == 4 * (counted - 512) + 8 * 512
    assert minilm.architecture.layers == 6 and not minilm.architecture.decoder
    q8 = footprint(_ev(hub_client, LLAMA_Q8), ctx)
    local = hf_hub_download(LLAMA_Q8, "tiny-llama-q8_0.gguf", cache_dir=tmp_path / "dl")
    header = read_local_gguf_header(Path(local))
    assert q8.source == "gguf header" and q8.gguf_file == "tiny-llama-q8_0.gguf"
    assert q8.parameters == header.parameters and q8.stored_bytes == header.tensor_bytes
    assert q8.quantization == "Q8_0" and q8.architecture.kv_heads == 2
    lora = footprint(_ev(hub_client, LLAMA_LORA), ctx)
    base = footprint(_ev(hub_client, LLAMA_BASE), ctx)
    assert lora.source == (f"safetensors headers + base {LLAMA_BASE} (safetensors headers)")
    assert base.parameters < lora.parameters < base.parameters + 2_000  # rank-4 q/v LoRA
    bad = footprint(_ev(hub_client, LLAMA_MALFORMED), ctx)
    assert bad.source == "file sizes" and bad.parameters is None
    assert "claims 1,099,511,627,776 tensors" in bad.finding


def test_sharded_safetensors_are_counted_across_shards(mutable_hub, tmp_path):
    from hub_assets.hub.client import HubClient, HubSettings

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_embd=64, n_layer=2, n_head=2, vocab_size=500))
    folder = tmp_path / "sharded"
    model.save_pretrained(folder, max_shard_size="100KB")
    shards = sorted(p.name for p in folder.glob("*.safetensors"))
    assert len(shards) > 2 and (folder / "model.safetensors.index.json").exists()
    mutable_hub.catalog.commit(
        "model",
        "acme/sharded",
        {p.name: p for p in folder.iterdir()},
        authors=["alice"],
        title="sharded",
        date="2026-02-01T00:00:00Z",
    )
    client = HubClient(
        HubSettings(endpoint=mutable_hub.url, cache_dir=tmp_path / "c", requests_per_second=0)
    )
    fp = footprint(_ev(client, "acme/sharded"), ScoringContext(client, tmp_path, NOW))
    stored = sum(
        p.numel()
        for p in model.state_dict().values()
        if p.data_ptr() != model.transformer.wte.weight.data_ptr()
    )
    assert fp.weight_files == tuple(shards)
    assert fp.parameters == stored + model.transformer.wte.weight.numel()
    assert fp.architecture.layers == 2 and fp.architecture.decoder


@pytest.mark.parametrize("model_id", [f"{ORG}/tiny-llama", LLAMA_Q8, LLAMA_LORA, MINILM, QA_MODEL])
def test_the_estimate_lands_within_tolerance_of_the_measurement(hub_client, tmp_path, model_id):
    ctx = ScoringContext(client=hub_client, work_dir=tmp_path, now=NOW)
    ev = _ev(hub_client, model_id)
    size = trust.size_score(footprint(ev, ctx), ctx.devices, "jetson_nano", 4096)
    assert judge_security(ev, ctx).value > 0  # the verdict first: it marks the snapshot
    run = reproducibility(hub_client, ev, ctx.store(), LIMITS)
    assert run.value == 1.0, run.reason
    measured = run.details["measurement"]
    assert measured["load_s"] > 0 and measured["first_output_s"] > 0
    assert measured["peak_rss_bytes"] > measured["baseline_rss_bytes"] > 100 * MIB
    row = fit_record(size.details, measured)
    assert row["measured_runtime"] == "transformers" and row["peak_rss_bytes"] > 0
    assert abs(row["estimate_error"]) <= ESTIMATE_TOLERANCE, row
    assert row["fit_per_device"] == size.details["per_device"]
