"""`make test-scale`: the deployment of docs/deployment.md, for real, on one machine.

A real PostgreSQL holds the Dagster instance (deploy/dagster.yaml, unchanged) and the shared
registry; a real Redis is the Celery broker; two Celery workers (4 processes each) execute
every step; the Dagster daemon runs the queue and the candidate sensor. The per-model
pipeline runs for the demo catalog plus synthetic copies of its QA model (over 30 models),
while a backfill repeats some of the same models at the same time. Then every registry row
and every package is checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from hub_assets.devhub.catalog import Catalog
from hub_assets.devhub.process import served_catalog
from hub_assets.registry.location import registry_at

pytestmark = [pytest.mark.scale, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SYNTHETIC_COPIES = 12  # with the demo catalog's candidates: over 30 models
COPIED = "hub-assets-demo/tiny-bert-qa"
POOLS = ("model_runs", "packaging", "registry")  # the op pools of hub_assets/defs
WORKERS, PROCESSES_PER_WORKER = ("w1", "w2"), 4
WORKER_PROCESSES = len(WORKERS) * PROCESSES_PER_WORKER
TERMINAL = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


def scale_catalog(demo: Path, out: Path, copies: int) -> list[str]:
    """The demo catalog plus `copies` synthetic models: the QA model's files under new
    names (blobs shared through hard links, so nothing is copied)."""
    shutil.copytree(demo, out, copy_function=os.link)
    catalog = Catalog(out)
    source = catalog.repo("model", COPIED)
    head = source.resolve("main")
    names = []
    for i in range(copies):
        name = f"synthetic-scale/qa-copy-{i:02d}"
        catalog.commit(
            "model",
            name,
            dict(head.files),
            authors=["scale-bot"],
            title=f"copy {i} of {COPIED}",
            meta=dict(source.meta),
        )
        names.append(name)
    return names


def _spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    out = open(log, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _dagster(env: dict, *args: str) -> None:
    """The `dagster` command, as an operator types it; it must succeed."""
    done = subprocess.run(
        [str(BIN / "dagster"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _kill_leftovers(home: Path) -> list[int]:
    """Kill any process still running against this DAGSTER_HOME (a run process the daemon's
    code server spawned outlives them); the pids killed."""
    marker = f"DAGSTER_HOME={home}".encode()
    killed = []
    for proc in Path("/proc").glob("[0-9]*"):
        if proc.name == str(os.getpid()):
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return killed


def _wait_for_runs(instance: dg.DagsterInstance, at_least: int, timeout_s: float) -> list:
    """The per-model runs once `at_least` of them exist and all have ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs(dg.RunsFilter(job_name="model_pipeline_job"))
        if len(runs) >= at_least and all(r.status in TERMINAL for r in runs):
            return runs
        time.sleep(5)
    states = {}
    for r in instance.get_runs(dg.RunsFilter(job_name="model_pipeline_job")):
        states[r.status.value] = states.get(r.status.value, 0) + 1
    raise AssertionError(f"per-model runs did not all end in {timeout_s:.0f}s: {states}")


