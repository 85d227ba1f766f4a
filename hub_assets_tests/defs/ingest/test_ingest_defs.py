"""Ad-hoc ingestion through Dagster: the request sensor, the asset, the `ingest` command."""

import csv
import io
import json

import dagster as dg
import pytest
from click.testing import CliRunner

from hub_assets.cli import main
from hub_assets.definitions import defs
from hub_assets.defs.ingest.assets import ingested_package
from hub_assets.defs.ingest.sensors import ingest_request_sensor
from hub_assets.devhub.demo_catalog import ORG, QA_MODEL
from hub_assets.registry import packages as reg_packages
from hub_assets.resources import PipelineResource
from hub_assets_tests.conftest import pipeline_env
from hub_assets_tests.pipeline_resource import pipeline_resources


def test_request_sensor_requests_a_configured_run(registry):
    registry.ensure_schema()
    with registry.write() as con:
        first = reg_packages.add_request(con, f"{ORG}/tiny-t5-qa", "2.1.0", "for QA")
        second = reg_packages.add_request(con, "acme/new-model", "", None)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("hf_models", [f"{ORG}/tiny-t5-qa"])
        with dg.build_sensor_context(
            instance_ref=instance.get_ref(),
            definitions=defs,
            resources={"pipeline": PipelineResource.of(registry=registry.location)},
        ) as ctx:
            result = ingest_request_sensor.evaluate_tick(ctx)
    a, b = result.run_requests
    assert a.partition_key == f"{ORG}/tiny-t5-qa" and a.run_key == f"ingest-request-{first}"
    assert a.run_config["ops"]["ingested_package"]["config"] == {
        "version": "2.1.0",
        "description": "for QA",
        "request_id": first,
    }
    assert b.run_config["ops"]["ingested_package"]["config"]["version"] is None
    assert a.tags["hub_assets/ingest_request"] == str(first)
    [add] = result.dynamic_partitions_requests
    assert list(add.partition_keys) == ["acme/new-model"]
    assert result.cursor == str(second)


