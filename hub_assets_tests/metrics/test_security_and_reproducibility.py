"""Security (pickles scanned, never loaded), reproducibility (really runs), no rescoring."""

import io
import struct
import zipfile
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from hub_assets.devhub.demo_catalog import MINILM, ORG
from hub_assets.hub.client import HubClient, HubSettings
from hub_assets.metrics.evidence import ModelEvidence, StoredMetric
from hub_assets.metrics.reproducibility import reproducibility
from hub_assets.metrics.scoring import ALL_METRICS, ScoringContext, score_model
from hub_assets.metrics.security import DEFAULT_SCANNER_ALLOWLIST, security_verdict
from hub_assets.metrics.security_judgment import judge_security, scan_repo
from hub_assets_tests.setting_defaults import LIMITS

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def security_score(scan, allowlist=DEFAULT_SCANNER_ALLOWLIST):
    return security_verdict(
        scan.verdicts, allowlist, scan.remote_code, scan.secrets, scan.formats, scan.templates
    )


def judged(client: HubClient, ev: ModelEvidence, work_dir):
    """The security verdict first (it marks the snapshot every loader requires); the
    snapshot store the loaders then read, at `work_dir/snapshots`."""
    verdict = judge_security(
        ev, ScoringContext(limits=LIMITS, client=client, work_dir=work_dir, now=NOW)
    )
    assert verdict.value > 0, verdict.reason
    return work_dir / "snapshots"


def evidence(client: HubClient, model_id: str) -> ModelEvidence:
    return ModelEvidence.from_metadata(model_id, client.model_metadata(model_id).data)


def trap_pickle(marker: str) -> bytes:
    """A torch-style zip whose pickle would run `touch marker` if anything unpickled it."""
    cmd = f"touch {marker}".encode()
    data = b"\x80\x02cposix\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd + b"\x85R."
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", data)
    return buf.getvalue()


def test_malicious_pickle_is_caught_and_never_loaded(mutable_hub, tmp_path):
    marker = tmp_path / "pwned"
    mutable_hub.catalog.commit(
        "model",
        "acme/trap",
        {
            "README.md": b"---\nlicense: mit\n---\n# trap\n",
            "config.json": b'{"model_type": "gpt2"}',
            "pytorch_model.bin": trap_pickle(str(marker)),
        },
        authors=["eve"],
        title="trap",
    )
    client = HubClient(
        HubSettings(requests_per_second=0, endpoint=mutable_hub.url, cache_dir=tmp_path / "c")
    )
    ev = evidence(client, "acme/trap")
    result = security_score(scan_repo(client, ev, tmp_path / "w"))
    assert result.value == 0.0
    assert result.reason == (
        "pytorch_model.bin:archive/data.pkl: dangerous (picklescan: posix.system); "
        "pytorch_model.bin:archive/data.pkl: dangerous (fickling: Likely Overtly Malicious); "
        "pytorch_model.bin:archive/data.pkl: dangerous (modelscan: posix.system)"
    )
    scored = score_model(
        ev, ScoringContext(limits=LIMITS, client=client, work_dir=tmp_path / "w", now=NOW)
    )
    assert scored["reproducibility"].value == 0.0
    assert scored["reproducibility"].reason.startswith("not run: the security verdict failed")
    assert not marker.exists()  # nothing was ever unpickled


def test_security_on_demo_cases(hub_client, tmp_path):
    bad = evidence(hub_client, f"{ORG}/tiny-gpt2-malicious-pickle")
    assert security_score(scan_repo(hub_client, bad, tmp_path)).value == 0.0
    safe_pickle = evidence(hub_client, f"{ORG}/tiny-gpt2-pickle-only")
    result = security_score(scan_repo(hub_client, safe_pickle, tmp_path))
    assert result.value == 0.75 and "imports are on the allowlist" in result.reason
    # fickling calls an ordinary torch checkpoint "likely unsafe": without the vetted
    # imports, that fails closed
    strict = security_score(scan_repo(hub_client, safe_pickle, tmp_path), allowlist=())
    assert strict.value == 0.0 and "torch._utils._rebuild_tensor_v2" in strict.reason
    assert (
        security_score(scan_repo(hub_client, evidence(hub_client, MINILM), tmp_path)).value == 1.0
    )


@pytest.mark.slow
def test_reproducibility_runs_the_model(hub_client, tmp_path):
    def run(model_id):
        ev = evidence(hub_client, model_id)
        return reproducibility(hub_client, ev, judged(hub_client, ev, tmp_path), LIMITS)

    ok = run(f"{ORG}/tiny-gpt2-complete")
    assert ok.value == 1.0 and ok.reason == "text-generation runs as documented"
    emb = run(MINILM)
    assert emb.value == 1.0 and emb.details["output"] == "embedding dim 384"
    fallback = run(f"{ORG}/tiny-gpt2-no-tokenizer")
    assert fallback.value == 0.5 and "no usable tokenizer" in fallback.reason


