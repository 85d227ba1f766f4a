"""The mirror's access log: every request the real clients make is kept, and `usage`
answers who pulled what and who was refused what."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from hub_assets.cli import main
from hub_assets.devhub.demo_cases import MINILM, QA_MODEL
from hub_assets.hub_protocol.exchange import AccessRecord
from hub_assets.mirror.access_log import MAX_TEXT, RegistryAccessLog
from hub_assets.packaging.store import PackageStore
from hub_assets.pipeline.identity import Identity
from hub_assets.pipeline.usage import since_of, usage_report
from hub_assets.registry.store import Registry
from hub_assets_tests.mirror.conftest import FAILING, copy_of, serving, sha_of

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mirror")]


def test_who_pulled_what_and_who_was_refused_why(world, tmp_path, monkeypatch):
    registry = copy_of(world, tmp_path)
    identity = Identity(registry)
    identity.add_user("alice", ["read"], password="a long enough password")
    token = identity.create_token("alice", "mirror", None).token
    qa_sha, minilm_sha = sha_of(registry, QA_MODEL), sha_of(registry, MINILM)
    with serving(registry, PackageStore(str(tmp_path / "packages")), logged=True) as server:
        folder = Path(
            snapshot_download(
                QA_MODEL, endpoint=server.url, token=token, cache_dir=tmp_path / "alice"
            )
        )
        config = hf_hub_download(
            MINILM, "config.json", endpoint=server.url, token=False, cache_dir=tmp_path / "anon"
        )
        with pytest.raises(GatedRepoError, match="failed the quality gate"):
            hf_hub_download(
                FAILING, "config.json", endpoint=server.url, token=token, cache_dir=tmp_path / "f"
            )
        with pytest.raises(GatedRepoError, match="not approved"):
            hf_hub_download(
                QA_MODEL,
                "config.json",
                revision="0" * 40,
                endpoint=server.url,
                token=token,
                cache_dir=tmp_path / "old",
            )
        with pytest.raises(RepositoryNotFoundError):
            HfApi(endpoint=server.url, token=False).model_info("nobody/nothing")
    # stopping the mirror wrote what its access log had queued

    report = usage_report(registry)
    downloads = {(d["caller"], d["model_id"]): d for d in report["downloads"]}
    assert set(downloads) == {("alice", QA_MODEL), ("anonymous", MINILM)}
    files = [p for p in folder.rglob("*") if p.is_file()]
    alice = downloads["alice", QA_MODEL]
    assert alice["revision_sha"] == qa_sha
    assert alice["files"] == len(files) == alice["downloads"]
    assert alice["bytes"] == sum(p.stat().st_size for p in files)
    anonymous = downloads["anonymous", MINILM]
    assert anonymous["revision_sha"] == minilm_sha and anonymous["files"] == 1
    assert anonymous["bytes"] == Path(config).stat().st_size

    refused = {(r["caller"], r["model_id"], r["refusal"]): r for r in report["refusals"]}
    assert refused["alice", FAILING, "gate_failed"]["status"] == 403
    assert refused["alice", QA_MODEL, "revision_not_approved"]["revision"] == "0" * 40
    assert refused["anonymous", "nobody/nothing", "repo_not_found"]["status"] == 404

    # the filters
    only_minilm = usage_report(registry, model_id=MINILM.upper())
    assert [d["caller"] for d in only_minilm["downloads"]] == ["anonymous"]
    assert only_minilm["refusals"] == []
    assert {d["model_id"] for d in usage_report(registry, caller="alice")["downloads"]} == {
        QA_MODEL
    }
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert usage_report(registry, since=tomorrow)["downloads"] == []

    # the command
    monkeypatch.setenv("HUB_ASSETS_REGISTRY", str(registry.path))
    shown = CliRunner().invoke(main, ["usage", "--model", QA_MODEL, "--since", "1h"])
    assert shown.exit_code == 0, shown.output
    assert "alice" in shown.output and qa_sha[:12] in shown.output
    assert "revision_not_approved" in shown.output and MINILM not in shown.output
    as_json = CliRunner().invoke(main, ["usage", "--caller", "anonymous", "--format", "json"])
    assert json.loads(as_json.output)["downloads"][0]["model_id"] == MINILM
    bad = CliRunner().invoke(main, ["usage", "--since", "last tuesday"])
    assert bad.exit_code == 2 and "30m, 24h, 7d, 2w" in bad.output


def test_since_takes_durations_ago_and_iso_times():
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert since_of("30m", now) == now - timedelta(minutes=30)
    assert since_of("7d", now) == now - timedelta(days=7)
    assert since_of("2W", now) == now - timedelta(weeks=2)
    assert since_of("2026-12-01", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert since_of("2026-12-01T08:00:00+01:00", now).utcoffset() == timedelta(hours=1)
    for bad in ("", "7", "d7", "1y", "yesterday", "9999999d"):
        with pytest.raises(ValueError, match="not a time"):
            since_of(bad, now)


def _record(n: int, path: str = "config.json") -> AccessRecord:
    return AccessRecord(
        at=1_700_000_000.0 + n,
        caller=None,
        method="GET",
        route="resolve",
        repo_id="org/model",
        revision="main",
        sha="a" * 40,
        path=path,
        status=200,
        bytes=10,
        refusal=None,
        client="127.0.0.1",
    )


def test_a_registry_that_cannot_be_written_keeps_the_records_until_it_can(tmp_path):
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the registry's folder should be")
    registry = Registry(blocked / "registry.duckdb")
    log = RegistryAccessLog(registry, flush_s=3600, capacity=5)
    for n in range(7):
        log.record(_record(n, path="x" * (MAX_TEXT + 100) if n == 0 else "config.json"))
    assert log.dropped == 2  # past the capacity: dropped and counted, never blocking
    assert log.flush() == 0 and log.dropped == 2  # the registry failed: all five kept
    blocked.unlink()
    blocked.mkdir()
    assert log.flush() == 5
    log.close()
    with registry.read() as con:
        rows = con.execute("SELECT path FROM mirror_requests ORDER BY requested_at").fetchall()
    assert len(rows) == 5 and len(rows[0][0]) == MAX_TEXT + 1  # a long text is cut