def _tasks_per_worker(broker: str) -> dict[str, int]:
    """How many step tasks each running Celery worker has executed."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app

    app = make_app(CeleryExecutor.for_cli(broker=broker, backend=broker).app_args())
    stats = app.control.inspect(timeout=5).stats() or {}
    return {name.split("@")[0]: sum(s.get("total", {}).values()) for name, s in stats.items()}


def _kill_a_packaging_step(broker: str, registry_url: str, timeout_s: float) -> str:
    """SIGKILL the worker process of a packaging step while it holds its package claim
    (between claiming the name and recording the package: mid-write); the run id."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app

    app = make_app(CeleryExecutor.for_cli(broker=broker, backend=broker).app_args())
    registry = registry_at(registry_url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with registry.read() as con:
            claims = {r[0] for r in con.execute("SELECT run_id FROM package_claims").fetchall()}
        if claims:
            for tasks in (app.control.inspect(timeout=2).active() or {}).values():
                for task in tasks:
                    args = json.dumps([task.get("args"), task.get("kwargs")])
                    run = next((c for c in claims if c in args), None)
                    if run is not None and "ingested_package" in args:
                        os.kill(task["worker_pid"], signal.SIGKILL)
                        return run
        time.sleep(0.2)
    raise AssertionError("no packaging step was seen holding its claim")


def test_the_pipeline_on_postgres_with_celery_workers(
    tmp_path, demo_catalog, postgres_server, redis_server, monkeypatch
):
    copies = scale_catalog(demo_catalog, tmp_path / "hub", SYNTHETIC_COPIES)
    dagster_db = postgres_server.create_database("dagster")
    registry_url = postgres_server.create_database("registry")
    home = tmp_path / "dagster_home"
    home.mkdir()
    # deploy/dagster.yaml as shipped, but for the per-model lane: a run holds its process
    # (~650 MB) while it waits for its steps, and eight runs keep the eight worker processes
    # busy, so this 24 GiB machine holds eight at once rather than sixteen
    instance = (REPO / "deploy" / "dagster.yaml").read_text()
    per_model = "        value: per_model\n        limit: 16\n"
    assert per_model in instance
    (home / "dagster.yaml").write_text(
        instance.replace(per_model, per_model.replace("16", str(WORKER_PROCESSES)))
    )
    store = tmp_path / "packages"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_USER": "hub",
        "DAGSTER_PG_PASSWORD": "",
        "DAGSTER_PG_DB": dagster_db.rsplit("/", 1)[1],
        "HUB_ASSETS_EXECUTOR": "celery",
        "HUB_ASSETS_CELERY_BROKER": redis_server.url(0),
        "HUB_ASSETS_CELERY_BACKEND": redis_server.url(1),
        "HUB_ASSETS_REGISTRY": registry_url,
        "HUB_ASSETS_PACKAGE_STORE": str(store),
        "HUB_ASSETS_CACHE_DIR": str(tmp_path / "cache"),
        "HUB_ASSETS_WORK_DIR": str(tmp_path / "work"),
        "HUB_ASSETS_EVAL_CACHE_DIR": str(tmp_path / "eval"),
        # what `make demo` turns on: the demo catalog's GGUF and adapter repos, and no
        # client-side quota on the development Hub's inference API
        "HUB_ASSETS_LIBRARIES": "transformers,sentence-transformers,gguf,peft",
        "HUB_ASSETS_WEIGHT_FORMATS": "safetensors,gguf",
        "HUB_ASSETS_INFERENCE_API_PER_MINUTE": "0",
        "HUB_ASSETS_INFERENCE_API_PER_HOUR": "0",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    procs = []
    with served_catalog(tmp_path / "hub") as endpoint:
        env["HUB_ASSETS_HUB_ENDPOINT"] = endpoint
        try:
            # the instance's tables first, once (as docs/deployment.md says), then everyone
            _dagster(env, "instance", "migrate")
            for pool in POOLS:  # each pool's limit set once, before runs race to create it
                _dagster(env, "instance", "concurrency", "set", pool, "8")
            for name in WORKERS:  # two workers, four processes each
                procs.append(
                    _spawn(
                        [
                            str(BIN / "celery"),
                            "-A",
                            "hub_assets.defs.celery_worker",
                            "worker",
                            "-Q",
                            "dagster",
                            "--concurrency",
                            str(PROCESSES_PER_WORKER),
                            "--prefetch-multiplier",
                            "1",
                            "-n",
                            f"{name}@%h",
                            "--loglevel",
                            "WARNING",
                        ],  # fmt: skip
                        env,
                        tmp_path / f"celery-{name}.log",
                    )
                )
            procs.append(
                _spawn(
                    [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
                    env,
                    tmp_path / "daemon.log",
                )
            )
            _dagster(env, "job", "launch", "-j", "main_job", "-w", str(REPO / "workspace.yaml"))
            for key in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER",
                        "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):  # fmt: skip
                monkeypatch.setenv(key, env[key])
            with dg.DagsterInstance.get() as instance:
                # the sensor adds a partition and asks for a run per candidate
                deadline = time.monotonic() + 600
                while len(instance.get_dynamic_partitions("hf_models")) < 30:
                    assert time.monotonic() < deadline, "the candidate sensor added too few"
                    time.sleep(5)
                models = sorted(instance.get_dynamic_partitions("hf_models"))
                assert set(copies) <= set(models)
                # meanwhile, repeat some of the same models: two runs of each at once
                repeated = [m for m in models if m.startswith("synthetic-scale/")][:6]
                repeated += ["sentence-transformers/all-MiniLM-L6-v2", COPIED]
                _dagster(
                    env, "job", "backfill", "-j", "model_pipeline_job",
                    "-w", str(REPO / "workspace.yaml"), "--partitions", ",".join(repeated),
                    "--noprompt",
                )  # fmt: skip
                # a worker process dies mid-write: its step runs again, the run completes
                killed = _kill_a_packaging_step(
                    env["HUB_ASSETS_CELERY_BROKER"], registry_url, timeout_s=1200
                )
                runs = _wait_for_runs(instance, len(models) + len(repeated), timeout_s=2400)
                killed_starts = [
                    e
                    for e in instance.all_logs(killed, of_type=dg.DagsterEventType.STEP_START)
                    if e.step_key == "ingested_package"
                ]
            tasks = _tasks_per_worker(env["HUB_ASSETS_CELERY_BROKER"])
        finally:
            for proc in procs:
                _stop(proc)
            _kill_leftovers(home)
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("*.log"))

    # the broker's URL is in no stored run config: the executor names its variable
    assert not [r.run_id for r in runs if "redis://" in json.dumps(r.run_config)]
    # both workers executed steps: every run's steps went through the broker
    assert set(tasks) == set(WORKERS) and min(tasks.values()) > 0, (tasks, logs)
    assert sum(tasks.values()) >= len(runs), (tasks, logs)

    registry = registry_at(registry_url)
    with registry.read() as con:
        one = con.execute
        # every candidate got a gate decision for its current revision, once per run
        undecided = one(
            "SELECT c.model_id FROM v_candidates c LEFT JOIN v_gate g "
            "ON g.model_id = c.model_id AND g.revision_sha = c.sha WHERE g.passed IS NULL"
        ).fetchall()
        assert undecided == [], logs
        passed = {r[0] for r in one("SELECT model_id FROM v_gate WHERE passed").fetchall()}
        assert set(copies) <= passed  # copies of a passing model pass
        # every passing model was packaged once per revision: no duplicate (name, version),
        # even where two runs of the same model ran at once
        packages = one(
            "SELECT model_id, name, version, uri, sha256, size_bytes FROM packages"
        ).fetchall()
        assert {p[0] for p in packages} == passed
        assert len({(p[1], p[2]) for p in packages}) == len(packages)
        assert len({p[0] for p in packages}) == len(packages)
        # every metric value keeps its lineage: a run of this instance that succeeded
        lineage = one(
            "SELECT count(*) FROM metric_values WHERE run_id IS NULL "
            "OR inputs_fingerprint IS NULL OR code_version IS NULL"
        ).fetchone()
        assert lineage == (0,)
        metric_runs = {r[0] for r in one("SELECT DISTINCT run_id FROM metric_values").fetchall()}
    run_ids = {r.run_id for r in runs}
    assert metric_runs <= run_ids
    # the run whose packaging step was killed mid-write ran that step again and succeeded,
    # leaving no claim and no partial file behind
    assert len(killed_starts) == 2, killed_starts
    assert next(r for r in runs if r.run_id == killed).status == dg.DagsterRunStatus.SUCCESS
    assert not list(store.rglob("*.partial")), list(store.rglob("*.partial"))
    with registry.read() as con:
        assert con.execute("SELECT count(*) FROM package_claims").fetchone() == (0,)
    # every package in the store is the bytes the registry names
    for model_id, _name, _version, uri, sha256, size in packages:
        path = Path(uri.removeprefix("file://"))
        assert path.stat().st_size == size, model_id
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256, model_id
    # no run failed: a rejection is a verdict (the run succeeds and carries it)
    failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
    assert not failed, [json.dumps(r.tags) for r in failed]
    rejected = [r for r in runs if r.tags.get("hub_assets/verdict") == "failed"]
    assert all(r.tags.get("dagster/partition") not in passed for r in rejected)
    print(
        f"\nscale: {len(models)} models, {len(runs)} per-model runs ({len(rejected)} rejected "
        f"by the gate), {len(packages)} packages, steps per worker {tasks}; run {killed[:8]}'s "
        "packaging step was killed mid-write and ran again"
    )