def test_reproducibility_runs_from_a_relative_work_folder(hub_client, tmp_path, monkeypatch):
    """The default work folder is relative (data/work); the child runs in a scratch folder
    of its own, so it must be handed absolute paths."""
    from pathlib import Path

    monkeypatch.chdir(tmp_path)
    ev = evidence(hub_client, MINILM)
    store = judged(hub_client, ev, Path("data/work"))
    assert not store.is_absolute()
    run = reproducibility(hub_client, ev, store, LIMITS)
    assert run.value == 1.0, run.reason


def test_reproducibility_zero_cases(hub_client, tmp_path):
    def run(model_id, **limits):
        ev = evidence(hub_client, model_id)
        store = judged(hub_client, ev, tmp_path) if limits else tmp_path / "snapshots"
        return reproducibility(hub_client, ev, store, replace(LIMITS, **limits))

    assert run(f"{ORG}/tiny-gpt2-pickle-only").reason.startswith("no safetensors or GGUF weights")
    big = run(f"{ORG}/gpt2-oversized")
    assert big.value == 0.0 and "exceed the 1.0 GB reproducibility limit" in big.reason
    gated = run(f"{ORG}/tiny-gpt2-gated")
    assert gated.value == 0.0 and gated.reason.startswith("gated repo")
    slow = run(f"{ORG}/tiny-gpt2-complete", timeout_s=0.05)
    assert slow.value == 0.0 and slow.reason == "did not finish within 0 s"


def test_a_model_that_cannot_load_scores_zero(mutable_hub, tmp_path):
    mutable_hub.catalog.commit(
        "model",
        "acme/broken",
        {
            "README.md": b"---\nlicense: mit\npipeline_tag: text-generation\n---\n# broken\n",
            "config.json": b'{"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}',
            "model.safetensors": b"this is not a safetensors file",
        },
        authors=["bob"],
        title="broken",
        meta={"pipeline_tag": "text-generation"},
    )
    client = HubClient(
        HubSettings(requests_per_second=0, endpoint=mutable_hub.url, cache_dir=tmp_path / "c")
    )
    ev = evidence(client, "acme/broken")
    scored = score_model(
        ev, ScoringContext(limits=LIMITS, client=client, work_dir=tmp_path, now=NOW)
    )
    # the security scan reads the header first: malformed weights are never handed to a loader
    assert scored["security"].value == 0.0
    assert scored["security"].reason.startswith("malformed weights: model.safetensors: malformed")
    assert scored["reproducibility"].reason.startswith("not run: the security verdict failed")
    # and a loader asked anyway refuses bytes without a passing verdict
    result = reproducibility(client, ev, tmp_path / "snapshots", LIMITS)
    assert result.value == 0.0 and result.reason.startswith("not run: Refusing to load")


def test_unchanged_inputs_are_not_rescored(hub_client, hub_server, tmp_path):
    ev = evidence(hub_client, f"{ORG}/tiny-gpt2-complete")
    ctx = ScoringContext(limits=LIMITS, client=hub_client, work_dir=tmp_path, now=NOW)
    first = score_model(ev, ctx)
    assert set(first) == set(ALL_METRICS) and not any(s.reused for s in first.values())
    stored = {
        m: StoredMetric(
            m, s.value, s.latency_ms, s.inputs_fingerprint, s.code_version, "r1", s.row()["details"]
        )
        for m, s in first.items()
    }
    hub_server.reset_requests()
    again = score_model(
        ev,
        ScoringContext(
            limits=LIMITS, client=hub_client, work_dir=tmp_path, now=NOW, previous=stored
        ),
    )
    assert all(s.reused for s in again.values())
    assert again["reproducibility"].latency_ms == first["reproducibility"].latency_ms
    assert hub_server.requests["total"] == 0  # no download, no run
    later = score_model(
        ev,
        ScoringContext(
            limits=LIMITS,
            client=hub_client,
            work_dir=tmp_path,
            now=datetime(2027, 6, 1, tzinfo=UTC),
            previous=stored,
        ),
    )
    assert not later["bus_factor"].reused  # its inputs include the date it is judged at
    assert later["reproducibility"].reused


@pytest.mark.parametrize("device", ["raspberry_pi", "desktop_pc"])
def test_target_device_drives_size_score(hub_client, tmp_path, device):
    ev = evidence(hub_client, f"{ORG}/gpt2-oversized")
    scored = score_model(
        ev,
        ScoringContext(
            limits=LIMITS, client=hub_client, work_dir=tmp_path, now=NOW, target_device=device
        ),
    )
    assert scored["size_score"].value == scored["size_score"].details["per_device"][device]


