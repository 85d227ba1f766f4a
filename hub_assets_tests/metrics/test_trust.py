"""Each metadata metric on the demo catalog's cases: values in the expected range, reasons."""

from datetime import UTC, datetime

import pytest

from hub_assets.devhub.demo_catalog import MINILM, ORG
from hub_assets.hardware.fit import load_devices
from hub_assets.metrics import claims, trust
from hub_assets.metrics.evidence import ModelEvidence
from hub_assets.metrics.scoring import ScoringContext, footprint

NOW = datetime(2026, 11, 24, tzinfo=UTC)


@pytest.fixture
def evidence(hub_client):
    def get(model_id: str) -> ModelEvidence:
        return ModelEvidence.from_metadata(model_id, hub_client.model_metadata(model_id).data)

    return get


def test_license(evidence):
    assert trust.license_score(evidence(f"{ORG}/tiny-gpt2-complete")).value == 1.0
    gpl = trust.license_score(evidence(f"{ORG}/tiny-gpt2-gpl"))
    assert gpl.value == 0.0 and "strong copyleft" in gpl.reason
    none = trust.license_score(evidence(f"{ORG}/tiny-gpt2-no-license"))
    assert none.value == 0.0 and none.reason == "no license declared in the card or tags"
    assert trust.license_score(evidence(f"{ORG}/tiny-t5-qa")).reason == "mit: permissive"


@pytest.mark.parametrize(
    ("lic", "value"),
    [
        ("lgpl-3.0", 0.5),
        ("cc-by-nc-4.0", 0.0),
        ("creativeml-openrail-m", 1.0),
        ("agpl-3.0", 0.0),
        ("llama3", 0.5),
        ("BSD-3-Clause", 1.0),
        ("wtfpl-ish", 0.0),
    ],
)
def test_license_classes(lic, value):
    ev = ModelEvidence("a/b", {"sha": "0" * 40}, card_data={"license": lic})
    assert trust.license_score(ev).value == value


def test_size_score_is_the_fit_of_the_ram_estimate_per_device(hub_client, evidence, tmp_path):
    ctx = ScoringContext(client=hub_client, work_dir=tmp_path, now=NOW)
    devices = load_devices()
    big = trust.size_score(footprint(evidence(f"{ORG}/gpt2-oversized"), ctx), devices)
    # 600M float32 parameters: 2,289 MiB of weights + 10 % + 400 MiB runtime + KV cache
    assert 0.25 < big.value < 0.32 and "600.0M parameters" in big.reason
    per_device = big.details["per_device"]
    assert per_device["raspberry_pi"] == 0.0 and per_device["aws_server"] > 0.95
    assert big.details["estimate"]["runtime"] == "transformers"
    assert (
        trust.size_score(
            footprint(evidence(f"{ORG}/gpt2-oversized"), ctx), devices, "desktop_pc"
        ).value
        > 0.8
    )
    minilm = trust.size_score(footprint(evidence(MINILM), ctx), devices)
    assert (
        set(minilm.details["per_device"])
        == set(devices)
        == {"raspberry_pi", "jetson_nano", "desktop_pc", "aws_server"}
    )
    # 22.7M float32 parameters (86.6 MiB) + 400 MiB runtime: about half of 1 GiB
    assert 0.48 < minilm.details["per_device"]["raspberry_pi"] < 0.55
    with pytest.raises(ValueError, match="Unknown target device 'toaster'"):
        trust.size_score(footprint(evidence(MINILM), ctx), devices, "toaster")


def test_ramp_up_time(evidence):
    minilm = trust.ramp_up_time(evidence(MINILM))
    assert minilm.value == 1.0
    stale = trust.ramp_up_time(evidence(f"{ORG}/tiny-gpt2-stale"))
    assert stale.value < 0.3 and "usage_code" in stale.reason
    no_tok = trust.ramp_up_time(evidence(f"{ORG}/tiny-gpt2-no-tokenizer"))
    assert no_tok.value < 0.05 and "config_and_tokenizer" in no_tok.reason


