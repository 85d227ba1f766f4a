"""Judging a packaged revision again: a pass keeps its status past the gate (ingested,
promoted), a fail is shown."""

from hub_assets.devhub.demo_catalog import ORG
from hub_assets.gate.config import load_gate_config
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.gate import gate_revision
from hub_assets.pipeline.ingest import ingest_model
from hub_assets.registry import metrics as reg_metrics
from hub_assets.registry.models import append_status, current_status

MODEL = f"{ORG}/tiny-gpt2-complete"


def test_a_packaged_revision_judged_again_keeps_its_status_unless_it_fails(
    hub_client, gated_registry, tmp_path
):
    registry = gated_registry(MODEL)
    store = PackageStore(str(tmp_path / "packages"))
    result = ingest_model(hub_client, registry, store, MODEL, run_id="r", work_dir=tmp_path)
    sha = result.revision
    config = load_gate_config()
    with registry.read() as con:
        assert current_status(con, MODEL) == ("ingested", sha)
    assert gate_revision(registry, MODEL, config, "again").decision.passed
    with registry.write() as con:
        assert current_status(con, MODEL) == ("ingested", sha)
        append_status(con, MODEL, "promoted", run_id="p", revision_sha=sha)
    gate_revision(registry, MODEL, config, "nightly")
    with registry.read() as con:
        assert current_status(con, MODEL) == ("promoted", sha)
    # a new value that fails: the approved revision is revoked, with the cause
    with registry.write() as con:
        row = {"metric": "bus_factor", "value": 0.1, "latency_ms": 1.0}
        row |= {"inputs_fingerprint": "g", "code_version": "test", "details": None}
        reg_metrics.write_metrics(con, MODEL, sha, [row], "rescored")
    assert not gate_revision(registry, MODEL, config, "rescored").decision.passed
    with registry.read() as con:
        assert current_status(con, MODEL) == ("revoked", sha)
        [why] = con.execute(
            "SELECT reason FROM model_status_events WHERE status = 'revoked'"
        ).fetchone()
    assert why.startswith("its scores changed and it fails gate") and "Bus Factor" in why