def test_a_pickle_one_scanner_misses_fails_closed(hub_client, tmp_path):
    bypass = evidence(hub_client, f"{ORG}/tiny-gpt2-scanner-bypass")
    found = scan_repo(hub_client, bypass, tmp_path)
    by_scanner = {v.scanner: v for v in found.verdicts if v.path.startswith("training_args.bin")}
    assert by_scanner["picklescan"].verdict == "suspicious"  # picklescan alone misses it
    assert by_scanner["fickling"].verdict == "dangerous"
    result = security_score(found)
    assert result.value == 0.0
    assert "dangerous (fickling: Likely Overtly Malicious)" in result.reason
    assert {v["scanner"] for v in result.details["verdicts"]} == {
        "picklescan",
        "fickling",
        "modelscan",
    }


def test_auto_map_code_is_a_finding_with_the_file_names(hub_client, tmp_path):
    ev = evidence(hub_client, f"{ORG}/tiny-gpt2-remote-code")
    scored = score_model(
        ev,
        ScoringContext(
            limits=LIMITS, client=hub_client, work_dir=tmp_path, now=NOW, run_reproducibility=False
        ),
    )
    security = scored["security"]
    assert security.value == 0.0
    assert security.reason == (
        "repo code that trust_remote_code would run: config.json: modeling_tiny.py"
    )


def test_policy_branches():
    from hub_assets.metrics.scanners import Verdict

    torch_imports = ["collections.OrderedDict", "torch._utils._rebuild_tensor_v2"]
    vetted = security_verdict(
        [
            Verdict("picklescan", "a.bin", "safe", torch_imports),
            Verdict("fickling", "a.bin", "suspicious", torch_imports, "Likely Unsafe"),
        ],
        DEFAULT_SCANNER_ALLOWLIST,
    )
    assert vetted.value == 0.75
    unvetted = security_verdict(
        [Verdict("fickling", "a.bin", "suspicious", [*torch_imports, "mylib.Thing"])],
        DEFAULT_SCANNER_ALLOWLIST,
    )
    assert unvetted.value == 0.0 and "not on the allowlist: mylib.Thing" in unvetted.reason
    unreadable = security_verdict(
        [Verdict("picklescan", "b.pkl", "suspicious", [], "no imports found")],
        DEFAULT_SCANNER_ALLOWLIST,
    )
    assert unreadable.value == 0.0 and "(no imports)" in unreadable.reason  # inconclusive
    crashed = security_verdict(
        [Verdict("fickling", "c.pt", "error", [], "ValueError: truncated")],
        DEFAULT_SCANNER_ALLOWLIST,
    )
    assert (
        crashed.value == 0.0
        and crashed.reason == "c.pt: fickling could not read it (ValueError: truncated)"
    )
    assert security_verdict([], DEFAULT_SCANNER_ALLOWLIST).value == 1.0


def test_a_scanner_that_crashes_is_a_failing_verdict(tmp_path):
    from hub_assets.metrics.scanners import scan_pickle_file

    folder = tmp_path / "not-a-file.bin"
    folder.mkdir()  # both scanners fail to read a directory
    verdicts = scan_pickle_file(folder, "not-a-file.bin")
    assert {v.verdict for v in verdicts} <= {"error", "suspicious"}
    assert security_verdict(verdicts, DEFAULT_SCANNER_ALLOWLIST).value == 0.0


def test_secrets_are_found_and_never_shown(tmp_path):
    from hub_assets.metrics.security import scan_secrets

    value = "Zq8WmB3xT9rLk2VvN7pYc4HsJ6gF1dQe"
    (tmp_path / "train.sh").write_text(f'export API_KEY="{value}"\npython train.py\n')
    (tmp_path / "README.md").write_text("# fine\n")
    found = scan_secrets(tmp_path, ["train.sh", "README.md"])
    assert found and found[0]["path"] == "train.sh" and found[0]["line"] == 1
    result = security_verdict([], DEFAULT_SCANNER_ALLOWLIST, (), found)
    assert result.value == 0.0 and "train.sh line 1" in result.reason
    assert value not in result.reason and value not in str(result.details)
    assert value not in str(result.inputs)


def test_a_gated_repo_without_access_is_not_scanned_and_fails_closed(hub_client, tmp_path):
    gated = evidence(hub_client, f"{ORG}/tiny-gpt2-gated")
    scored = score_model(
        gated,
        ScoringContext(
            limits=LIMITS, client=hub_client, work_dir=tmp_path, now=NOW, run_reproducibility=False
        ),
    )
    assert scored["security"].value == 0.0
    assert scored["security"].reason.startswith("not scanned: ")
    assert "gated" in scored["security"].reason.lower()