def test_bus_factor(evidence):
    stale = trust.bus_factor(evidence(f"{ORG}/tiny-gpt2-stale"), NOW)
    assert stale.value == pytest.approx(0.7 / 3, abs=1e-4) and stale.reason.startswith(
        "1 author(s)"
    )
    active = trust.bus_factor(evidence(f"{ORG}/tiny-t5-active"), NOW)
    assert active.value == 1.0 and active.reason.startswith("7 author(s)")
    minilm = trust.bus_factor(evidence(MINILM), NOW)
    assert 0.8 < minilm.value < 0.9  # 3 authors, last commit March 2024


def test_performance_claims(evidence):
    assert claims.performance_claims(evidence(f"{ORG}/tiny-gpt2-complete")).value == 1.0
    minilm = claims.performance_claims(evidence(MINILM))
    assert minilm.value == 0.0 and minilm.reason == "the card claims no evaluation results"
    numbers = ModelEvidence(
        "a/b",
        {"sha": "0"},
        card_text=("# M\n\n## Evaluation\n\n| data | f1 |\n|---|---|\n| x | 81.2 |\n"),
    )
    assert claims.performance_claims(numbers).value == 0.7
    mention = ModelEvidence("a/b", {"sha": "0"}, card_text="We evaluated it carefully.")
    assert claims.performance_claims(mention).value == 0.3


def test_dataset_and_code_score(evidence):
    complete = trust.dataset_and_code_score(evidence(f"{ORG}/tiny-gpt2-complete"))
    assert complete.value == 0.8 and complete.reason == "missing: repo_code"
    bare = trust.dataset_and_code_score(evidence(f"{ORG}/tiny-gpt2-stale"))
    assert bare.value == 0.3


def test_dataset_quality(evidence, hub_client):
    ev = evidence(f"{ORG}/tiny-gpt2-complete")
    cards = {d: hub_client.dataset_summary(d).data for d in ev.declared_datasets()}
    assert all(c["license"] == "cc-by-4.0" and c["data_files"] > 0 for c in cards.values())
    assert trust.dataset_quality(ev, cards).value == 1.0
    minilm = evidence(MINILM)
    assert hub_client.dataset_summary("s2orc") is None
    unresolved = trust.dataset_quality(minilm, {d: None for d in minilm.declared_datasets()})
    assert unresolved.value == 0.7
    assert "0 of 21 dataset(s) on the Hub" in unresolved.reason
    assert "table of the datasets with sizes and references" in unresolved.reason
    named = ModelEvidence("a/b", {"sha": "0"}, card_data={"datasets": ["x/y"]})
    assert trust.dataset_quality(named, {"x/y": None}).value == 0.1
    assert trust.dataset_quality(ModelEvidence("a/b", {"sha": "0"}), {}).value == 0.0


def test_code_quality(evidence):
    minilm = trust.code_quality(evidence(MINILM))
    assert minilm.value == 0.75 and minilm.reason == "weak: named_code_present"
    assert minilm.details["snippet_loads_this_model"] == 1.0
    broken = ModelEvidence(
        "a/b",
        {"sha": "0"},
        card_text="```python\nimport (\n```\n",
        config={"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]},
    )
    result = trust.code_quality(broken)
    assert result.details["snippets_parse"] == 0.0 and result.value == pytest.approx(
        1 / 3, abs=1e-4
    )


def test_tree_and_net_score(evidence):
    ft = evidence(f"{ORG}/tiny-gpt2-finetuned")
    assert ft.base_models() == [f"{ORG}/tiny-gpt2-complete"]
    edges = [(p, r) for p, r, _ in ft.tree_edges()]
    assert edges == [(f"{ORG}/tiny-gpt2-complete", "finetune")]
    inherited = trust.tree_score(
        edges, {f"{ORG}/tiny-gpt2-complete": 0.9}, own_net_without_tree=0.4
    )
    assert inherited.value == 0.9
    assert inherited.reason == f"mean net score of {ORG}/tiny-gpt2-complete (finetune)"
    alone = trust.tree_score(edges, {}, own_net_without_tree=0.4)
    assert alone.value == 0.4 and "parents not scored" in alone.reason
    assert trust.tree_score([], {}, 0.3).reason == "no parent in the model tree; own net score"
    assert sum(trust.NET_WEIGHTS.values()) == pytest.approx(1.0)
    all_half = trust.net_score({m: 0.5 for m in trust.NET_WEIGHTS})
    assert all_half.value == 0.5
    with pytest.raises(ValueError, match="missing"):
        trust.net_score({"license": 1.0})