def test_ingested_package_is_idempotent_per_revision(hub_server, gated_registry, tmp_path):
    model = f"{ORG}/tiny-gpt2-complete"
    registry = gated_registry(model)
    resources = pipeline_resources(hub_server.url, registry, tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", [model])
        first = dg.materialize(
            [ingested_package], partition_key=model, instance=instance, resources=resources
        )
        meta = first.asset_materializations_for_node("ingested_package")[0].metadata
        assert meta["outcome"].value == "ingested" and meta["version"].value == "1.0.0"
        again = dg.materialize(
            [ingested_package], partition_key=model, instance=instance, resources=resources
        )
        assert (
            again.asset_materializations_for_node("ingested_package")[0].metadata["outcome"].value
            == "already packaged"
        )
        refused = dg.materialize(
            [ingested_package],
            partition_key=model,
            instance=instance,
            resources=resources,
            run_config={
                "ops": {"ingested_package": {"config": {"version": "1.0.0", "request_id": None}}}
            },
            raise_on_error=False,
        )
        assert refused.success  # same revision, same version: nothing to do
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM packages").fetchone() == (1,)


@pytest.fixture
def cli_env(hub_server, registry, tmp_path):
    """`pipeline_env` on the demo Hub."""
    with pipeline_env(hub_server.url, registry, tmp_path):
        yield


@pytest.mark.slow
def test_ingest_wait_outcomes_and_exit_codes(cli_env, registry):
    runner = CliRunner()
    ok = runner.invoke(main, ["ingest", QA_MODEL, "--wait"])
    assert ok.exit_code == 0, ok.output
    assert "version:    1.0.0" in ok.stdout and "uri:" in ok.stdout and "net_score:" in ok.stdout
    assert "reproducibility=1.00" in ok.stdout
    again = runner.invoke(main, ["ingest", QA_MODEL, "--wait"])  # idempotent
    assert again.exit_code == 0 and "Already packaged as" in again.output
    assert "version:    1.0.0" in again.stdout
    # its evaluation, sample by sample, without SQL
    listed = runner.invoke(main, ["samples", QA_MODEL, "--worst", "3", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    shown = json.loads(listed.stdout)
    assert shown["task"] == "qa" and shown["metric"] == "f1" and shown["total"] >= 3
    scores = [r["score"] for r in shown["rows"]]
    assert len(scores) == 3 and scores == sorted(scores)
    assert all("[context: " in r["input"] and r["reference"] for r in shown["rows"])
    as_csv = runner.invoke(main, ["samples", QA_MODEL, "--worst", "0", "--format", "csv"])
    assert as_csv.stdout.splitlines()[0] == "sample_id,score,input,reference,prediction,error"
    assert len(list(csv.DictReader(io.StringIO(as_csv.stdout)))) == shown["total"]
    as_table = runner.invoke(main, ["samples", QA_MODEL])
    assert as_table.exit_code == 0 and "lowest f1 first" in as_table.stdout
    unknown = runner.invoke(main, ["samples", "nobody/nothing"])
    assert unknown.exit_code == 3 and "nobody/nothing" in unknown.output
    other = runner.invoke(main, ["ingest", QA_MODEL, "--version", "2.0.0", "--wait"])
    assert other.exit_code == 5 and "is already packaged as" in other.output
    missing = runner.invoke(main, ["ingest", "nobody/nothing", "--wait"])
    assert missing.exit_code == 3
    assert "failed (not_found): Model 'nobody/nothing' not found on the Hub" in missing.output
    with dg.DagsterInstance.get() as instance:  # the in-process run cleans up as the daemon's
        partitions = instance.get_dynamic_partitions("hf_models")
        assert QA_MODEL in partitions and "nobody/nothing" not in partitions
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/partition": QA_MODEL}))
        # tagged as the daemon tags a sensor's runs: `make dev` later starts none of them again
        assert all(r.tags.get("dagster/run_key", "").startswith("ingest-request-") for r in runs)
        assert all(r.tags["dagster/sensor_name"] == "ingest_request_sensor" for r in runs)
    gate = runner.invoke(main, ["ingest", f"{ORG}/tiny-gpt2-stale", "--wait"])
    assert (
        gate.exit_code == 4
        and "failed (gate_failed): Model does not meet quality requirements. Failed metrics:"
        in gate.output
    )
    bad = runner.invoke(main, ["ingest", f"{ORG}/tiny-gpt2-stale", "--version", "one"])
    assert bad.exit_code == 2 and "Invalid package version 'one'" in bad.output
    with registry.read() as con:
        outcomes = [
            r[0]
            for r in con.execute(
                "SELECT outcome FROM ingest_requests ORDER BY request_id"
            ).fetchall()
        ]
    assert outcomes == [
        "ingested",
        "already_packaged",
        "already_exists",
        "not_found",
        "gate_failed",
    ]


def test_failure_sensor_records_why_a_request_failed(hub_server, registry, tmp_path):
    from hub_assets.defs.discovery.assets import model_metadata
    from hub_assets.defs.ingest.sensors import ingest_request_failure_sensor

    registry.ensure_schema()
    with registry.write() as con:
        request_id = reg_packages.add_request(con, "nobody/nothing", "", None)
    resources = pipeline_resources(hub_server.url, registry, tmp_path)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("hf_models", ["nobody/nothing"])
        failed = dg.materialize(
            [model_metadata],
            partition_key="nobody/nothing",
            instance=instance,
            resources=resources,
            raise_on_error=False,
            tags={"hub_assets/ingest_request": str(request_id)},
        )
        assert not failed.success
        run = instance.get_run_by_id(failed.run_id)
        failure = next(
            entry.dagster_event
            for entry in instance.all_logs(failed.run_id)
            if entry.dagster_event_type == dg.DagsterEventType.RUN_FAILURE
        )
        context = dg.build_run_status_sensor_context(
            sensor_name=ingest_request_failure_sensor.name,
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=run,
            resources={"pipeline": PipelineResource.of(registry=registry.location)},
        ).for_run_failure()
        ingest_request_failure_sensor(context)
        # an id the Hub does not know leaves no (red) partition behind
        assert "nobody/nothing" not in instance.get_dynamic_partitions("hf_models")
    with registry.read() as con:
        row = reg_packages.get_request(con, request_id)
    assert (row["status"], row["outcome"]) == ("failed", "not_found")
    assert row["message"].startswith("Model 'nobody/nothing' not found on the Hub at http")
    assert "Error" not in row["message"]  # in words, no class paths
    assert row["run_id"] == failed.run_id


@pytest.mark.slow
def test_each_file_is_fetched_once_across_every_stage(cli_env, hub_server):
    """Scan, reproducibility, shadow evaluation and packaging read one verified snapshot."""
    hub_server.reset_requests()
    ok = CliRunner().invoke(main, ["ingest", QA_MODEL, "--wait"])
    assert ok.exit_code == 0, ok.output
    fetched = {
        k.removeprefix(f"GET file {QA_MODEL}:"): n
        for k, n in hub_server.requests.items()
        if k.startswith(f"GET file {QA_MODEL}:")
    }
    assert fetched["model.safetensors"] == 1 and fetched["tokenizer.json"] >= 1
    # the card and config are also read once for metadata (verified, in memory);
    # every weight and tokenizer file crosses the wire once for the whole pipeline
    assert all(n == 1 for p, n in fetched.items() if p not in ("README.md", "config.json")), fetched
    # the weights' header is read once by range (hardware fit), cached by sha thereafter
    assert hub_server.requests[f"GET range {QA_MODEL}:model.safetensors"] == 1


@pytest.fixture
def corrupt_hub(tmp_path, demo_catalog):
    """A Hub whose model serves weights that differ from their advertised LFS sha256."""
    from hub_assets.devhub.catalog import Catalog
    from hub_assets.devhub.server import HubServer

    demo = Catalog(demo_catalog)
    head = demo.repo("model", QA_MODEL).head
    catalog = Catalog(tmp_path / "evil-catalog")
    catalog.commit(
        "model",
        "evil/corrupt",
        {p: demo.blob_path(f.sha256) for p, f in head.files.items()},
        authors=["eve"],
        title="upload",
        meta={"pipeline_tag": "text-classification", "library_name": "transformers"},
    )
    weights = catalog.repo("model", "evil/corrupt").head.files["model.safetensors"]
    blob = catalog.blob_path(weights.sha256)
    data = bytearray(blob.read_bytes())
    data[-100:] = b"\x07" * 100  # same size, other bytes
    blob.unlink()  # never write through to a shared copy
    blob.write_bytes(bytes(data))
    with HubServer(catalog) as server:
        yield server


def test_corrupted_weights_are_never_run(corrupt_hub, registry, tmp_path, caplog):
    import logging

    with (
        pipeline_env(corrupt_hub.url, registry, tmp_path),
        caplog.at_level(logging.INFO, logger="hub_assets"),
    ):
        got = CliRunner().invoke(main, ["ingest", "evil/corrupt", "--wait"])
    assert got.exit_code == 8, got.output
    assert "failed (checksum_mismatch): model.safetensors of evil/corrupt@" in got.output
    assert "expected " in got.output and ", got " in got.output  # both hashes
    assert "Error:" not in got.output.split("failed (checksum_mismatch)")[1]  # no class paths
    assert not [r for r in caplog.records if "reproducibility child started" in r.getMessage()]
    assert corrupt_hub.requests["GET file evil/corrupt:model.safetensors"] == 2  # one refetch
    snapshots = list((tmp_path / "work" / "snapshots").glob("evil--corrupt@*"))
    assert snapshots and not list(snapshots[0].rglob("model.safetensors*"))
    with registry.read() as con:
        scored = con.execute(
            "SELECT metric FROM metric_values WHERE model_id = 'evil/corrupt'"
        ).fetchall()
    # the security verdict was made on the files it read (the weights' headers by range);
    # the weights themselves failed verification, so nothing ran
    assert "reproducibility" not in {m for (m,) in scored}
